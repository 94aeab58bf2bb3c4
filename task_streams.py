"""Kinesis Data Streams and DynamoDB Streams: their records as units of work, and the checkpoint answer.

A stream keeps its order: the records of a batch run in turn until one fails;
that one alone is listed in `batchItemFailures`, and Lambda delivers the batch
again from it (a checkpoint), so no record after it runs now.
"""

from __future__ import annotations

import logging

from task import ConfigError, SourceError, Stopped, shown
from task_fields import json_kind
from task_lambda import DYNAMODB, KINESIS, JsonTextUnit, Unit, layer_fields

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from task import LambdaTask
    from task_deadline import Deadline

__all__ = [
    "ImageUnit",
    "SkippedRecord",
    "UnnamedStreamRecord",
    "dynamodb_unit",
    "kinesis_unit",
    "read_attribute",
    "stream_response",
]

#: Kinesis sequence numbers have up to 129 decimal digits, DynamoDB Streams' up to 40.
MAX_SEQUENCE_NUMBER = 129
#: What a DynamoDB attribute may be to give a parameter, as messages list them.
_READABLE = 'S, N, BOOL, NULL, or M holding a reference such as {"$env": {"S": "NAME"}}'

logger = logging.getLogger("task.lambda")


class ImageUnit(Unit):
    """A DynamoDB Streams record: its NewImage, without the item's key attributes, is the parameters."""

    __slots__ = ()

    def raw_parameters(self) -> object:
        """The image's attributes as plain values (read_attribute), by attribute name.

        Raises SourceError when there is no image to read, and a ConfigError
        naming every attribute that cannot be read.
        """
        record = self._payload
        assert isinstance(record, dict)  # dynamodb_unit() found its sequence number in it
        image, keys = record.get("NewImage"), record.get("Keys")
        if not isinstance(image, dict):
            raise SourceError(f'"NewImage" must be a map of attributes, got {json_kind(image)}')
        key_names = keys.keys() if isinstance(keys, dict) else set()
        values: dict[str, object] = {}
        problems: list[str] = []
        for name, attribute in image.items():
            if name in key_names:  # the item's key says which item it is; it is no parameter
                continue
            try:
                values[name] = read_attribute(attribute)
            except ValueError as exc:
                problems.append(f"{shown(name)}: {exc}")
        if problems:
            raise ConfigError(self.source, problems)
        return values


class SkippedRecord(Unit):
    """A DynamoDB Streams record without NewImage (a REMOVE, or a keys-only stream): no unit of work."""

    __slots__ = ()
    is_work = False


class UnnamedStreamRecord(Unit):
    """A stream record without a sequence number: a configuration error, never run."""

    __slots__ = ("_key",)

    def __init__(self, trigger: str, kind: str, record: object, position: int, key: str) -> None:
        super().__init__(trigger, f"{kind} record {position}", record, label=f"record {position}")
        self._key = key

    def raw_parameters(self) -> object:
        """Raises SourceError saying why the record cannot be read."""
        if isinstance(self._payload, dict):
            wanted = f"decimal digits, at most {MAX_SEQUENCE_NUMBER}"
            raise SourceError(f'no "{self._key}" ({wanted}), so it was not run')
        raise SourceError(f"expected a record (a JSON object), got {json_kind(self._payload)}")


def kinesis_unit(record: object, position: int) -> Unit:
    """The unit of a Kinesis record: its `kinesis.data`, base64 of a JSON object."""
    kinesis = record.get("kinesis") if isinstance(record, dict) else None
    sequence_number = _sequence_number(kinesis, "sequenceNumber")
    if sequence_number is None:
        return UnnamedStreamRecord(KINESIS, "Kinesis", record, position, "kinesis.sequenceNumber")
    assert isinstance(kinesis, dict)  # it holds a sequence number
    return JsonTextUnit(
        KINESIS,
        f"Kinesis record {sequence_number}",
        kinesis.get("data"),
        holder='"data"',
        base64=True,
        label=sequence_number,
        sequence_number=sequence_number,
    )


def dynamodb_unit(record: object, position: int) -> Unit:
    """The unit of a DynamoDB Streams record: its `dynamodb.NewImage`, or none to run without one."""
    change = record.get("dynamodb") if isinstance(record, dict) else None
    sequence_number = _sequence_number(change, "SequenceNumber")
    if sequence_number is None:
        return UnnamedStreamRecord(DYNAMODB, "DynamoDB", record, position, "dynamodb.SequenceNumber")
    assert isinstance(change, dict)  # it holds a sequence number
    unit_class = ImageUnit if "NewImage" in change else SkippedRecord
    return unit_class(
        DYNAMODB,
        f"DynamoDB record {sequence_number}",
        change,
        label=sequence_number,
        sequence_number=sequence_number,
    )


