"""The command line's process: the signals that stop a run, and standard output, which may not take
what is written to it (closed, full, or a pipe whose reader has gone), nor every character.

task_cli uses these for the length of one call and puts everything back after it.
"""

from __future__ import annotations

import contextlib
import io
import os
import signal
import sys
import threading

from task import Stopped

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterator
    from typing import NoReturn

__all__ = [
    "EXIT_INTERRUPTED",
    "EXIT_TERMINATED",
    "Interrupted",
    "OutputError",
    "Terminated",
    "print_line",
    "printing_any_text",
    "stopping_on_signals",
]

EXIT_TERMINATED = 128 + 15  # the shell's convention for "killed by SIGTERM"
EXIT_INTERRUPTED = 128 + 2  # and for "killed by SIGINT" (Ctrl-C)


class Terminated(Stopped):
    """Raised in the main thread on SIGTERM: the run stops after its `finally` blocks."""

    exit_status = EXIT_TERMINATED


class Interrupted(Stopped):
    """Raised in the main thread on SIGINT (Ctrl-C), instead of KeyboardInterrupt: the run stops
    as on SIGTERM, and a KeyboardInterrupt the business logic raises is just its failure."""

    exit_status = EXIT_INTERRUPTED


class OutputError(Exception):
    """Standard output could not take the result or report: closed, full, or a pipe nobody reads."""


def print_line(what: str, text: str) -> None:
    """Print a line on standard output, flushed, so that a failure to write it is known here:
    OutputError when it was not written (`what` names it for the message)."""
    if sys.stdout is None:  # the process was started with it closed: print() would drop the text
        raise OutputError(f"{what} could not be written: standard output is closed")
    try:
        print(text, flush=True)
    except (OSError, ValueError) as exc:  # ValueError: a stream closed in this process
        _discard_unwritten_output()
        reason = "the reader has gone (broken pipe)" if isinstance(exc, BrokenPipeError) else exc
        raise OutputError(f"{what} could not be written to standard output: {reason}") from None


def _discard_unwritten_output() -> None:
    """Point standard output at the null device, so that Python's last flush of what could not be
    written fails no more (it would print a traceback and change the exit status to 120)."""
    with contextlib.suppress(OSError, ValueError, AttributeError):
        null = os.open(os.devnull, os.O_WRONLY)
        os.dup2(null, sys.stdout.fileno())
        os.close(null)


@contextlib.contextmanager
def printing_any_text() -> Iterator[None]:
    """Standard output and error escape what they cannot encode, for the length of the block.

    So no text, however odd, and no locale stops a report.
    """
    changed = []
    for stream in (sys.stdout, sys.stderr):
        if isinstance(stream, io.TextIOWrapper) and stream.errors != "backslashreplace":
            changed.append((stream, stream.errors))
            stream.reconfigure(errors="backslashreplace")
    try:
        yield
    finally:
        for stream, errors in reversed(changed):
            stream.reconfigure(errors=errors)


#: What each signal that stops a run raises in the main thread.
_STOPPING_SIGNALS: dict[int, type[Terminated | Interrupted]] = {
    signal.SIGTERM: Terminated,
    signal.SIGINT: Interrupted,
}


@contextlib.contextmanager
def stopping_on_signals() -> Iterator[None]:
    """SIGTERM raises Terminated and SIGINT Interrupted for the length of the block, when it runs in
    the main thread. Python runs signal handlers there only, and refuses to install one elsewhere.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {signum: signal.signal(signum, _raise_stopped) for signum in _STOPPING_SIGNALS}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            # None: the handler was not set from Python; the default is what a process starts with.
            signal.signal(signum, signal.SIG_DFL if handler is None else handler)


def _raise_stopped(signum: int, frame: object) -> NoReturn:
    raise _STOPPING_SIGNALS[signum](f"stopped by {signal.Signals(signum).name}")
