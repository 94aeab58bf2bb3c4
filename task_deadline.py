"""The Lambda deadline a batch keeps (SQS, Kinesis, DynamoDB): no record starts too close to the timeout.

A function that times out returns its whole batch, the records already done
included, which then run twice. So before each record the batch asks the
invocation's context how much time is left, and below TASK_DEADLINE_RESERVE_MS
it starts no more records: the trigger layer lists them for Lambda to deliver
again.
"""

from __future__ import annotations

import logging

from task import ConfigError, log_failure, shown
from task_fields import decimal
from task_lambda import layer_fields

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence

    from task import LambdaTask
    from task_lambda import Unit

__all__ = ["DEFAULT_RESERVE_MS", "TASK_DEADLINE_RESERVE_MS", "Deadline", "reserve_ms"]

#: The environment variable that sets how much time a batch keeps in reserve, in milliseconds.
TASK_DEADLINE_RESERVE_MS = "TASK_DEADLINE_RESERVE_MS"
#: The reserve when the variable is unset: enough to answer, log and return.
DEFAULT_RESERVE_MS = 1000

logger = logging.getLogger("task.lambda")


class Deadline:
    """Whether a batch may start its next record, by the invocation's `context` and `environ`.

    No context, or one without get_remaining_time_in_millis(), means no
    deadline, and the reserve is not read; a reserve of 0 means none either.
    """

    def __init__(self, context: object, environ: Mapping[str, str]) -> None:
        remaining = getattr(context, "get_remaining_time_in_millis", None)
        self._remaining_ms: Callable[[], int] | None = remaining if callable(remaining) else None
        self._reserve_ms = 0
        self._error: ConfigError | None = None
        if self._remaining_ms is not None:
            try:
                self._reserve_ms = reserve_ms(environ)
            except ConfigError as error:  # every record of the batch fails with it
                self._error = error

    def stops(self, task_for: Callable[[Unit], LambdaTask], units: Sequence[Unit], position: int) -> bool:
        """Whether the batch must not start `units` from `position` on; logs why if so.

        An invalid reserve stops the batch at its first record.
        """
        if self._error is None and (self._remaining_ms is None or self._reserve_ms == 0):
            return False  # no deadline: the common case asks nothing more
        if self._error is not None:
            task = task_for(units[position])
            log_failure(logger, task.name, self._error, layer_fields(task, "config_error"))
            return True
        assert self._remaining_ms is not None  # else there is no deadline
        try:
            remaining_ms = self._remaining_ms()
            if not remaining_ms < self._reserve_ms:  # "not <", so that a NaN keeps no deadline either
                return False
        except Exception:  # a context that cannot tell (not Lambda's own): no deadline to keep
            return False
        task = task_for(units[position])
        logger.warning(
            "%s: %d record(s) not started: %d ms left, under %s (%d ms); Lambda delivers them again",
            task.name,
            len(units) - position,
            remaining_ms,
            TASK_DEADLINE_RESERVE_MS,
            self._reserve_ms,
            extra=layer_fields(task, "failed"),
        )
        return True


def reserve_ms(environ: Mapping[str, str]) -> int:
    """TASK_DEADLINE_RESERVE_MS as a number of milliseconds; a ConfigError naming it when it is not one."""
    text = environ.get(TASK_DEADLINE_RESERVE_MS, "")
    if not text:
        return DEFAULT_RESERVE_MS
    reserve = decimal(text, max_digits=18)
    if reserve is None:
        expected = "a non-negative integer of milliseconds (0 turns the deadline off)"
        raise ConfigError(TASK_DEADLINE_RESERVE_MS, [f"expected {expected}, got '{shown(text)}'"])
    return reserve
