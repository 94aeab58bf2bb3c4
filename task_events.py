"""Event builders for tests: the events AWS Lambda delivers for each trigger, shaped as AWS documents them.

Each call makes fresh message and request ids. A body or message that is not
a `str` is JSON-encoded; a `str` is sent as it is, so a test can send text
that is not JSON. task_testing re-exports these functions.
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import json
import time
import uuid

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import Any

__all__ = [
    "alb_event",
    "dynamodb_event",
    "eventbridge_event",
    "http_api_event",
    "kinesis_event",
    "rest_api_event",
    "sns_event",
    "sqs_event",
    "typed",
]

REGION = "us-east-1"
ACCOUNT = "123456789012"
#: The queue, topic, API and target group the events say they come from.
QUEUE = "task-queue"
TOPIC = "task-topic"
API_ID = "r3pmxmplak"
TARGET_GROUP = "task-tg/49e9d65c45c6791a"
SOURCE_IP = "203.0.113.10"
USER_AGENT = "curl/8.5.0"
#: The caller's identity in a REST API request: all null for a caller that did not authenticate.
_UNAUTHENTICATED_IDENTITY = (
    "accessKey",
    "accountId",
    "caller",
    "cognitoAuthenticationProvider",
    "cognitoAuthenticationType",
    "cognitoIdentityId",
    "cognitoIdentityPoolId",
    "principalOrgId",
    "user",
    "userArn",
)
#: A FIFO queue numbers its messages in the order it received them, each number once.
_FIFO_SEQUENCE = itertools.count(18849496460467696128)
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def sqs_event(*bodies: object, fifo: bool = False) -> dict[str, Any]:
    """An SQS event with one record per body, as a standard (or FIFO) queue delivers it."""
    queue_arn = f"arn:aws:sqs:{REGION}:{ACCOUNT}:{QUEUE}{'.fifo' if fifo else ''}"
    sent = _epoch_ms()
    records = []
    for position, body in enumerate(bodies):
        text = _text(body)
        attributes = {
            "ApproximateReceiveCount": "1",
            "SentTimestamp": str(sent + position),
            "SenderId": "AIDAIENQZJOLO23YVJ4VO",
            "ApproximateFirstReceiveTimestamp": str(sent + position + 2),
        }
        if fifo:
            attributes |= {
                "SequenceNumber": str(next(_FIFO_SEQUENCE)),
                "MessageGroupId": "tasks",
                "MessageDeduplicationId": hashlib.sha256(text.encode()).hexdigest(),
            }
        records.append(
            {
                "messageId": str(uuid.uuid4()),
                "receiptHandle": f"AQEB{uuid.uuid4().hex}",
                "body": text,
                "attributes": attributes,
                "messageAttributes": {},
                "md5OfBody": hashlib.md5(text.encode(), usedforsecurity=False).hexdigest(),
                "eventSource": "aws:sqs",
                "eventSourceARN": queue_arn,
                "awsRegion": REGION,
            }
        )
    return {"Records": records}


def sns_event(*messages: object) -> dict[str, Any]:
    """An SNS event with one record per message (Lambda delivers one; a test may send more)."""
    topic_arn = f"arn:aws:sns:{REGION}:{ACCOUNT}:{TOPIC}"
    records = []
    for message in messages:
        subscription_arn = f"{topic_arn}:{uuid.uuid4()}"
        records.append(
            {
                "EventVersion": "1.0",
                "EventSubscriptionArn": subscription_arn,
                "EventSource": "aws:sns",
                "Sns": {
                    "SignatureVersion": "1",
                    "Timestamp": _iso_time(),
                    "Signature": "tcc6faL2yUC6dgZdmrwh1Y4cGa/ebXEkAi6RibDsvpi+tE/1+82j...65r==",
                    "SigningCertUrl": f"https://sns.{REGION}.amazonaws.com/SimpleNotificationService-0.pem",
                    "MessageId": str(uuid.uuid4()),
                    "Message": _text(message),
                    "MessageAttributes": {},
                    "Type": "Notification",
                    "UnsubscribeUrl": f"https://sns.{REGION}.amazonaws.com/?Action=Unsubscribe"
                    f"&SubscriptionArn={subscription_arn}",
                    "TopicArn": topic_arn,
                    "Subject": None,
                },
            }
        )
    return {"Records": records}


def eventbridge_event(detail: object) -> dict[str, Any]:
    """An EventBridge event carrying `detail` (sent as it is: EventBridge details are JSON objects)."""
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Task",
        "source": "task.test",
        "account": ACCOUNT,
        "time": _iso_time(),
        "region": REGION,
        "resources": [],
        "detail": detail,
    }


def http_api_event(body: object) -> dict[str, Any]:
    """An HTTP API (payload format 2.0) POST with `body`: also what a function URL sends."""
    text = _text(body)
    host = f"{API_ID}.execute-api.{REGION}.amazonaws.com"
    request_time, epoch = _request_time()
    return {
        "version": "2.0",
        "routeKey": "POST /task",
        "rawPath": "/task",
        "rawQueryString": "",
        "headers": {**_headers(host, text, "https"), "x-forwarded-port": "443"},
        "requestContext": {
            "accountId": ACCOUNT,
            "apiId": API_ID,
            "domainName": host,
            "domainPrefix": API_ID,
            "http": {
                "method": "POST",
                "path": "/task",
                "protocol": "HTTP/1.1",
                "sourceIp": SOURCE_IP,
                "userAgent": USER_AGENT,
            },
            "requestId": str(uuid.uuid4()),
            "routeKey": "POST /task",
            "stage": "$default",
            "time": request_time,
            "timeEpoch": epoch,
        },
        "body": text,
        "isBase64Encoded": False,
    }


def rest_api_event(body: object) -> dict[str, Any]:
    """An API Gateway REST API (payload format 1.0) POST with `body`, through a proxy integration."""
    text = _text(body)
    host = f"{API_ID}.execute-api.{REGION}.amazonaws.com"
    headers = {
        "Content-Type": "application/json",
        "Host": host,
        "User-Agent": USER_AGENT,
        "X-Amzn-Trace-Id": _trace_id(),
        "X-Forwarded-For": SOURCE_IP,
        "X-Forwarded-Port": "443",
        "X-Forwarded-Proto": "https",
    }
    request_time, epoch = _request_time()
    return {
        "version": "1.0",
        "resource": "/task",
        "path": "/task",
        "httpMethod": "POST",
        "headers": headers,
        "multiValueHeaders": {name: [value] for name, value in headers.items()},
        "queryStringParameters": None,
        "multiValueQueryStringParameters": None,
        "requestContext": {
            "accountId": ACCOUNT,
            "apiId": API_ID,
            "domainName": host,
            "domainPrefix": API_ID,
            "extendedRequestId": uuid.uuid4().hex[:16],
            "httpMethod": "POST",
            "identity": {
                **dict.fromkeys(_UNAUTHENTICATED_IDENTITY),
                "sourceIp": SOURCE_IP,
                "userAgent": USER_AGENT,
            },
            "path": "/prod/task",
            "protocol": "HTTP/1.1",
            "requestId": str(uuid.uuid4()),
            "requestTime": request_time,
            "requestTimeEpoch": epoch,
            "resourceId": "x1y2z3",
            "resourcePath": "/task",
            "stage": "prod",
        },
        "pathParameters": None,
        "stageVariables": None,
        "body": text,
        "isBase64Encoded": False,
    }


def alb_event(body: object, multi_value_headers: bool = False) -> dict[str, Any]:
    """An Application Load Balancer POST with `body`; with `multi_value_headers`, as a target
    group that has multi-value headers turned on sends it."""
    text = _text(body)
    headers = _headers(f"task-alb-123578498.{REGION}.elb.amazonaws.com", text, "http")
    headers["x-forwarded-port"] = "80"
    event: dict[str, Any] = {
        "requestContext": {
            "elb": {
                "targetGroupArn": f"arn:aws:elasticloadbalancing:{REGION}:{ACCOUNT}:"
                f"targetgroup/{TARGET_GROUP}"
            }
        },
        "httpMethod": "POST",
        "path": "/task",
    }
    if multi_value_headers:
        event["multiValueQueryStringParameters"] = {}
        event["multiValueHeaders"] = {name: [value] for name, value in headers.items()}
    else:
        event["queryStringParameters"] = {}
        event["headers"] = headers
    return {**event, "body": text, "isBase64Encoded": False}


def _text(body: object) -> str:
    """A body as it travels: a str as it is, anything else as JSON."""
    return body if isinstance(body, str) else json.dumps(body)


def _headers(host: str, text: str, scheme: str) -> dict[str, str]:
    """The lower-case headers of an HTTP API or ALB request carrying `text` as JSON."""
    return {
        "accept": "*/*",
        "content-length": str(len(text.encode())),
        "content-type": "application/json",
        "host": host,
        "user-agent": USER_AGENT,
        "x-amzn-trace-id": _trace_id(),
        "x-forwarded-for": SOURCE_IP,
        "x-forwarded-proto": scheme,
    }


def _trace_id() -> str:
    """An X-Ray trace header, as API Gateway and load balancers add it."""
    return f"Root=1-{int(time.time()):08x}-{uuid.uuid4().hex[:24]}"


def _epoch_ms() -> int:
    return int(time.time() * 1000)


def _iso_time() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def _request_time() -> tuple[str, int]:
    """API Gateway's requestTime text (12/Jan/2026:10:15:17 +0000) and the same time in epoch ms."""
    epoch = _epoch_ms()
    now = time.gmtime(epoch / 1000)
    month = _MONTHS[now.tm_mon - 1]  # not strftime's %b, which follows the locale
    return time.strftime(f"%d/{month}/%Y:%H:%M:%S +0000", now), epoch


# --------------------------------------------------------------------------
# Streams

#: The key attribute each DynamoDB item gets: the trigger layer leaves it out of the parameters.
ITEM_KEY = "id"


def kinesis_event(*payloads: object) -> dict[str, Any]:
    """A Kinesis Data Streams event of one record per payload, in order, shaped as AWS documents it.

    A payload that is not a `str` is JSON-encoded; the record's data is the
    base64 of its UTF-8. Sequence numbers are unique and increase.
    """
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


def dynamodb_event(*new_images: Mapping[str, object] | None) -> dict[str, Any]:
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
