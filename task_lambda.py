"""The Lambda trigger layer: which trigger sent an event, its units of work, and the answer each
trigger expects; the tasks that run the units, and log them, live in task.py."""

from __future__ import annotations

import functools
import logging

from task import LambdaTask, SourceError, Stopped, shown
from task_fields import json_kind

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from task_check import CheckReport
    from task_deadline import Deadline

__all__ = [
    "ALB",
    "DIRECT",
    "DYNAMODB",
    "EVENTBRIDGE",
    "HTTP_API",
    "KINESIS",
    "REST_API",
    "SNS",
    "SQS",
    "UNSUPPORTED",
    "JsonTextUnit",
    "Unit",
    "UnreadableRecord",
    "check_event",
    "handle_event",
    "layer_fields",
    "trigger_of",
    "units_of",
]

# The triggers, as task_lambda names them (a Unit's `trigger`).
DIRECT = "direct"  #: a direct invoke or a Step Functions task: the event holds the parameters
REST_API = "rest_api"  #: API Gateway REST API (payload 1.0)
HTTP_API = "http_api"  #: API Gateway HTTP API (payload 2.0), or a function URL (the same payload)
ALB = "alb"  #: an Application Load Balancer target group
SQS = "sqs"  #: an SQS queue, standard or FIFO
SNS = "sns"  #: an SNS topic
EVENTBRIDGE = "eventbridge"  #: an EventBridge rule
KINESIS = "kinesis"  #: a Kinesis data stream (task_streams reads its records)
DYNAMODB = "dynamodb"  #: a DynamoDB table's stream (task_streams reads its records)
UNSUPPORTED = "unsupported"  #: any other AWS source (S3, SES, Kafka, Amazon MQ, ...): a ConfigError

#: What a message about an unsupported source lists.
SUPPORTED = (
    "direct invokes and Step Functions, API Gateway REST and HTTP APIs, function URLs, "
    "Application Load Balancers, SQS, SNS, EventBridge, Kinesis Data Streams and DynamoDB Streams"
)

_HTTP_TRIGGERS = (REST_API, HTTP_API, ALB)
_STREAM_TRIGGERS = (KINESIS, DYNAMODB)
#: The triggers whose events hold "Records": the key and the value that name each record's source.
_RECORD_TRIGGERS = (
    ("eventSource", "aws:sqs", SQS),
    ("EventSource", "aws:sns", SNS),
    ("eventSource", "aws:kinesis", KINESIS),
    ("eventSource", "aws:dynamodb", DYNAMODB),
)
#: SQS and SNS message ids are UUIDs; a longer "id" is no message AWS sent.
MAX_MESSAGE_ID = 128

#: The trigger layer's own problems, beside the record task.py logs under "task" for each unit.
logger = logging.getLogger("task.lambda")


class Unit:
    """One unit of work in an event, whose payload is its parameters (an EventBridge `detail`).

    LambdaTask(event, context, unit=unit) runs a unit: its load_config() returns
    raw_parameters(), and its log record carries `message_id` (for a message) or
    `sequence_number` (for a stream record). The subclasses differ from it only in
    raw_parameters(): JsonTextUnit decodes JSON text, UnreadableRecord refuses a
    record that names no message (task_streams adds the streams' own).
    """

    __slots__ = ("_payload", "label", "message_id", "sequence_number", "source", "trigger")

    #: False for a stream record that holds no unit of work (task_streams): it is logged, never run.
    is_work = True

    def __init__(
        self,
        trigger: str,
        source: str,
        payload: object,
        *,
        label: str | None = None,
        message_id: str | None = None,
        sequence_number: str | None = None,
    ) -> None:
        #: One of the trigger names above.
        self.trigger = trigger
        #: Names the unit in messages and logs: "SQS message 059f36b4-...".
        self.source = source
        #: The queue's or topic's id for the message, exactly as it sent it; None for other units.
        self.message_id = message_id
        #: A stream record's sequence number, exactly as the stream sent it; None for other units.
        self.sequence_number = sequence_number
        #: Names the unit in a --check report: its message id or sequence number, else its trigger.
        self.label = label or trigger
        self._payload = payload

    def raw_parameters(self) -> object:
        """The raw parameters, as the event holds them (Task.run() checks their shape)."""
        return self._payload