def _sequence_number(holder: object, key: str) -> str | None:
    """The sequence number `holder` carries, if it is one a stream writes: decimal digits."""
    number = holder.get(key) if isinstance(holder, dict) else None
    if (
        isinstance(number, str)
        and number.isascii()
        and number.isdigit()
        and len(number) <= MAX_SEQUENCE_NUMBER
    ):
        return number
    return None


# --------------------------------------------------------------------------
# DynamoDB's typed attributes


def read_attribute(attribute: object) -> object:
    """The plain value of one typed DynamoDB attribute; ValueError naming its type when it gives none.

    S gives its string; N a number, read from its text as environment text is
    (an int from an optional sign and digits, else a float); BOOL its boolean;
    NULL None; M, only as a reference, the object of its S members, which
    Task.run() resolves as it does a reference in any event.
    """
    if not isinstance(attribute, dict) or len(attribute) != 1:
        raise ValueError(f'expected one typed attribute such as {{"S": ...}}, got {json_kind(attribute)}')
    ((kind, value),) = attribute.items()
    if kind == "S" and isinstance(value, str):
        return value
    if kind == "N" and isinstance(value, str):
        return _number(value)
    if kind == "BOOL" and isinstance(value, bool):
        return value
    if kind == "NULL" and value is True:
        return None
    if kind == "M" and isinstance(value, dict):
        return _reference(value)
    if kind in ("S", "N", "BOOL", "NULL", "M"):
        raise ValueError(f"a DynamoDB {kind} attribute holding {json_kind(value)}")
    raise ValueError(f"a DynamoDB {shown(kind)} attribute is no parameter value (expected {_READABLE})")


def _number(text: str) -> int | float:
    """An N attribute's number: an int from an optional sign and decimal digits, else a float."""
    digits = text[1:] if text[:1] in ("+", "-") else text
    if digits.isascii() and digits.isdigit() and len(digits) <= 4300:  # as task_fields reads an int
        return -int(digits) if text.startswith("-") else int(digits)
    try:
        return float(text)
    except ValueError:
        raise ValueError("a DynamoDB N attribute that is not a number") from None


def _reference(members: dict[str, object]) -> dict[str, str]:
    """An M attribute as the reference it holds: {"M": {"$env": {"S": "NAME"}}} gives {"$env": "NAME"}."""
    if not any(isinstance(name, str) and name.startswith("$") for name in members):
        raise ValueError(f"a DynamoDB M attribute is read only as a reference (expected {_READABLE})")
    reference: dict[str, str] = {}
    for name, member in members.items():
        if not (isinstance(member, dict) and len(member) == 1 and isinstance(member.get("S"), str)):
            raise ValueError(f'a reference\'s members must be S attributes: "{shown(name)}" is not one')
        reference[name] = member["S"]
    return reference


# --------------------------------------------------------------------------
# Running a batch


def stream_response(
    task_for: Callable[[Unit], LambdaTask], units: Sequence[Unit], deadline: Deadline
) -> dict[str, list[dict[str, str]]]:
    """Run a stream's records in order up to the first that fails; list just that one.

    A record that holds no unit of work is logged as skipped. Near the
    deadline the next record is listed, unrun. A record without a sequence
    number is listed with an empty one, which makes Lambda retry the whole
    batch: a record nobody can name is not lost.
    """
    for position, unit in enumerate(units):
        if deadline.stops(task_for, units, position):
            return _checkpoint(unit)
        if not unit.is_work:
            _log_skipped(task_for(unit))
            continue
        try:
            task_for(unit).run()
        except Stopped:
            raise
        except BaseException:  # run() logged it; a SystemExit from the business logic fails this record only
            return _checkpoint(unit)
    return {"batchItemFailures": []}


def _checkpoint(unit: Unit) -> dict[str, list[dict[str, str]]]:
    """The answer that makes Lambda deliver the batch again from `unit`'s record."""
    return {"batchItemFailures": [{"itemIdentifier": unit.sequence_number or ""}]}


def _log_skipped(task: LambdaTask) -> None:
    logger.info(
        "%s: skipped: the record has no NewImage (a removed item, or a stream of keys only)",
        task.name,
        extra=layer_fields(task, "skipped"),
    )
