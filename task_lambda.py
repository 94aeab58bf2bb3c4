"""The Lambda trigger layer: which trigger sent an event, its units of work, and the answer each
trigger expects; the tasks that run the units, and log them, live in task.py."""

from __future__ import annotations

import json

from task import ConfigError, LambdaTask, SourceError, json_kind, runnable, shown
from task_sources import decode_json

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping

    from task_check import CheckReport

__all__ = [
    "ALB",
    "DIRECT",
    "EVENTBRIDGE",
    "HTTP_API",
    "REST_API",
    "SNS",
    "SQS",
    "Unit",
    "check_event",
    "handle_event",
    "trigger_of",
    "units_of",
]

# The triggers, as the `trigger` field of each unit's log record names them.
DIRECT = "direct"  #: a direct invoke or a Step Functions task: the event holds the parameters
REST_API = "rest_api"  #: API Gateway REST API (payload 1.0)
HTTP_API = "http_api"  #: API Gateway HTTP API (payload 2.0), or a function URL (the same payload)
ALB = "alb"  #: an Application Load Balancer target group
SQS = "sqs"  #: an SQS queue, standard or FIFO
SNS = "sns"  #: an SNS topic
EVENTBRIDGE = "eventbridge"  #: an EventBridge rule

_HTTP_TRIGGERS = (REST_API, HTTP_API, ALB)
_STATUS_TEXT = {200: "200 OK", 400: "400 Bad Request", 500: "500 Internal Server Error"}


class Unit:
    """One unit of work in an event: where its parameters are, and how messages and logs name it.

    LambdaTask(event, context, unit=unit) runs it: its load_config() returns
    parameters(), and its log record carries `trigger` and `message_id`.
    """

    __slots__ = ("_base64", "_payload", "_problem", "_text_name", "label", "message_id", "source", "trigger")

    def __init__(
        self,
        trigger: str,
        source: str,
        payload: object,
        *,
        label: str | None = None,
        message_id: str | None = None,
        text_name: str | None = None,
        base64: bool = False,
        problem: str | None = None,
    ) -> None:
        #: One of the trigger names above.
        self.trigger = trigger
        #: Names the unit in messages and logs: "SQS message 059f36b4-...".
        self.source = source
        #: The queue's or topic's id for the message, exactly as it sent it; None for other units.
        self.message_id = message_id
        #: Names the unit in a --check report: its message id, else its trigger.
        self.label = label or trigger
        self._payload = payload
        #: None when the payload is the parameters; else what holds their JSON text ("the body").
        self._text_name = text_name
        self._base64 = base64
        #: Why the unit cannot be read at all (a record that is not one), said when it loads.
        self._problem = problem

    def parameters(self) -> object:
        """The raw parameters: the payload itself, or what its JSON text decodes to.

        Raises SourceError (a ValueError) when the text is missing or is not
        JSON; Task.run() turns it into a ConfigError naming `source`.
        """
        if self._problem is not None:
            raise SourceError(self._problem)
        if self._text_name is None:
            return self._payload
        return _decode_text(self._payload, self._text_name, base64_encoded=self._base64)


def _decode_text(text: object, name: str, *, base64_encoded: bool) -> object:
    """Decode the JSON text an invoker wrote (a body, a message) strictly, as decode_json does."""
    if text is None:
        raise SourceError(f"no {name} (expected a JSON object of parameters)")
    if not isinstance(text, str):
        raise SourceError(f"{name} must be JSON text, got {json_kind(text)}")
    if not base64_encoded:
        return decode_json(text)
    import base64  # only for a base64 body: the runtime client has not loaded it

    try:
        data = base64.b64decode(text, validate=True)
    except ValueError as exc:  # binascii.Error, or text that is not ASCII
        raise SourceError(f"{name} is not valid base64 ({shown(str(exc))})") from None
    return decode_json(data)


# --------------------------------------------------------------------------
# Recognising the trigger, and finding the units of work


def trigger_of(event: object) -> str:
    """The trigger that sent `event`, recognised by its shape; DIRECT for any other event."""
    if not isinstance(event, dict):
        return DIRECT
    request_context = event.get("requestContext")
    if isinstance(request_context, dict):
        if "elb" in request_context:  # before REST: an ALB event has an httpMethod too
            return ALB
        if "httpMethod" in event:
            return REST_API
        if event.get("version") == "2.0" and "http" in request_context:
            return HTTP_API
    records = event.get("Records")
    if isinstance(records, list):
        if any(isinstance(record, dict) and record.get("eventSource") == "aws:sqs" for record in records):
            return SQS
        if any(isinstance(record, dict) and record.get("EventSource") == "aws:sns" for record in records):
            return SNS
    if "detail-type" in event and "source" in event and "detail" in event:
        return EVENTBRIDGE
    return DIRECT


def units_of(event: object) -> list[Unit]:
    """The units of work in `event`, in order: one per queue record or SNS message, else one."""
    return _units(event, trigger_of(event))


def _units(event: object, trigger: str) -> list[Unit]:
    if trigger == DIRECT or not isinstance(event, dict):
        return [Unit(DIRECT, "Lambda event", event)]
    if trigger in _HTTP_TRIGGERS:
        base64_encoded = event.get("isBase64Encoded") is True
        return [Unit(trigger, "HTTP request", event.get("body"), text_name="body", base64=base64_encoded)]
    if trigger == EVENTBRIDGE:
        event_id = event.get("id")
        source = f"EventBridge event {shown(event_id)}" if isinstance(event_id, str) else "EventBridge event"
        return [Unit(EVENTBRIDGE, source, event["detail"])]
    records: list[object] = event["Records"]
    unit_of_record = _sqs_unit if trigger == SQS else _sns_unit
    return [unit_of_record(record, position) for position, record in enumerate(records, 1)]