class JsonTextUnit(Unit):
    """A unit whose payload is JSON text an invoker wrote: a request body, a queue or topic message."""

    __slots__ = ("_base64", "_holder")

    def __init__(
        self,
        trigger: str,
        source: str,
        text: object,
        *,
        holder: str,
        base64: bool = False,
        label: str | None = None,
        message_id: str | None = None,
        sequence_number: str | None = None,
    ) -> None:
        super().__init__(
            trigger, source, text, label=label, message_id=message_id, sequence_number=sequence_number
        )
        #: What holds the text, as a message names it: '"body"', '"Message"'.
        self._holder = holder
        self._base64 = base64

    def raw_parameters(self) -> object:
        """What the text decodes to, read strictly by decode_json.

        Raises a ValueError, which Task.run() turns into a ConfigError naming
        `source`: SourceError when the text is missing, is not a string, is
        not base64 (when the request says it is), or as decode_json raises it
        (a duplicated key, nesting too deep, an integer too long);
        json.JSONDecodeError when it is not JSON; UnicodeDecodeError when
        base64 decodes to bytes that are not UTF-8.
        """
        import task_sources  # only for a unit with a body: a direct invoke never loads it

        text, holder = self._payload, self._holder
        if text is None:
            raise SourceError(f"no {holder} (expected a JSON object of parameters)")
        if not isinstance(text, str):
            raise SourceError(f"{holder} must be JSON text, got {json_kind(text)}")
        if not self._base64:
            return task_sources.decode_json(text)
        import base64  # only for a base64 body: the runtime client has not loaded it

        try:
            data = base64.b64decode(text, validate=True)
        except ValueError:  # binascii.Error, or text that is not ASCII; Python's words vary by version
            raise SourceError(f"{holder} is not valid base64") from None
        return task_sources.decode_json(data)


class UnreadableRecord(Unit):
    """A queue or topic record that names no message (no `id_key`): a configuration error, never run."""

    __slots__ = ("_id_key",)

    def __init__(self, trigger: str, record: object, position: int, id_key: str) -> None:
        super().__init__(trigger, f"{trigger.upper()} record {position}", record, label=f"record {position}")
        self._id_key = id_key

    def raw_parameters(self) -> object:
        """Raises SourceError saying why the record cannot be read."""
        if isinstance(self._payload, dict):
            wanted = f"printable text of at most {MAX_MESSAGE_ID} characters"
            raise SourceError(f'no "{self._id_key}" ({wanted}), so it was not run')
        raise SourceError(f"expected a record (a JSON object), got {json_kind(self._payload)}")


class UnsupportedEvent(Unit):
    """An event from an AWS source this layer does not run (S3, SES, Kafka, ...): never read as parameters."""

    __slots__ = ()

    def __init__(self, event: object, aws_source: str) -> None:
        super().__init__(UNSUPPORTED, f"Lambda event from {shown(aws_source)}", event)

    def raw_parameters(self) -> object:
        """Raises SourceError naming the triggers this layer runs."""
        raise SourceError(f"not a trigger this function runs; it runs {SUPPORTED}")


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
        for record in records:  # AWS never mixes sources in one event: the first record that names one
            trigger = _record_trigger(record)
            if trigger is not None:
                return trigger
    if "detail-type" in event and "source" in event and "detail" in event:
        return EVENTBRIDGE
    if "eventSource" in event or isinstance(records, list):  # what AWS sources' events carry
        return UNSUPPORTED if _aws_source(event) is not None else DIRECT
    return DIRECT


def _record_trigger(record: object) -> str | None:
    """The trigger whose source a record of `Records` names, if it names one this layer runs."""
    if isinstance(record, dict):
        for key, aws_source, trigger in _RECORD_TRIGGERS:
            if record.get(key) == aws_source:
                return trigger
    return None


#: AWS sources whose events name them without the "aws:" prefix the others carry.
_SOURCES_WITHOUT_AWS_PREFIX = frozenset({"SelfManagedKafka"})


