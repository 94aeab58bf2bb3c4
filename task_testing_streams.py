"""Test helpers: Kinesis and DynamoDB Streams events as Lambda delivers them (re-exported by task_testing)."""

from __future__ import annotations

import json
import uuid

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping

__all__ = ["dynamodb_event", "kinesis_event"]

REGION = "us-east-1"
ACCOUNT = "123456789012"
#: The key attribute each DynamoDB item gets: the trigger layer leaves it out of the parameters.
ITEM_KEY = "id"


def kinesis_event(*payloads: object) -> dict[str, object]:
    """A Kinesis Data Streams event of one record per payload, in order, shaped as AWS documents it.

    A payload that is not a `str` is JSON-encoded; the record's data is the
    base64 of its UTF-8. Sequence numbers are unique and increase.
    """
    import base64

    stream = f"arn:aws:kinesis:{REGION}:{ACCOUNT}:stream/widget-tasks"
    records = []
    for sequence_number, payload in zip(_sequence_numbers(len(payloads), 56), payloads, strict=True):
        text = payload if isinstance(payload, str) else json.dumps(payload)
        data = base64.b64encode(text.encode("utf-8")).decode("ascii")
        records.append(
            {
                "kinesis": {
                    "kinesisSchemaVersion": "1.0",
                    "partitionKey": "widget",
                    "sequenceNumber": sequence_number,
                    "data": data,
                    "approximateArrivalTimestamp": 1767225600.0,
                },
                "eventSource": "aws:kinesis",
                "eventVersion": "1.0",
                "eventID": f"shardId-000000000000:{sequence_number}",
                "eventName": "aws:kinesis:record",
                "invokeIdentityArn": f"arn:aws:iam::{ACCOUNT}:role/widget-function",
                "awsRegion": REGION,
                "eventSourceARN": stream,
            }
        )
    return {"Records": records}


def dynamodb_event(*new_images: Mapping[str, object] | None) -> dict[str, object]:
    """A DynamoDB Streams event (view type NEW_IMAGE) of one record per image, in order.

    Each image is a plain mapping of attribute names to values, typed here as
    DynamoDB does (str S, bool BOOL, int and float N, None NULL, a mapping M,
    a list L); each item also gets its key, a string attribute `id`, which the
    trigger layer leaves out of the parameters. An image of None gives the
    record of a removed item: keys only, no NewImage. Sequence numbers are
    unique and increase.
    """
    stream = f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/widget-tasks/stream/2026-01-01T00:00:00.000"
    records = []
    for sequence_number, image in zip(_sequence_numbers(len(new_images), 28), new_images, strict=True):
        keys = {ITEM_KEY: {"S": f"item-{sequence_number}"}}
        change: dict[str, object] = {
            "ApproximateCreationDateTime": 1767225600.0,
            "Keys": keys,
            "SequenceNumber": sequence_number,
            "SizeBytes": 100,
            "StreamViewType": "NEW_IMAGE",
        }
        if image is not None:
            if ITEM_KEY in image:
                raise ValueError(f"dynamodb_event(): {ITEM_KEY!r} is the item's key here, not a parameter")
            change["NewImage"] = {**keys, **{name: typed(value) for name, value in image.items()}}
        records.append(
            {
                "eventID": uuid.uuid4().hex,
                "eventName": "REMOVE" if image is None else "INSERT",
                "eventVersion": "1.1",
                "eventSource": "aws:dynamodb",
                "awsRegion": REGION,
                "dynamodb": change,
                "eventSourceARN": stream,
            }
        )
    return {"Records": records}


def typed(value: object) -> dict[str, object]:
    """A plain value as a DynamoDB attribute: "a" gives {"S": "a"}, 5 {"N": "5"}, {"$env": "X"} an M."""
    if isinstance(value, str):
        return {"S": value}
    if isinstance(value, bool):  # before int: True is an int too
        return {"BOOL": value}
    if isinstance(value, (int, float)):
        return {"N": str(value)}
    if value is None:
        return {"NULL": True}
    if isinstance(value, dict):
        return {"M": {str(name): typed(member) for name, member in value.items()}}
    if isinstance(value, (list, tuple)):
        return {"L": [typed(member) for member in value]}
    raise TypeError(f"typed(): DynamoDB has no attribute type for a {type(value).__name__}")


def _sequence_numbers(count: int, digits: int) -> list[str]:
    """`count` increasing sequence numbers of `digits` digits, from a random start: unique across events."""
    first = 10 ** (digits - 1) + uuid.uuid4().int % (10 ** (digits - 1))
    return [str(first + offset) for offset in range(count)]