def _sqs_unit(record: object, position: int) -> Unit:
    message_id = _message_id(record, "messageId")
    if message_id is None:
        return _unreadable(SQS, record, position, "messageId")
    assert isinstance(record, dict)  # it holds a message id
    return Unit(
        SQS,
        f"SQS message {shown(message_id)}",
        record.get("body"),
        label=shown(message_id),
        message_id=message_id,
        text_name='"body"',
    )


def _sns_unit(record: object, position: int) -> Unit:
    notification = record.get("Sns") if isinstance(record, dict) else None
    message_id = _message_id(notification, "MessageId")
    if message_id is None:
        return _unreadable(SNS, record, position, "Sns.MessageId")
    assert isinstance(notification, dict)  # it holds a message id
    return Unit(
        SNS,
        f"SNS message {shown(message_id)}",
        notification.get("Message"),
        label=shown(message_id),
        message_id=message_id,
        text_name='"Message"',
    )


def _message_id(holder: object, key: str) -> str | None:
    """The message id `holder` carries, if it is one a response and a log line can hold as is."""
    message_id = holder.get(key) if isinstance(holder, dict) else None
    # isprintable() also refuses lone surrogates, which no response or JSON log line can encode.
    return message_id if isinstance(message_id, str) and message_id and message_id.isprintable() else None


def _unreadable(trigger: str, record: object, position: int, id_key: str) -> Unit:
    """A record that names no message: a configuration error for that record, never run."""
    if isinstance(record, dict):
        problem = f'no "{id_key}" (a non-empty string of printable characters), so it was not run'
    else:
        problem = f"expected a record (a JSON object), got {json_kind(record)}"
    source = f"{trigger.upper()} record {position}"
    return Unit(trigger, source, None, label=f"record {position}", problem=problem)


# --------------------------------------------------------------------------
# Running the units, and answering as each trigger expects


def handle_event(business: type, event: object, context: object) -> object:
    """Run `business` once per unit of work in `event`, and answer as its trigger expects.

    What assignment.handler does. HTTP triggers get a response (200; 400 for a
    ConfigError; 500 for any other exception); SQS gets the records that failed
    in `batchItemFailures`; for SNS, EventBridge and a direct invoke an
    exception propagates (run() has scrubbed its secrets) and Lambda reports it.
    """
    trigger = trigger_of(event)
    task_class = runnable(business, LambdaTask)
    if trigger == DIRECT:  # the event is the parameters
        return task_class(event, context).run()
    units = _units(event, trigger)
    if trigger in _HTTP_TRIGGERS:
        assert isinstance(event, dict)  # trigger_of() found a request in it
        return _http_response(task_class(event, context, unit=units[0]), event, trigger)
    if trigger == SQS:
        return _batch_response(task_class, event, context, units)
    if trigger == SNS:
        for unit in units:
            task_class(event, context, unit=unit).run()
        return None  # Lambda discards what an SNS-triggered function returns
    return task_class(event, context, unit=units[0]).run()  # EventBridge


def check_event(
    business: type, event: object, *, environ: Mapping[str, str] | None = None
) -> list[tuple[str, CheckReport]]:
    """Validate every unit of work in `event` without running any: (label, report) per unit.

    A queue record's label is its message id; any other unit's is its trigger.
    """
    task_class = runnable(business, LambdaTask)
    return [
        (unit.label, task_class(event, None, environ=environ, unit=unit).check()) for unit in units_of(event)
    ]


def _http_response(task: LambdaTask, event: dict[str, object], trigger: str) -> dict[str, object]:
    """Run the task of an API Gateway, function URL or load balancer request, and answer it."""
    try:
        status, body = 200, task.run()
    except ConfigError as error:
        status, body = 400, {"errorType": type(error).__name__, "errorMessage": str(error)}
    except Exception:  # run() logged it, traceback and all; the caller learns nothing of it
        status, body = (
            500,
            {
                "errorMessage": "internal error: the function's log says why",
                "requestId": getattr(task.context, "aws_request_id", None),
            },
        )
    response: dict[str, object] = {"statusCode": status}
    if trigger == ALB:
        response["statusDescription"] = _STATUS_TEXT[status]
    if trigger == ALB and "multiValueHeaders" in event:  # the target group has multi-value headers on
        response["multiValueHeaders"] = {"Content-Type": ["application/json"]}
    else:
        response["headers"] = {"Content-Type": "application/json"}
    response["body"] = json.dumps(body)
    response["isBase64Encoded"] = False
    return response


def _batch_response(
    task_class: type[LambdaTask], event: object, context: object, units: list[Unit]
) -> dict[str, list[dict[str, str]]]:
    """Run each queue record, and list those that failed so that only they return to the queue.

    In a FIFO queue the records after the first failure are not run and are
    listed too, so that the queue hands them out again in order. A record
    without a message id is listed with an empty one, which makes Lambda
    return the whole batch to the queue: a record nobody can name is not lost.
    """
    fifo = _is_fifo(event)
    failures: list[dict[str, str]] = []
    for unit in units:
        if fifo and failures:
            failures.append({"itemIdentifier": unit.message_id or ""})  # not run, to keep the order
            continue
        try:
            task_class(event, context, unit=unit).run()
        except Exception:  # run() logged it
            failures.append({"itemIdentifier": unit.message_id or ""})
    return {"batchItemFailures": failures}


def _is_fifo(event: object) -> bool:
    """Whether the records come from a FIFO queue: its ARN, so its name, ends in ".fifo"."""
    records = event.get("Records") if isinstance(event, dict) else None
    return isinstance(records, list) and any(
        isinstance(record, dict)
        and isinstance(record.get("eventSourceARN"), str)
        and record["eventSourceARN"].endswith(".fifo")
        for record in records
    )