def _aws_source(event: dict[str, object]) -> str | None:
    """The AWS source that `event` ("eventSource") or one of its records ("eventSource",
    "EventSource") names, such as "aws:s3" or "aws:kafka", if any names one."""
    named = [event.get("eventSource")]
    records = event.get("Records")
    if isinstance(records, list):
        holders = [record for record in records if isinstance(record, dict)]
        named += [holder.get(key) for holder in holders for key in ("eventSource", "EventSource")]
    for source in named:
        if isinstance(source, str) and (source.startswith("aws:") or source in _SOURCES_WITHOUT_AWS_PREFIX):
            return source
    return None


def units_of(event: object) -> list[Unit]:
    """The units of work in `event`, in order: one per queue record or SNS message, else one."""
    trigger = trigger_of(event)
    if trigger == DIRECT:
        return [Unit(DIRECT, "Lambda event", event)]
    assert isinstance(event, dict)  # trigger_of() found a trigger's keys in it
    return _units(event, trigger)


def _units(event: dict[str, object], trigger: str) -> list[Unit]:
    """The units of an event that trigger_of() recognised as a trigger's (not DIRECT)."""
    if trigger in _HTTP_TRIGGERS:
        base64_encoded = event.get("isBase64Encoded") is True
        return [
            JsonTextUnit(trigger, "HTTP request", event.get("body"), holder='"body"', base64=base64_encoded)
        ]
    if trigger == EVENTBRIDGE:
        event_id = event.get("id")
        source = f"EventBridge event {shown(event_id)}" if isinstance(event_id, str) else "EventBridge event"
        return [Unit(EVENTBRIDGE, source, event["detail"])]
    if trigger == UNSUPPORTED:
        aws_source = _aws_source(event)
        assert aws_source is not None  # trigger_of() found it
        return [UnsupportedEvent(event, aws_source)]
    records = event["Records"]
    assert isinstance(records, list)  # trigger_of() found a queue's, a topic's or a stream's records in it
    if trigger in _STREAM_TRIGGERS:
        import task_streams  # only for a stream's records: no other event loads it

        unit_of_record = task_streams.kinesis_unit if trigger == KINESIS else task_streams.dynamodb_unit
    else:
        unit_of_record = _sqs_unit if trigger == SQS else _sns_unit
    return [unit_of_record(record, position) for position, record in enumerate(records, 1)]


def _sqs_unit(record: object, position: int) -> Unit:
    message_id = _message_id(record, "messageId")
    if message_id is None:
        return UnreadableRecord(SQS, record, position, "messageId")
    assert isinstance(record, dict)  # it holds a message id
    return JsonTextUnit(
        SQS,
        f"SQS message {message_id}",
        record.get("body"),
        holder='"body"',
        label=message_id,
        message_id=message_id,
    )


def _sns_unit(record: object, position: int) -> Unit:
    notification = record.get("Sns") if isinstance(record, dict) else None
    message_id = _message_id(notification, "MessageId")
    if message_id is None:
        return UnreadableRecord(SNS, record, position, "Sns.MessageId")
    assert isinstance(notification, dict)  # it holds a message id
    return JsonTextUnit(
        SNS,
        f"SNS message {message_id}",
        notification.get("Message"),
        holder='"Message"',
        label=message_id,
        message_id=message_id,
    )


def _message_id(holder: object, key: str) -> str | None:
    """The message id `holder` carries, if it is one that messages, responses and logs can repeat
    as it is: printable (which also refuses lone surrogates) and no longer than AWS makes them."""
    message_id = holder.get(key) if isinstance(holder, dict) else None
    if isinstance(message_id, str) and 0 < len(message_id) <= MAX_MESSAGE_ID and message_id.isprintable():
        return message_id
    return None


# --------------------------------------------------------------------------
# Running the units, and answering as each trigger expects


