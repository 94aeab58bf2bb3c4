"""How the command line logs on standard error: readable text or JSON lines, at the level set.

TASK_LOG_FORMAT and TASK_LOG_LEVEL choose; the records themselves are made
where things happen (task.py logs one per unit of work). In AWS Lambda none of
this runs: the runtime client's own handlers and formats apply.
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
import sys
import time
import traceback
import warnings

from task import ConfigError, Stopped, message_of, shown
from task_fields import UNENCODABLE

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping
    from types import TracebackType

    ExcInfo = tuple[type[BaseException], BaseException, TracebackType | None] | tuple[None, None, None]

__all__ = [
    "LEVELS",
    "TASK_LOG_FORMAT",
    "TASK_LOG_LEVEL",
    "JsonLogFormatter",
    "TextLogFormatter",
    "log_settings",
    "logging_to_stderr",
]

# The environment variables that set the command line's logging.
TASK_LOG_FORMAT = "TASK_LOG_FORMAT"
TASK_LOG_LEVEL = "TASK_LOG_LEVEL"

#: The levels TASK_LOG_LEVEL may name, in any case; WARN as AWS Lambda's AWS_LAMBDA_LOG_LEVEL spells it.
LEVELS = {
    "DEBUG": logging.DEBUG,
    "INFO": logging.INFO,
    "WARNING": logging.WARNING,
    "WARN": logging.WARNING,
    "ERROR": logging.ERROR,
    "CRITICAL": logging.CRITICAL,
}
_LEVEL_NAMES = "DEBUG, INFO, WARNING (or WARN), ERROR, CRITICAL"

#: Failures whose message says all: a configuration error, and a run stopped by a signal (where
#: the signal happened to find the code is no one's concern).
_WITHOUT_TRACEBACK = (ConfigError, Stopped)

#: What every LogRecord holds; anything else on a record came from its `extra` fields.
_STANDARD_ATTRIBUTES = frozenset(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime"}


def log_settings(environ: Mapping[str, str], *, batch: bool) -> tuple[int, bool, list[str]]:
    """The level and the format (JSON lines or not) the environment chooses, and what is wrong with it.

    TASK_LOG_LEVEL names the level, in any case (default INFO). JSON lines
    when TASK_LOG_FORMAT is json, or in a batch job unless it is text; a wrong
    format falls back to that rule too, so that the complaint is in the format
    the job's log expects. With any problem the level is INFO, so that the
    complaint shows.
    """
    problems = []
    level_name = environ.get(TASK_LOG_LEVEL) or "INFO"
    if level_name.upper() not in LEVELS:
        problems.append(f"{TASK_LOG_LEVEL} must be one of {_LEVEL_NAMES}, got '{shown(level_name)}'")
    log_format = (environ.get(TASK_LOG_FORMAT) or "").lower()
    if log_format not in ("", "json", "text"):
        shown_format = shown(environ[TASK_LOG_FORMAT])
        problems.append(f"{TASK_LOG_FORMAT} must be json or text, got '{shown_format}'")
    json_lines = log_format == "json" or (batch and log_format != "text")
    level = logging.INFO if problems else LEVELS[level_name.upper()]
    return level, json_lines, problems


@contextlib.contextmanager
def logging_to_stderr(*, json_lines: bool, level: int) -> Iterator[None]:
    """Send every record at `level` or above to standard error, and Python's warnings with them.

    For the length of the block; after it the root logger, its handlers and
    the warnings machinery are as they were.
    """
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonLogFormatter() if json_lines else TextLogFormatter())
    handler.setLevel(level)
    root = logging.getLogger()
    previous_level = root.level
    root.addHandler(handler)
    root.setLevel(level)
    try:
        with warnings.catch_warnings():  # restores warnings.showwarning, whoever had set it
            warnings.showwarning = _log_warning  # in JSON, a warning printed raw would break the lines
            yield
    finally:
        root.setLevel(previous_level)
        root.removeHandler(handler)


def _log_warning(  # noqa: PLR0917 (warnings.showwarning's signature)
    message: Warning | str,
    category: type[Warning],
    filename: str,
    lineno: int,
    file: object = None,
    line: str | None = None,
) -> None:
    """Log a warning as logging.captureWarnings(True) does, without changing that setting for good."""
    logging.getLogger("py.warnings").warning(
        "%s", warnings.formatwarning(message, category, filename, lineno, line)
    )


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
            fields["errorType"] = type(error).__name__
            fields["errorMessage"] = message_of(error)
            if not isinstance(error, _WITHOUT_TRACEBACK):
                fields["stackTrace"] = traceback.format_tb(error.__traceback__)
                fields["location"] = f"{record.pathname}:{record.funcName}:{record.lineno}"
        core = frozenset(fields)
        for key, value in _extra_fields(record).items():
            if value is not None:
                fields.setdefault(key, value)
        try:
            return json.dumps(fields, default=str, allow_nan=False)
        except UNENCODABLE:  # a field JSON cannot hold: NaN, a cycle, a huge int
            return json.dumps(
                {key: value if key in core else shown(value, limit=300) for key, value in fields.items()}
            )


class TextLogFormatter(logging.Formatter):
    """A line for a person: time, level, logger and message, then the record's extra fields.

    A failure's traceback follows, every line of it behind CONTINUATION, so
    that nothing in it (an exception's message may hold any text) can pass for
    a record of its own; so does every line of a message after its first.
    Every line is escaped. A configuration error, or a run stopped by a
    signal, has no traceback: its message says all.
    """

    #: What starts every line of a record but its first.
    CONTINUATION = "  | "

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        # Not logging.Formatter.format: it would reuse record.exc_text, the unprefixed
        # traceback another handler's formatter may have left on the record.
        record.message = record.getMessage()
        record.asctime = self.formatTime(record, self.datefmt)
        text = self.formatMessage(record)
        error = record.exc_info[1] if record.exc_info else None
        if record.exc_info and error is not None and not isinstance(error, _WITHOUT_TRACEBACK):
            text += "\n" + self.formatException(record.exc_info)
        if record.stack_info:
            text += "\n" + self.formatStack(record.stack_info)
        return text

    def formatMessage(self, record: logging.LogRecord) -> str:  # noqa: N802 (logging's name)
        text = super().formatMessage(record)
        fields = [
            f"{key}={_field_text(value)}"
            for key, value in _extra_fields(record).items()
            if key not in ("task", "outcome") and value is not None  # the message says both
        ]
        if fields:
            text += f" ({', '.join(fields)})"
        first, *rest = text.splitlines() or [""]
        return "\n".join([shown(first, limit=None), *self._continued(rest)])

    def formatException(self, ei: ExcInfo) -> str:  # noqa: N802 (logging's name)
        return "\n".join(self._continued(super().formatException(ei).splitlines()))

    def formatStack(self, stack_info: str) -> str:  # noqa: N802 (logging's name)
        return "\n".join(self._continued(stack_info.splitlines()))

    def _continued(self, lines: list[str]) -> list[str]:
        """Each line behind CONTINUATION, escaped; str.splitlines() made them, splitting at \\r, \\v
        and the like, and an exception's message in a traceback may hold ESC, BEL or any other text."""
        return [self.CONTINUATION + shown(line, limit=None) for line in lines]


#: A field's value shown as it is: no quote, comma, parenthesis or "=" to forge another field with.
_PLAIN_VALUE = re.compile(r"[^\\\"',=()]*")


def _field_text(value: object) -> str:
    """A field's value for a text line, quoted when it could otherwise read as more than one field."""
    text = shown(value if isinstance(value, str) else _as_json(value), limit=300)
    if _PLAIN_VALUE.fullmatch(text):
        return text
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _as_json(value: object) -> str:
    try:
        return json.dumps(value, default=str)
    except UNENCODABLE:  # a cycle, a huge int: shown() copes
        return shown(value, limit=300)
