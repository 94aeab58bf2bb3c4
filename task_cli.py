"""The command line: `python assignment.py` on a laptop, in AWS Batch, or anywhere the environment configures a task.

It parses options, chooses the runtime, runs or checks the task, and turns the
outcome into an exit status. The object model lives in task.py.
"""

from __future__ import annotations

import json
import os
import sys

from task import (
    AWS_BATCH_JOB_ID,
    TASK_CONFIG_DB,
    TASK_CONFIG_FILE,
    TASK_CONFIG_KEY,
    TASK_CONFIG_TABLE,
    BatchTask,
    ConfigError,
    EnvTask,
    LocalTask,
    Task,
    runnable,
)

TYPE_CHECKING = False
if TYPE_CHECKING:
    import argparse
    from collections.abc import Mapping, Sequence
    from typing import ClassVar, NoReturn, Protocol

    class BusinessTask(Protocol):
        """What run_command_line needs of a business mixin."""

        name: ClassVar[str]


__all__ = ["EXIT_CONFIG_ERROR", "EXIT_FAILURE", "EXIT_OK", "EXIT_TERMINATED", "run_command_line"]

#: Exit statuses of the command line.
EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_CONFIG_ERROR = 2
EXIT_TERMINATED = 128 + 15  # the shell's convention for "killed by SIGTERM"

_COMMAND_LINE_RUNTIMES: dict[str, type[Task]] = {
    "local": LocalTask,
    "batch": BatchTask,
    "env": EnvTask,
}

# option name -> (the runtime it belongs to, the runtime's constructor keyword)
_RUNTIME_OPTIONS = {
    "config": ("local", "config_path"),
    "db": ("batch", "db_path"),
    "key": ("batch", "key"),
    "table": ("batch", "table"),
    "prefix": ("env", "prefix"),
}


class _Terminated(BaseException):
    """Raised in the main thread on SIGTERM; a BaseException, so that the
    business logic's `except Exception` does not swallow it, while its
    `finally` blocks run."""


def run_command_line(
    business: type[BusinessTask],
    argv: Sequence[str] | None = None,
    *,
    environ: Mapping[str, str] | None = None,
) -> int:
    """Run a business mixin from the command line and return the exit status.

    Prints the result as one line of JSON (or, with --check, a report) on
    standard output, and logs on standard error. Exit status: 0 done, 2 a
    configuration or usage error, 1 any other failure, 143 on SIGTERM.
    """
    import logging
    import signal

    environ = os.environ if environ is None else environ
    parser = _argument_parser(business)
    try:
        args = parser.parse_args(argv)
        runtime, reason = _choose_runtime(args.runtime, environ)
        misplaced = [
            f"--{option} is for the {owner} runtime"
            for option, (owner, _) in _RUNTIME_OPTIONS.items()
            if getattr(args, option) is not None and owner != runtime
        ]
        if misplaced:
            parser.error(f"runtime is {runtime} ({reason}); {'; '.join(misplaced)}")
    except SystemExit as exit_request:  # argparse ends --help (0) and usage errors (2) this way
        return EXIT_OK if exit_request.code in (0, None) else EXIT_CONFIG_ERROR
    keywords = {
        keyword: getattr(args, option)
        for option, (owner, keyword) in _RUNTIME_OPTIONS.items()
        if owner == runtime and getattr(args, option) is not None
    }
    task: Task = runnable(business, _COMMAND_LINE_RUNTIMES[runtime])(**keywords, environ=environ)
    # The library itself does not log, so that neither a Lambda invocation nor a
    # Batch lookup pays for importing logging; the command line says what it did.
    logging.basicConfig(
        level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    previous_handler = signal.signal(signal.SIGTERM, _raise_terminated)
    try:
        return _run_and_report(task, parser.prog, reason, check=args.check)
    finally:
        signal.signal(signal.SIGTERM, previous_handler)


def _run_and_report(task: Task, prog: str, reason: str, *, check: bool) -> int:
    """Run or check the task, print what it gives, and say how it ended as an exit status."""
    import logging

    logger = logging.getLogger(__name__)
    try:
        if check:
            report = task.check()
            print(report.render(reason))
            if not report.ok:
                print(
                    f"{prog}: configuration error: {ConfigError(report.source, report.problems)}",
                    file=sys.stderr,
                )
            return EXIT_OK if report.ok else EXIT_CONFIG_ERROR
        result = json.dumps(task.run())
        source = task.describe_source()
        logger.info("%s: done; %s runtime because %s; source: %s", task.name, task.runtime, reason, source)
        print(result)
        return EXIT_OK
    except ConfigError as error:
        print(f"{prog}: configuration error: {error}", file=sys.stderr)
        return EXIT_CONFIG_ERROR
    except _Terminated:
        logger.warning("%s: stopped by SIGTERM", task.name)
        return EXIT_TERMINATED
    except Exception:
        logger.exception("%s: failed", task.name)
        return EXIT_FAILURE


def _argument_parser(business: type[BusinessTask]) -> argparse.ArgumentParser:
    import argparse

    parser = argparse.ArgumentParser(
        description=f"Run the {business.name} task. Runtime: --runtime, else batch when "
        f"{AWS_BATCH_JOB_ID} is set, else local.",
    )
    parser.add_argument(
        "--runtime", choices=list(_COMMAND_LINE_RUNTIMES), help="where the parameters come from"
    )
    parser.add_argument(
        "--config", metavar="PATH", help=f"local: the JSON file (default: ${TASK_CONFIG_FILE})"
    )
    parser.add_argument("--db", metavar="PATH", help=f"batch: the TinyDB file (default: ${TASK_CONFIG_DB})")
    parser.add_argument(
        "--key", help=f"batch: the document's key (default: ${TASK_CONFIG_KEY}, else {business.name!r})"
    )
    parser.add_argument(
        "--table", metavar="T", help=f"batch: the table (default: ${TASK_CONFIG_TABLE}, else TinyDB's)"
    )
    parser.add_argument(
        "--prefix", metavar="P", help=f"env: the variables' prefix (default: {business.name.upper()}_)"
    )
    parser.add_argument("--check", action="store_true", help="validate the parameters and report; do not run")
    return parser


def _choose_runtime(requested: str | None, environ: Mapping[str, str]) -> tuple[str, str]:
    """Return the runtime and, for a person, why it was chosen."""
    if requested is not None:
        return requested, f"--runtime {requested} was given"
    if environ.get(AWS_BATCH_JOB_ID):
        return "batch", f"{AWS_BATCH_JOB_ID} is set"
    return "local", f"--runtime was not given and {AWS_BATCH_JOB_ID} is not set"


def _raise_terminated(signum: int, frame: object) -> NoReturn:
    raise _Terminated