def handle_event(
    task_class: type[LambdaTask], event: object, context: object, *, environ: Mapping[str, str] | None = None
) -> object:
    """Run `task_class` (as LambdaWidget) once per unit of work in `event`; answer as its trigger expects.

    What assignment.handler does. HTTP triggers get a response (200; 400 for a
    ConfigError; 503 for StoreUnavailable; 500 for any other exception, or a
    result that is not JSON);
    SQS gets the records that failed in `batchItemFailures`, a stream the first
    (task_streams); for SNS, EventBridge, a direct invoke and an unsupported
    source an exception propagates (run() has scrubbed its secrets) and Lambda
    reports it, as an Exception whatever the business logic raised. A batch
    starts no record too close to the deadline (task_deadline). `environ`
    replaces os.environ for the tasks, as in LambdaTask.
    """
    make_task: Callable[..., LambdaTask] = task_class
    if environ is not None:  # for tests and the command line; in Lambda the tasks read os.environ
        make_task = functools.partial(task_class, environ=environ)
    try:
        trigger = trigger_of(event)
        if trigger == DIRECT:  # the event is the parameters: LambdaTask reads and names it with no Unit
            return make_task(event, context).run()
        assert isinstance(event, dict)  # trigger_of() found a trigger's keys in it

        def task_for(unit: Unit) -> LambdaTask:
            return make_task(event, context, unit=unit)

        units = _units(event, trigger)
        if trigger in _HTTP_TRIGGERS:
            import task_http  # only for a request: a direct invoke or a queue never loads it

            return task_http.http_response(task_for(units[0]), event, alb=trigger == ALB)
        if trigger == SQS:
            return _batch_response(task_for, _is_fifo(event), units, _deadline(context, task_class, environ))
        if trigger in _STREAM_TRIGGERS:
            import task_streams  # _units() has loaded it

            return task_streams.stream_response(task_for, units, _deadline(context, task_class, environ))
        if trigger == SNS:
            for unit in units:
                task_for(unit).run()
            return None  # Lambda discards what an SNS-triggered function returns
        return task_for(units[0]).run()  # EventBridge; an unsupported source raises its ConfigError
    except (Exception, Stopped):
        raise
    except BaseException as error:  # SystemExit or the like from the business logic: it fails the unit
        from task_secrets import as_exception

        failure = as_exception(error)  # the runtime client would end the warm process on any other
    raise failure  # outside the except block, which would chain the original to it


def check_event(
    task_class: type[LambdaTask],
    event: object,
    *,
    environ: Mapping[str, str] | None = None,
    resolve: bool = True,
) -> list[tuple[str, CheckReport]]:
    """Validate every unit of work in `event` without running any: (label, report) per unit.

    A queue record's label is its message id, a stream record's its sequence
    number; any other unit's is its trigger. A stream record that holds no unit
    of work is left out. With resolve=False no reference is read.
    """
    return [
        (unit.label, task_class(event, None, environ=environ, unit=unit).check(resolve=resolve))
        for unit in units_of(event)
        if unit.is_work
    ]


def _deadline(context: object, task_class: type[LambdaTask], environ: Mapping[str, str] | None) -> Deadline:
    """When a batch stops starting records: by the context, and the reserve the tasks' environment sets."""
    from task_deadline import Deadline  # only for a batch: a single unit has no records to hold back

    return Deadline(context, task_class.environ if environ is None else environ)


def layer_fields(task: LambdaTask, outcome: str) -> dict[str, object]:
    """The fields of a record this layer logs about a unit (logger "task.lambda"), as the unit's own
    record has them: a skipped stream record, records left by the deadline."""
    return {
        "task": task.name,
        "runtime": task.runtime,
        "outcome": outcome,
        "source": task.describe_source(),
        **task.log_fields(),
    }


def _batch_response(
    task_for: Callable[[Unit], LambdaTask], fifo: bool, units: list[Unit], deadline: Deadline
) -> dict[str, list[dict[str, str]]]:
    """Run each queue record, and list those that failed so that only they return to the queue.

    In a FIFO queue the records after the first failure are not run and are
    listed too, so that the queue hands them out again in order. A record
    without a message id is listed with an empty one, which makes Lambda
    return the whole batch to the queue: a record nobody can name is not lost.
    Near the deadline the records not yet started are listed, unrun.
    """
    failures: list[dict[str, str]] = []
    for position, unit in enumerate(units):
        if fifo and failures:
            failures.append({"itemIdentifier": unit.message_id or ""})  # not run, to keep the order
            continue
        if deadline.stops(task_for, units, position):
            failures.extend({"itemIdentifier": rest.message_id or ""} for rest in units[position:])
            break
        try:
            task_for(unit).run()
        except Stopped:
            raise
        except BaseException:  # run() logged it; a SystemExit from the business logic fails this record only
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
