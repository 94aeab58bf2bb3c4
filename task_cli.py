"""The command line: `python assignment.py` on a laptop, in AWS Batch, from the environment, or on an event.

It parses options, chooses the runtime, sets up logging on standard error, runs
or checks the task, and turns the outcome into an exit status. The object model
lives in task.py; each run logs its own one record there.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import os
import signal
import sys
import time
import traceback

from task import (
    AWS_BATCH_JOB_ARRAY_INDEX,
    AWS_BATCH_JOB_ID,
    TASK_CONFIG_DB,
    TASK_CONFIG_FILE,
    TASK_CONFIG_KEY,
    TASK_CONFIG_TABLE,
    TASK_LOG_FORMAT,
    TASK_LOG_LEVEL,
    BatchTask,
    ConfigError,
    EnvTask,
    LocalTask,
    explain_read_error,
    runnable,
    shown,
)

TYPE_CHECKING = False
if TYPE_CHECKING:
    import argparse
    from collections.abc import Callable, Iterator, Mapping, Sequence
    from typing import ClassVar, NoReturn, Protocol

    from task import Task
    from task_check import ArrayCheckReport, CheckReport

    class BusinessTask(Protocol):
        """What run_command_line needs of a business mixin."""

        name: ClassVar[str]

    #: A Lambda entry point: handler(event, context).
    Handler = Callable[[object, object], object]


__all__ = [
    "EXIT_CONFIG_ERROR",
    "EXIT_FAILURE",
    "EXIT_OK",
    "EXIT_TERMINATED",
    "JsonLogFormatter",
    "Terminated",
    "TextLogFormatter",
    "run_command_line",
]

#: Exit statuses of the command line.
EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_CONFIG_ERROR = 2
EXIT_TERMINATED = 128 + 15  # the shell's convention for "killed by SIGTERM"

#: The levels TASK_LOG_LEVEL may name.
_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")

_COMMAND_LINE_RUNTIMES: dict[str, type] = {"local": LocalTask, "batch": BatchTask, "env": EnvTask}

# option -> (the runtime it belongs to, the runtime's constructor keyword, if it is one)
_RUNTIME_OPTIONS = {
    "config": ("local", "config_path"),
    "db": ("batch", "db_path"),
    "key": ("batch", "key"),
    "table": ("batch", "table"),
    "prefix": ("env", "prefix"),
    "all": ("batch", None),
    "event": ("lambda", None),
}

#: The command line's own records (a check's verdict, an unreadable event file); never a unit's.
_log = logging.getLogger("task.cli")


class Terminated(BaseException):
    """Raised in the main thread on SIGTERM.

    A BaseException, so that the business logic's `except Exception` does not
    swallow it, while its `finally` blocks run.
    """


def run_command_line(
    business: type[BusinessTask],
    argv: Sequence[str] | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    handler: Handler | None = None,
) -> int:
    """Run or check a business mixin from the command line and return the exit status.

    Prints the result as one line of JSON (with --check, a report) on standard
    output and logs on standard error, through a handler on the root logger for
    the length of the call. `handler` is the Lambda entry point that --event
    calls (default: the trigger layer's handle_event). Exit status: 0 done, 2 a
    configuration or usage error, 1 any other failure, 143 on SIGTERM.
    """
    environ = os.environ if environ is None else environ
    for stream in (sys.stdout, sys.stderr):  # no text, however odd, and no locale stops a report
        if isinstance(stream, io.TextIOWrapper):
            stream.reconfigure(errors="backslashreplace")
    try:
        args = _parse(business, argv, environ)
    except SystemExit as exit_request:  # argparse ends --help (0) and usage errors (2) this way
        return EXIT_OK if exit_request.code in (0, None) else EXIT_CONFIG_ERROR
    with _logging_to_stderr(json_lines=args.json_lines, level=args.level):
        previous_handler = signal.signal(signal.SIGTERM, _raise_terminated)
        try:
            if args.event is not None:
                if args.check:
                    return _check_event(business, args.event, args.reason, environ)
                return _run_event(business, args.event, handler or _handle_event(business), environ)
            return _run_task(business, args, environ)
        except Terminated:
            return EXIT_TERMINATED  # the run's own record says it was stopped
        finally:
            signal.signal(signal.SIGTERM, previous_handler)


def _run_task(business: type[BusinessTask], args: argparse.Namespace, environ: Mapping[str, str]) -> int:
    """Run or check the task of the local, batch or env runtime."""
    keywords = {
        keyword: getattr(args, option)
        for option, (owner, keyword) in _RUNTIME_OPTIONS.items()
        if owner == args.runtime and keyword is not None and getattr(args, option) is not None
    }
    if args.all:  # every document, whatever this job's own array index
        environ = {name: value for name, value in environ.items() if name != AWS_BATCH_JOB_ARRAY_INDEX}
    task: Task = runnable(business, _COMMAND_LINE_RUNTIMES[args.runtime])(**keywords, environ=environ)
    if args.all:
        from task_check import check_every_document

        assert isinstance(task, BatchTask)  # --all is for the batch runtime only
        return _report(task.name, check_every_document(task), args.reason)
    if args.check:
        return _report(task.name, task.check(), args.reason)
    try:
        result = task.run()
    except ConfigError:
        return EXIT_CONFIG_ERROR  # run() has logged why, without a traceback
    except Exception:
        return EXIT_FAILURE  # run() has logged why, with the traceback
    return _print_json(task.name, result)


def _report(name: str, report: CheckReport | ArrayCheckReport, reason: str) -> int:
    """Print a check's report; log why it failed, in a few words, when it did."""
    print(report.render(reason))
    if report.ok:
        return EXIT_OK
    fields = {"task": name, "runtime": report.runtime, "source": report.source}
    _log.error("%s: configuration error: %s", name, ConfigError(report.source, report.problems), extra=fields)
    return EXIT_CONFIG_ERROR


def _run_event(business: type[BusinessTask], path: str, handler: Handler, environ: Mapping[str, str]) -> int:
    """Run an event file through the handler as Lambda would; the units' records give the exit status."""
    from task_testing import FakeLambdaContext

    event = _read_event(business.name, path, environ)
    if event is None:
        return EXIT_CONFIG_ERROR
    counter = _OutcomeCounter()
    task_logger = logging.getLogger("task")
    previous_level = task_logger.level
    # Whatever TASK_LOG_LEVEL hides, a failed unit's record must still reach the counter.
    task_logger.setLevel(min(logging.getLogger().getEffectiveLevel(), logging.ERROR))
    task_logger.addHandler(counter)
    raised: Exception | None = None
    try:
        result = handler(event, FakeLambdaContext(business.name))
    except Exception as error:
        raised = error
    finally:
        task_logger.removeHandler(counter)
        task_logger.setLevel(previous_level)
    outcomes = counter.outcomes
    failed = "failed" in outcomes or (raised is not None and not isinstance(raised, ConfigError))
    config_error = "config_error" in outcomes or isinstance(raised, ConfigError)
    if raised is None:
        failed = _print_json(business.name, result) == EXIT_FAILURE or failed
    elif not outcomes:  # raised before any unit ran, so no record says why yet
        if isinstance(raised, ConfigError):
            _log.error("%s: configuration error: %s", business.name, raised)
        else:
            _log.error("%s: failed: %s", business.name, shown(str(raised), limit=1000), exc_info=raised)
    return EXIT_FAILURE if failed else EXIT_CONFIG_ERROR if config_error else EXIT_OK


def _check_event(business: type[BusinessTask], path: str, reason: str, environ: Mapping[str, str]) -> int:
    """Validate every unit of work in an event file without running any, and print one report each."""
    import task_lambda

    event = _read_event(business.name, path, environ)
    if event is None:
        return EXIT_CONFIG_ERROR
    reports = task_lambda.check_event(business, event, environ=environ)
    status = EXIT_OK
    for number, (label, report) in enumerate(reports, start=1):
        if number > 1:
            print()
        print(f"Unit {number} of {len(reports)}: {shown(label, limit=200)}")
        status = max(status, _report(business.name, report, reason))
    return status


def _read_event(name: str, path: str, environ: Mapping[str, str]) -> object | None:
    """The event in a JSON file, or None when it cannot be read (and the log says why)."""
    from task_sources import decode_json, read_text_file

    try:
        return decode_json(read_text_file(path, environ))
    except (OSError, ValueError) as exc:
        error = ConfigError(f"event file {path}", [explain_read_error(exc)])
        _log.error("%s: configuration error: %s", name, error)
    except ConfigError as error:
        _log.error("%s: configuration error: %s", name, error)
    return None


def _handle_event(business: type[BusinessTask]) -> Handler:
    """The handler --event calls unless it is given one: the trigger layer, as assignment.handler uses it."""

    def handle(event: object, context: object) -> object:
        import task_lambda

        return task_lambda.handle_event(business, event, context)

    return handle


def _print_json(name: str, result: object) -> int:
    """Print a result as one line of JSON, or log that it is not JSON."""
    try:
        line = json.dumps(result)
    except (TypeError, ValueError) as exc:
        _log.error("%s: failed: the result is not JSON: %s", name, exc)
        return EXIT_FAILURE
    print(line)
    return EXIT_OK


class _OutcomeCounter(logging.Handler):
    """Collects the outcome of each unit's one record ("ok", "config_error", "failed")."""

    def __init__(self) -> None:
        super().__init__()
        self.outcomes: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        outcome = getattr(record, "outcome", None)
        if isinstance(outcome, str):
            self.outcomes.append(outcome)


# --------------------------------------------------------------------------
# Logging: readable text, or one JSON object per line as the Lambda runtime client writes them

#: What every LogRecord holds; anything else on a record came from its `extra` fields.
_STANDARD_ATTRIBUTES = frozenset(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime"}


def _extra_fields(record: logging.LogRecord) -> dict[str, object]:
    return {key: value for key, value in vars(record).items() if key not in _STANDARD_ATTRIBUTES}


class JsonLogFormatter(logging.Formatter):
    """One JSON object per record, one line, with the fields of the Lambda runtime client's JsonFormatter.

    timestamp, level, message and logger; for an exception errorType,
    errorMessage, stackTrace (a list, so a traceback stays one line) and
    location; then the record's extra fields. ASCII only, so that any locale
    prints it intact.
    """

    def format(self, record: logging.LogRecord) -> str:
        error = record.exc_info[1] if record.exc_info else None
        fields: dict[str, object] = {
            "timestamp": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(record.created)),
            "level": logging.getLevelName(min(50, max(0, record.levelno)) // 10 * 10),
            "message": record.getMessage(),
            "logger": record.name,
        }
        if error is not None:
            fields["stackTrace"] = traceback.format_tb(error.__traceback__)
            fields["errorType"] = type(error).__name__
            fields["errorMessage"] = str(error)
            fields["location"] = f"{record.pathname}:{record.funcName}:{record.lineno}"
        for key, value in _extra_fields(record).items():
            if value is not None:
                fields.setdefault(key, value)
        return json.dumps(fields, default=str)


class TextLogFormatter(logging.Formatter):
    """A line for a person: time, level, logger and message, then the record's extra fields."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def formatMessage(self, record: logging.LogRecord) -> str:  # noqa: N802 (logging's name)
        line = super().formatMessage(record)
        fields = [
            f"{key}={shown(value if isinstance(value, str) else json.dumps(value, default=str), limit=300)}"
            for key, value in _extra_fields(record).items()
            if key not in ("task", "outcome")  # the message says both
        ]
        return f"{line} ({', '.join(fields)})" if fields else line


@contextlib.contextmanager
def _logging_to_stderr(*, json_lines: bool, level: int) -> Iterator[None]:
    """Send every record at `level` or above to standard error, and Python's warnings with them."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonLogFormatter() if json_lines else TextLogFormatter())
    handler.setLevel(level)
    root = logging.getLogger()
    previous_level = root.level
    root.addHandler(handler)
    root.setLevel(level)
    logging.captureWarnings(True)  # in JSON, a warning printed raw would break the one-object lines
    try:
        yield
    finally:
        logging.captureWarnings(False)
        root.setLevel(previous_level)
        root.removeHandler(handler)


# --------------------------------------------------------------------------
# Options


def _parse(
    business: type[BusinessTask], argv: Sequence[str] | None, environ: Mapping[str, str]
) -> argparse.Namespace:
    """Parse the options and the log variables, and choose the runtime; a usage error exits 2."""
    parser = _argument_parser(business)
    args = parser.parse_args(argv)
    args.runtime, args.reason = _choose_runtime(args.runtime, args.event, environ)
    problems = [
        f"--{option} is for the {owner} runtime"
        for option, (owner, _) in _RUNTIME_OPTIONS.items()
        if getattr(args, option) not in (None, False) and owner != args.runtime
    ]
    if args.all and not args.check:
        problems.append("--all checks every document of the key: use it with --check")
    if args.runtime == "lambda" and args.event is None:
        problems.append("the lambda runtime runs an event: give --event PATH")
    if problems:
        parser.error(f"runtime is {args.runtime} ({args.reason}); {'; '.join(problems)}")
    level = (environ.get(TASK_LOG_LEVEL) or "INFO").upper()
    if level not in _LEVELS:
        parser.error(f"{TASK_LOG_LEVEL} must be one of {', '.join(_LEVELS)}, got '{shown(level)}'")
    args.level = logging.getLevelName(level)
    log_format = (environ.get(TASK_LOG_FORMAT) or "").lower()
    if log_format not in ("", "json", "text"):
        parser.error(f"{TASK_LOG_FORMAT} must be json or text, got '{shown(log_format)}'")
    args.json_lines = log_format == "json" or (args.runtime == "batch" and log_format != "text")
    return args


def _argument_parser(business: type[BusinessTask]) -> argparse.ArgumentParser:
    import argparse

    parser = argparse.ArgumentParser(
        description=f"Run the {business.name} task. Runtime: --runtime, else lambda when --event is "
        f"given, else batch when {AWS_BATCH_JOB_ID} is set, else local.",
        epilog=f"Logs go to standard error: text, or JSON lines in AWS Batch ({TASK_LOG_FORMAT}=json|text "
        f"chooses); {TASK_LOG_LEVEL} sets the level (default INFO).",
    )
    add = parser.add_argument
    add("--runtime", choices=[*_COMMAND_LINE_RUNTIMES, "lambda"], help="where the parameters come from")
    add("--config", metavar="PATH", help=f"local: the JSON file (default: ${TASK_CONFIG_FILE})")
    add("--db", metavar="PATH", help=f"batch: the TinyDB file (default: ${TASK_CONFIG_DB})")
    add("--key", help=f"batch: the document's key (default: ${TASK_CONFIG_KEY}, else {business.name!r})")
    add("--table", metavar="T", help=f"batch: the table (default: ${TASK_CONFIG_TABLE}, else TinyDB's)")
    add("--prefix", metavar="P", help=f"env: the variables' prefix (default: {business.name.upper()}_)")
    add("--event", metavar="PATH", help="lambda: run the JSON event in this file through the handler")
    add("--check", action="store_true", help="validate the parameters and report; run nothing")
    add("--all", action="store_true", help="batch, with --check: check every document of the key")
    return parser


def _choose_runtime(requested: str | None, event: str | None, environ: Mapping[str, str]) -> tuple[str, str]:
    """Return the runtime and, for a person, why it was chosen."""
    if requested is not None:
        return requested, f"--runtime {requested} was given"
    if event is not None:
        return "lambda", "--event was given"
    if environ.get(AWS_BATCH_JOB_ID):
        return "batch", f"{AWS_BATCH_JOB_ID} is set"
    return "local", f"--runtime was not given and {AWS_BATCH_JOB_ID} is not set"


def _raise_terminated(signum: int, frame: object) -> NoReturn:
    raise Terminated("stopped by SIGTERM")
