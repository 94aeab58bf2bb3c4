"""The command line: `python assignment.py` on a laptop, in AWS Batch, from the environment, or on an event.

It parses options, chooses the runtime, runs or checks the task, and turns the
outcome into an exit status. The object model lives in task.py, where each run
logs its own one record; task_logging says how records look on standard error.
`python -m task_cli MODULE:NAME` (the console script task-run) finds any task
by name first: task_run.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys

from task import (
    READ_ERRORS,
    TASK_CONFIG_DB,
    TASK_CONFIG_FILE,
    TASK_CONFIG_KEY,
    TASK_CONFIG_TABLE,
    BatchTask,
    ConfigError,
    EnvTask,
    LambdaTask,
    LocalTask,
    Stopped,
    StoreUnavailable,
    log_failure,
    runnable,
    shown,
)
from task_engines import CLOUD_RUN_TASK_COUNT, ENGINES, LARGEST_ARRAY, array_size, batch_job_variable
from task_logging import TASK_LOG_FORMAT, TASK_LOG_LEVEL, log_settings, logging_to_stderr
from task_process import (
    EXIT_INTERRUPTED,
    EXIT_TERMINATED,
    Interrupted,
    OutputError,
    Terminated,
    print_line,
    printing_any_text,
    stopping_on_signals,
)
from task_sources import encode_json

TYPE_CHECKING = False
if TYPE_CHECKING:
    import argparse
    from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
    from typing import ClassVar, Protocol

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
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "EXIT_TERMINATED",
    "Interrupted",
    "Terminated",
    "run_command_line",
]

#: Exit statuses of the command line.
EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_CONFIG_ERROR = 2
#: What the stand-in context of --event allows: the longest timeout Lambda sets, 15 minutes.
LAMBDA_MAX_TIMEOUT_MS = 900_000

_COMMAND_LINE_RUNTIMES: dict[str, type] = {"local": LocalTask, "batch": BatchTask, "env": EnvTask}

#: What makes the batch runtime the default: AWS_BATCH_JOB_ID, JOB_COMPLETION_INDEX, CLOUD_RUN_JOB.
_JOB_VARIABLES = tuple(engine.job_variable for engine in ENGINES)

# option -> (the runtime it belongs to, the runtime's constructor keyword, if it is one)
_RUNTIME_OPTIONS = {
    "config": ("local", "config_path"),
    "db": ("batch", "db_path"),
    "key": ("batch", "key"),
    "table": ("batch", "table"),
    "prefix": ("env", "prefix"),
    "all": ("batch", None),
    "event": ("lambda", None),
    "handler": ("lambda", None),
}

#: The command line's own records (a check's verdict, an unreadable event file); never a unit's.
_log = logging.getLogger("task.cli")


def run_command_line(
    business: type[BusinessTask],
    argv: Sequence[str] | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    handler: Handler | None = None,
    prog: str | None = None,
) -> int:
    """Run or check a business mixin from the command line and return the exit status.

    Prints the result as one line of JSON (with --check, a report) on standard
    output and logs on standard error, through a handler on the root logger for
    the length of the call; what it changes (the streams' error handling,
    warnings, the SIGTERM handler in the main thread) is as it was after.
    `handler` is the Lambda entry point that --event calls; without it, the
    option --handler MODULE.FUNCTION may name one (default: the trigger
    layer's handle_event). `prog` names the program in the usage. Exit status:
    0 done, 2 a configuration or usage error, 1 any other failure (what the
    business logic raised, whatever its kind, or output that could not be
    written), 143 on SIGTERM, 130 on SIGINT.
    """
    environ = os.environ if environ is None else environ
    with printing_any_text():
        try:
            args = _parse(business, argv, environ, prog, choose_handler=handler is None)
        except SystemExit as exit_request:  # argparse ends --help (0) and usage errors (2) this way
            return EXIT_OK if exit_request.code in (0, None) else EXIT_CONFIG_ERROR
        level, json_lines, problems = log_settings(environ, batch=args.runtime == "batch")
        with logging_to_stderr(json_lines=json_lines, level=level), stopping_on_signals():
            if problems:
                _log.error("%s: usage error: %s", business.name, "; ".join(problems))
                return EXIT_CONFIG_ERROR
            try:
                if args.event is None:
                    return _run_task(business, args, environ)
                handler = handler or args.handler or _default_handler(business, environ)
                return _run_event_file(business, args, environ, handler)
            except (Terminated, Interrupted) as stop:
                if not stop.logged:  # stopped outside a run, whose own record would have said so
                    log_failure(_log, business.name, stop)
                return stop.exit_status
            except StoreUnavailable as error:  # a check whose store did not answer: worth trying again
                log_failure(_log, business.name, error, {"task": business.name, "runtime": args.runtime})
                return EXIT_FAILURE
            except OutputError as failure:
                _log.error("%s: failed: %s", business.name, failure)
                return EXIT_FAILURE


def _run_task(business: type[BusinessTask], args: argparse.Namespace, environ: Mapping[str, str]) -> int:
    """Run or check the task of the local, batch or env runtime."""
    keywords = {
        keyword: getattr(args, option)
        for option, (owner, keyword) in _RUNTIME_OPTIONS.items()
        if owner == args.runtime and keyword is not None and getattr(args, option) is not None
    }
    task: Task = runnable(business, _COMMAND_LINE_RUNTIMES[args.runtime])(**keywords, environ=environ)
    if args.all:
        from task_check import check_every_document

        assert isinstance(task, BatchTask)  # --all is for the batch runtime only
        report = check_every_document(task, args.array_size, resolve=not args.no_resolve)
        return _report(task.name, report, args.reason)
    if args.check:
        return _report(task.name, task.check(resolve=not args.no_resolve), args.reason)
    try:
        result = task.run()
    except ConfigError:
        return EXIT_CONFIG_ERROR  # run() has logged why, without a traceback
    except Stopped:
        raise
    except BaseException:  # a task's own sys.exit(2) too: exit 2 would read as a configuration error
        return EXIT_FAILURE  # run() has logged why, with the traceback
    return _print_json(task.name, result, runtime=task.runtime)


def _report(name: str, report: CheckReport | ArrayCheckReport, reason: str) -> int:
    """Print a check's report; log why it failed, in a few words, when it did."""
    print_line("the report", report.render(reason))
    if report.ok:
        return EXIT_OK
    fields = {"task": name, "runtime": report.runtime, "source": report.source}
    _log.error("%s: configuration error: %s", name, ConfigError(report.source, report.problems), extra=fields)
    return EXIT_CONFIG_ERROR


# --------------------------------------------------------------------------
# --event: a Lambda event, through the handler as Lambda would call it


def _run_event_file(
    business: type[BusinessTask], args: argparse.Namespace, environ: Mapping[str, str], handler: Handler
) -> int:
    """Run the event in the file through the handler, or with --check validate its units."""
    try:
        event = _read_event(args.event, environ)
    except ConfigError as error:
        log_failure(
            _log, business.name, error, {"task": business.name, "runtime": "lambda", "source": error.source}
        )
        return EXIT_CONFIG_ERROR
    if args.check:
        return _check_event(business, event, args.reason, environ, resolve=not args.no_resolve)
    return _run_event(business, event, handler)


def _read_event(path: str, environ: Mapping[str, str]) -> object:
    """The event in a JSON file: any JSON value, null included; a ConfigError when it cannot be read."""
    from task_sources import config_error_from, decode_json, read_text_file

    try:
        return decode_json(read_text_file(path, environ))
    except READ_ERRORS as exc:
        raise config_error_from(exc, f"event file {path}") from exc


def _check_event(
    business: type[BusinessTask], event: object, reason: str, environ: Mapping[str, str], *, resolve: bool
) -> int:
    """Validate every unit of work in an event without running any, and print one report each."""
    import task_lambda

    reports = task_lambda.check_event(runnable(business, LambdaTask), event, environ=environ, resolve=resolve)
    status = EXIT_OK
    for number, (label, report) in enumerate(reports, start=1):
        heading = f"Unit {number} of {len(reports)}: {shown(label, limit=200)}"
        print_line("the report", heading if number == 1 else f"\n{heading}")
        status = max(status, _report(business.name, report, reason))
    return status


def _run_event(business: type[BusinessTask], event: object, handler: Handler) -> int:
    """Run an event through the handler: print what it returned, and exit by the units' outcomes.

    What the handler raised outside any unit (so no unit's record says why) is logged here.
    """
    from task_testing import FakeLambdaContext

    # Lambda's longest timeout: a batch's deadline (task_deadline) stops no record here unless
    # TASK_DEADLINE_RESERVE_MS asks for more than that.
    context = FakeLambdaContext(business.name, timeout_ms=LAMBDA_MAX_TIMEOUT_MS)
    result, raised, units = _call_handler(handler, event, context)
    outcomes = [outcome for outcome, _ in units]
    if raised is None:
        if _print_json(business.name, result, logging.getLogger("task.lambda"), "lambda") == EXIT_FAILURE:
            outcomes.append("failed")  # Lambda could not have sent this answer either
    elif all(error is not raised for _, error in units):  # raised outside any unit: nothing said why yet
        outcomes.append(log_failure(_log, business.name, raised))
    return _exit_status(outcomes)


def _call_handler(
    handler: Handler, event: object, context: object
) -> tuple[object, BaseException | None, list[tuple[str, BaseException | None]]]:
    """Call the handler: what it returned, what it raised, and each unit's (outcome, exception).

    The units' outcomes come from their own records, whatever the logging setup hides.
    """
    units = _UnitRecords()
    with _reaching_every_failed_unit(units):
        try:
            return handler(event, context), None, units.seen
        except Stopped:
            raise
        except BaseException as error:
            return None, error, units.seen


def _exit_status(outcomes: Iterable[str]) -> int:
    """The exit status of an event's units: the worst outcome among them.

    1 when any failed for a reason other than its configuration, else 2 when
    any had a configuration error, else 0.
    """
    seen = set(outcomes)
    if "failed" in seen:
        return EXIT_FAILURE
    return EXIT_CONFIG_ERROR if "config_error" in seen else EXIT_OK


def _default_handler(business: type[BusinessTask], environ: Mapping[str, str]) -> Handler:
    """The handler --event calls unless it is given one: the trigger layer, as assignment.handler uses it,
    reading `environ`."""

    def handle(event: object, context: object) -> object:
        import task_lambda

        return task_lambda.handle_event(runnable(business, LambdaTask), event, context, environ=environ)

    return handle


class _UnitRecords(logging.Handler):
    """Collects what each unit's one record tells: its outcome, and the exception it failed with.

    The trigger layer's records count too: a batch's records not started before
    the deadline ("failed", a warning), a stream record skipped ("skipped").
    """

    def __init__(self) -> None:
        super().__init__()
        #: (outcome, exception or None) per unit: "ok", "config_error" or "failed".
        self.seen: list[tuple[str, BaseException | None]] = []

    def emit(self, record: logging.LogRecord) -> None:
        outcome = getattr(record, "outcome", None)
        if isinstance(outcome, str):
            self.seen.append((outcome, record.exc_info[1] if record.exc_info else None))


@contextlib.contextmanager
def _reaching_every_failed_unit(collector: logging.Handler) -> Iterator[None]:
    """Every failed unit's record reaches `collector` for the length of the block.

    Whatever would hide it (or the warning of records not started before the
    deadline) is lifted: the level, a logging.disable() call, or
    logger "task" disabled (as logging.config.dictConfig() disables the
    loggers it does not name). All of it is as it was after.
    """
    task_logger = logging.getLogger("task")
    level, disabled, disabled_below = task_logger.level, task_logger.disabled, logging.root.manager.disable
    task_logger.setLevel(min(task_logger.getEffectiveLevel(), logging.WARNING))
    task_logger.disabled = False
    logging.disable(logging.NOTSET)
    task_logger.addHandler(collector)
    try:
        yield
    finally:
        task_logger.removeHandler(collector)
        logging.disable(disabled_below)
        task_logger.disabled = disabled
        task_logger.setLevel(level)


def _print_json(name: str, result: object, log: logging.Logger = _log, runtime: str | None = None) -> int:
    """Print a result as one line of JSON, or log that it is not JSON (encode_json() says why): one
    ERROR record under `log`, with outcome "failed" (and the runtime) as a unit's record has them."""
    try:
        line = encode_json(result)
    except ValueError as exc:
        fields = {"task": name, "runtime": runtime, "outcome": "failed"}
        log.error("%s: failed: the result is not JSON: %s", name, shown(str(exc), limit=300), extra=fields)
        return EXIT_FAILURE
    print_line("the result", line)
    return EXIT_OK


# --------------------------------------------------------------------------
# Options


def _parse(
    business: type[BusinessTask],
    argv: Sequence[str] | None,
    environ: Mapping[str, str],
    prog: str | None,
    *,
    choose_handler: bool,
) -> argparse.Namespace:
    """Parse the options (--handler among them when `choose_handler`) and choose the runtime;
    a usage error exits 2."""
    parser = _argument_parser(business, prog, choose_handler=choose_handler)
    args = parser.parse_args(argv)
    args.runtime, args.reason = _choose_runtime(args.runtime, args.event, environ)
    problems = [
        f"--{option} is for the {owner} runtime"
        for option, (owner, _) in _RUNTIME_OPTIONS.items()
        if getattr(args, option) not in (None, False) and owner != args.runtime
    ]
    if args.all and not args.check:
        problems.append("--all checks every document of the key: use it with --check")
    if args.array_size is not None and not (args.all and args.check):
        problems.append("--array-size is the size of the array --check --all checks: use it with both")
    if args.no_resolve and not args.check:
        problems.append("--no-resolve checks references without reading them: use it with --check")
    if args.runtime == "lambda" and args.event is None:
        problems.append("the lambda runtime runs an event: give --event PATH")
    if problems:
        parser.error(f"runtime is {args.runtime} ({args.reason}); {'; '.join(problems)}")
    if args.handler is not None:
        from task_run import TargetError, find_handler

        try:
            args.handler = find_handler(args.handler)
        except TargetError as error:  # one line, as for the task itself: no usage
            parser.exit(EXIT_CONFIG_ERROR, f"{parser.prog}: error: {error}\n")
    return args


def _argument_parser(
    business: type[BusinessTask], prog: str | None, *, choose_handler: bool
) -> argparse.ArgumentParser:
    import argparse

    parser = argparse.ArgumentParser(
        prog=prog,
        description=f"Run the {business.name} task. Runtime: --runtime, else lambda when --event is "
        f"given, else batch when {' or '.join(_JOB_VARIABLES)} is set, else local.",
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
    if choose_handler:
        add(
            "--handler",
            metavar="MODULE.FUNCTION",
            help="lambda: the handler --event calls (default: the trigger layer's, handle_event)",
        )
    parser.set_defaults(handler=None)
    add("--check", action="store_true", help="validate the parameters and report; run nothing")
    add("--all", action="store_true", help="batch, with --check: check every document of the key")
    add(
        "--array-size",
        metavar="N",
        type=_array_size,
        help="with --check --all: the array has exactly N copies, indices 0 to N-1 (default: "
        f"${CLOUD_RUN_TASK_COUNT}, else the highest array_index plus one)",
    )
    add("--no-resolve", action="store_true", help="with --check: check references' form, read none")
    return parser


def _choose_runtime(requested: str | None, event: str | None, environ: Mapping[str, str]) -> tuple[str, str]:
    """Return the runtime and, for a person, why it was chosen."""
    if requested is not None:
        return requested, f"--runtime {requested} was given"
    if event is not None:
        return "lambda", "--event was given"
    variable = batch_job_variable(environ)
    if variable is not None:
        return "batch", f"{variable} is set"
    return "local", f"--runtime was not given and none of {', '.join(_JOB_VARIABLES)} is set"


def _array_size(text: str) -> int:
    """--array-size's value: a whole number from 1 to the largest array any engine runs."""
    size = array_size(text)
    if size is None:
        import argparse

        raise argparse.ArgumentTypeError(f"expected a number from 1 to {LARGEST_ARRAY}, got '{shown(text)}'")
    return size


if __name__ == "__main__":  # python -m task_cli MODULE:NAME [options]
    from task_run import main

    sys.exit(main(prog="python -m task_cli"))
