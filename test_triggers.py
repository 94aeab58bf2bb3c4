"""Lambda triggers, in this process: each trigger's event through assignment.handler, and its answer."""

from __future__ import annotations

import base64
import datetime
import json
import logging
import math
from typing import Any, ClassVar

import pytest

from assignment import LambdaWidget, WidgetParams, handler
from conftest import DROP, PROJECT_DIR, SECRET, Failing, shipped_result, widget_params
from task import ConfigError, LambdaTask, Parameters, SourceError, runnable
from task_lambda import check_event, handle_event, trigger_of, units_of
from task_testing import FakeLambdaContext, dynamodb_event

EVENTS_DIR = PROJECT_DIR / "fixtures" / "events"
RESULT = shipped_result("lambda")

#: Each shipped event: the trigger its records name, and its units' message ids (None: not a queue's).
SHIPPED: dict[str, tuple[str, list[str | None]]] = {
    "direct": ("direct", [None]),
    "rest_api": ("rest_api", [None]),
    "http_api": ("http_api", [None]),
    "function_url": ("http_api", [None]),
    "alb": ("alb", [None]),
    "alb_multi_value_headers": ("alb", [None]),
    "sqs": ("sqs", ["059f36b4-87a3-44ab-83d2-661975830a7d", "2e1424d4-f796-459a-8184-9c92662be6da"]),
    "sqs_fifo": ("sqs", ["11d6ee51-4cc7-4302-9e22-7cd8afdaadf5", "a7c3e1f0-5b2d-4e8a-9c6f-0d1e2f3a4b5c"]),
    "sns": ("sns", ["95df01b4-ee98-5cb9-9903-4c221d41eb5e"]),
    "eventbridge": ("eventbridge", [None]),
    "kinesis": ("kinesis", [None, None]),
    "dynamodb": ("dynamodb", [None, None]),  # and a removed item's record, which runs nothing
}
#: The shipped batches with a bad record in the middle.
MIXED = ["sqs_mixed", "kinesis_mixed", "dynamodb_mixed"]
HTTP = ["rest_api", "http_api", "function_url", "alb", "alb_multi_value_headers"]
QUEUES = ["sqs", "sqs_fifo"]
STREAMS = ["kinesis", "dynamodb"]
#: The triggers whose caller gets an exception (Lambda reports it) rather than an answer.
RAISING = ["direct", "sns", "eventbridge"]
#: The triggers whose parameters arrive as JSON text (a body, a message, a Kinesis record's data).
TEXT = [*HTTP, *QUEUES, "sns", "kinesis"]

#: How a message names each shipped event's (first) unit.
SOURCE = {
    **dict.fromkeys(HTTP, "HTTP request"),
    "direct": "Lambda event",
    "sqs": "SQS message 059f36b4-87a3-44ab-83d2-661975830a7d",
    "sqs_fifo": "SQS message 11d6ee51-4cc7-4302-9e22-7cd8afdaadf5",
    "sns": "SNS message 95df01b4-ee98-5cb9-9903-4c221d41eb5e",
    "eventbridge": "EventBridge event 6a7e8feb-b491-4cf7-a9f1-bf3703467718",
    "kinesis": "Kinesis record 49668130129451437270584374510376146253128491213468971010",
    "dynamodb": "DynamoDB record 4421584500000000017450439091",
}

JSON_HEADERS = {"Content-Type": "application/json"}
HTTP_OK = {"statusCode": 200, "headers": JSON_HEADERS, "body": RESULT, "isBase64Encoded": False}
#: What each shipped event gets back, with an HTTP response's body decoded.
SUCCESS: dict[str, object] = {
    "direct": RESULT,
    "eventbridge": RESULT,
    **dict.fromkeys(["rest_api", "http_api", "function_url"], HTTP_OK),
    "alb": {**HTTP_OK, "statusDescription": "200 OK"},
    "alb_multi_value_headers": {
        "statusCode": 200,
        "statusDescription": "200 OK",
        "multiValueHeaders": {"Content-Type": ["application/json"]},
        "body": RESULT,
        "isBase64Encoded": False,
    },
    "sqs": {"batchItemFailures": []},
    "sqs_fifo": {"batchItemFailures": []},
    "sns": None,
    "kinesis": {"batchItemFailures": []},
    "dynamodb": {"batchItemFailures": []},
}


def shipped(name: str) -> dict[str, Any]:
    event: dict[str, Any] = json.loads((EVENTS_DIR / f"{name}.json").read_text(encoding="utf-8"))
    return event


def with_text(name: str, text: object) -> dict[str, Any]:
    """The shipped event with the JSON text of its one unit replaced (DROP removes it); a queue's
    event keeps one record."""
    event = shipped(name)
    holder, key = event, "body"
    if name in QUEUES:
        event["Records"] = event["Records"][:1]
        holder = event["Records"][0]
    elif name == "sns":
        holder, key = event["Records"][0]["Sns"], "Message"
    elif name == "kinesis":
        event["Records"] = event["Records"][:1]
        holder, key = event["Records"][0]["kinesis"], "data"
    if text is DROP:
        del holder[key]
    elif isinstance(text, str) and (event.get("isBase64Encoded") or name == "kinesis"):
        holder[key] = base64.b64encode(text.encode()).decode()
    else:
        holder[key] = text
    return event


def with_parameters(name: str, params: object) -> dict[str, Any]:
    """The shipped event with its one unit's parameters replaced by `params`."""
    if name == "direct":
        return params  # type: ignore[return-value]  # the event is the parameters
    if name == "eventbridge":
        return {**shipped(name), "detail": params}
    if name == "dynamodb":  # one record, its image typed as DynamoDB writes it, beside the item's key
        assert isinstance(params, dict)
        event = shipped(name)
        event["Records"] = event["Records"][:1]
        change = event["Records"][0]["dynamodb"]
        typed: Any = dynamodb_event(params)["Records"]
        change["NewImage"] = {**typed[0]["dynamodb"]["NewImage"], **change["Keys"]}
        return event
    return with_text(name, json.dumps(params))


def item_identifier(record: dict[str, Any]) -> str:
    """How a batch's answer names a record: a queue's by its message id, a stream's by its sequence number."""
    if "kinesis" in record:
        return str(record["kinesis"]["sequenceNumber"])
    if "dynamodb" in record:
        return str(record["dynamodb"]["SequenceNumber"])
    return str(record["messageId"])


def decoded(answer: Any) -> Any:
    """The answer, with an HTTP response's JSON body decoded."""
    if isinstance(answer, dict) and isinstance(answer.get("body"), str):
        return {**answer, "body": json.loads(answer["body"])}
    return answer


def task_records(caplog: pytest.LogCaptureFixture) -> list[Any]:
    """The library's records, one per unit that ran; typed Any, since their fields are `extra`."""
    return [record for record in caplog.records if record.name == "task"]


def accepted(event: object, caplog: pytest.LogCaptureFixture) -> Any:
    """Invoke; assert the unit ran, as its trigger reports success; Widget's result when it carries one."""
    caplog.set_level(logging.INFO, logger="task")
    answer = decoded(handler(event, FakeLambdaContext()))
    assert [record.outcome for record in task_records(caplog)] == ["ok"]
    if isinstance(answer, dict) and "statusCode" in answer:
        assert answer["statusCode"] == 200
        return answer["body"]
    if isinstance(answer, dict) and "batchItemFailures" in answer:
        assert answer == {"batchItemFailures": []}
        return None
    return answer


def refused(event: Any, caplog: pytest.LogCaptureFixture) -> str:
    """Invoke; assert the unit was refused as its trigger reports a ConfigError; the error's message.

    Whatever the event holds, the answer is text that any UTF-8 encoder accepts.
    """
    answer: Any
    try:
        answer = handler(event, FakeLambdaContext())
    except ConfigError as error:
        answer = message = str(error)
    else:
        if "batchItemFailures" in answer:
            assert answer == {"batchItemFailures": [{"itemIdentifier": item_identifier(event["Records"][0])}]}
            (record,) = task_records(caplog)
            message = record.getMessage().removeprefix("widget: configuration error: ")
        else:
            assert (answer["statusCode"], answer["isBase64Encoded"]) == (400, False)
            body = json.loads(answer["body"])
            assert body["errorType"] == "ConfigError"
            message = body["errorMessage"]
    assert [record.outcome for record in task_records(caplog)] == ["config_error"]
    json.dumps(answer, ensure_ascii=False).encode("utf-8")  # as the runtime client encodes from Python 3.12
    return message


def test_every_shipped_event_is_specified_here() -> None:
    assert {path.stem for path in EVENTS_DIR.glob("*.json")} == {*SHIPPED, *MIXED}


# --------------------------------------------------------------------------
# Each trigger's shipped event


@pytest.mark.parametrize("name", SHIPPED)
def test_each_shipped_event_gets_the_answer_its_trigger_expects(name: str) -> None:
    assert decoded(handler(shipped(name), FakeLambdaContext())) == SUCCESS[name]


@pytest.mark.parametrize("name", SHIPPED)
def test_each_unit_of_work_logs_one_record_naming_its_source_request_and_message(
    name: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="task")
    context = FakeLambdaContext()
    handler(shipped(name), context)
    _, message_ids = SHIPPED[name]
    records = task_records(caplog)
    assert [(record.outcome, record.request_id) for record in records] == [
        ("ok", context.aws_request_id)
    ] * len(message_ids)
    assert records[0].source == SOURCE[name]
    assert [getattr(record, "message_id", None) for record in records] == message_ids


@pytest.mark.parametrize(
    ("event", "trigger"),
    [
        pytest.param(shipped("alb"), "alb", id="ALB-before-REST"),
        pytest.param({**shipped("http_api"), "version": "1.0"}, "direct", id="HTTP-API-needs-version-2.0"),
        pytest.param(
            {**shipped("eventbridge"), "detail-type": None}, "eventbridge", id="EventBridge-by-keys"
        ),
        pytest.param({"Records": [{"eventSource": "aws:s3"}]}, "unsupported", id="other-AWS-records"),
        pytest.param({"requestContext": "x", "httpMethod": "POST"}, "direct", id="context-not-an-object"),
    ],
)
def test_the_trigger_is_recognised_by_the_events_shape_alone(event: dict[str, Any], trigger: str) -> None:
    assert trigger_of(event) == trigger


def test_a_direct_events_one_unit_is_the_event_named_as_the_task_names_it_without_a_unit() -> None:
    event = widget_params()
    ((unit,), task) = units_of(event), LambdaWidget(event)
    assert (unit.trigger, unit.source, unit.raw_parameters()) == ("direct", task.describe_source(), event)


# --------------------------------------------------------------------------
# Parameters, whichever trigger brings them


@pytest.mark.parametrize("name", SHIPPED)
def test_wrong_parameters_are_a_configuration_error_naming_the_unit_and_every_problem(
    name: str, caplog: pytest.LogCaptureFixture
) -> None:
    message = refused(with_parameters(name, widget_params(port="5432", user=None)), caplog)
    assert message == (
        f"{SOURCE[name]}: 2 problems: port: expected an integer from 1 to 65535, got a string; "
        "user: expected a string, got null"
    )
    assert SECRET not in message + caplog.text


@pytest.mark.parametrize("name", SHIPPED)
def test_a_reference_to_a_listed_variable_fills_a_secret(
    name: str, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DB_PASSWORD", SECRET)
    monkeypatch.setenv("TASK_ENV_REFS", "DB_PASSWORD")
    result = accepted(with_parameters(name, widget_params(password={"$env": "DB_PASSWORD"})), caplog)
    assert result is None or result["password"] == "***"
    assert SECRET not in json.dumps(result) + caplog.text


@pytest.mark.parametrize("name", SHIPPED)
def test_a_reference_to_an_unlisted_variable_is_refused(
    name: str, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET)
    monkeypatch.setenv("TASK_ENV_REFS", "DB_PASSWORD")
    message = refused(
        with_parameters(name, widget_params(password={"$env": "AWS_SECRET_ACCESS_KEY"})), caplog
    )
    assert message == (
        f"{SOURCE[name]}: password: $env AWS_SECRET_ACCESS_KEY is not allowed: TASK_ENV_REFS does not list it"
    )
    assert SECRET not in caplog.text


@pytest.mark.parametrize("name", SHIPPED)
def test_a_reference_in_a_plain_field_is_refused_even_to_a_listed_variable(
    name: str, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DB_PASSWORD", SECRET)
    monkeypatch.setenv("TASK_ENV_REFS", "DB_PASSWORD")
    message = refused(with_parameters(name, widget_params(host={"$env": "DB_PASSWORD"})), caplog)
    assert message.startswith(f"{SOURCE[name]}: host: $env references are allowed only for secret parameters")
    assert SECRET not in message + caplog.text


@pytest.mark.parametrize("name", SHIPPED)
def test_a_lone_surrogate_key_is_an_ordinary_error_that_any_encoder_accepts(
    name: str, caplog: pytest.LogCaptureFixture
) -> None:
    message = refused(with_parameters(name, widget_params(**{"\ud800\n": 1})), caplog)
    assert (
        message
        == f"{SOURCE[name]}: \\ud800\\n: unknown parameter (known: {', '.join(WidgetParams.field_names())})"
    )
    caplog.text.encode()


# --------------------------------------------------------------------------
# Bodies and messages: JSON text an invoker wrote

BAD_TEXT = [
    pytest.param("widget please", "not valid JSON: Expecting value at line 1, column 1", id="not-JSON"),
    pytest.param("", "empty: expected a JSON object", id="empty"),
    pytest.param("[1, 2]", "expected a JSON object of parameters, got an array", id="array"),
    pytest.param('"host"', "expected a JSON object of parameters, got a string", id="string"),
    pytest.param(
        '{"host": "a", "host": "b", "database": "d", "user": "u", "password": "p"}',
        "the key 'host' appears more than once in one object",
        id="duplicate-key",
    ),
    pytest.param(
        "[" * 100_000 + "]" * 100_000,
        "nested too deeply to read (more than 500 levels at line 1, column 501)",
        id="too-deep",
    ),
    pytest.param(
        '{"port": ' + "9" * 5000 + "}",
        "an integer of more than 4,300 digits at line 1, column 10",
        id="huge-int",
    ),
]


@pytest.mark.parametrize("name", TEXT)
@pytest.mark.parametrize(("text", "problem"), BAD_TEXT)
def test_a_body_or_message_that_is_not_one_json_object_is_a_configuration_error(
    name: str, text: str, problem: str, caplog: pytest.LogCaptureFixture
) -> None:
    assert refused(with_text(name, text), caplog) == f"{SOURCE[name]}: {problem}"


#: What holds the JSON text, as a message names it: the key, quoted, whatever the trigger.
TEXT_NAME = {**dict.fromkeys([*HTTP, *QUEUES], '"body"'), "sns": '"Message"', "kinesis": '"data"'}


@pytest.mark.parametrize("name", TEXT)
@pytest.mark.parametrize("text", [DROP, None], ids=["absent", "null"])
def test_a_missing_body_or_message_is_a_configuration_error(
    name: str, text: object, caplog: pytest.LogCaptureFixture
) -> None:
    assert refused(with_text(name, text), caplog) == (
        f"{SOURCE[name]}: no {TEXT_NAME[name]} (expected a JSON object of parameters)"
    )


@pytest.mark.parametrize("name", TEXT)
def test_a_body_or_message_that_is_an_object_rather_than_json_text_is_a_configuration_error(
    name: str, caplog: pytest.LogCaptureFixture
) -> None:
    assert refused(with_text(name, widget_params()), caplog) == (
        f"{SOURCE[name]}: {TEXT_NAME[name]} must be JSON text, got an object"
    )


@pytest.mark.parametrize(
    ("event", "error_type"),
    [
        pytest.param(with_text("sqs", DROP), SourceError, id="missing"),
        pytest.param(with_text("sqs", "widget please"), json.JSONDecodeError, id="not-JSON"),
        pytest.param(
            {**shipped("function_url"), "body": base64.b64encode(b"\xff").decode()},
            UnicodeDecodeError,
            id="not-UTF-8",
        ),
    ],
)
def test_reading_a_units_text_raises_a_value_error_for_run_to_explain(
    event: dict[str, Any], error_type: type[ValueError]
) -> None:
    (unit,) = units_of(event)
    with pytest.raises(error_type):
        unit.raw_parameters()


@pytest.mark.parametrize("name", ["rest_api", "http_api", "alb"])
def test_a_base64_request_body_is_decoded(name: str, caplog: pytest.LogCaptureFixture) -> None:
    event = {**with_parameters(name, widget_params(host="from.base64")), "isBase64Encoded": True}
    event["body"] = base64.b64encode(event["body"].encode()).decode()
    assert accepted(event, caplog)["host"] == "from.base64"


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        pytest.param("not base64!", '"body" is not valid base64', id="not-base64"),
        pytest.param("é", '"body" is not valid base64', id="not-ASCII"),
        pytest.param(
            base64.b64encode(b'{"host": "\xff"}').decode(),
            "not UTF-8 text (bad byte at offset 10)",
            id="not-UTF-8",
        ),
    ],
)
def test_a_base64_body_that_does_not_decode_is_a_configuration_error(
    body: str, problem: str, caplog: pytest.LogCaptureFixture
) -> None:
    event = shipped("function_url")
    event["body"] = body
    assert refused(event, caplog) == f"HTTP request: {problem}"


# --------------------------------------------------------------------------
# Failures of the business logic


class LeakyFailing(Failing):
    """Fails with the secret in its message, as careless business code might."""

    def execute(self, params: WidgetParams) -> dict[str, object]:
        raise RuntimeError(f"the database refused {params.password.reveal()}")


@pytest.mark.parametrize("name", HTTP)
def test_a_failure_of_the_business_logic_is_a_500_that_says_nothing_of_it(
    name: str, caplog: pytest.LogCaptureFixture
) -> None:
    context = FakeLambdaContext()
    answer = handle_event(runnable(LeakyFailing, LambdaTask), with_parameters(name, widget_params()), context)
    assert answer["statusCode"] == 500  # type: ignore[index]
    assert json.loads(answer["body"]) == {  # type: ignore[index]
        "errorMessage": "internal error: the function's log says why",
        "requestId": context.aws_request_id,
    }
    (record,) = task_records(caplog)
    assert (record.outcome, record.getMessage()) == ("failed", "failing: failed: the database refused ***")
    assert SECRET not in caplog.text


def returning(result: object) -> type:
    """A business task whose logic returns `result`."""

    class Returning:
        name: ClassVar[str] = "returning"
        parameters: ClassVar[type[Parameters]] = WidgetParams

        def execute(self, params: WidgetParams) -> object:
            return result

    return Returning


#: Results that are not JSON, and the start of what json.dumps says of each.
NOT_JSON = [
    pytest.param(
        {"when": datetime.date(2024, 1, 31)}, "Object of type date is not JSON serializable", id="date"
    ),
    pytest.param({"ratio": math.nan}, "Out of range float values are not JSON compliant", id="NaN"),
    pytest.param({"ratio": -math.inf}, "Out of range float values are not JSON compliant", id="infinity"),
]


@pytest.mark.parametrize("name", HTTP)
@pytest.mark.parametrize(("result", "problem"), NOT_JSON)
def test_a_result_that_is_not_json_is_a_500_that_says_nothing_of_it_and_is_logged_as_an_error(
    name: str, result: object, problem: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="task")
    context = FakeLambdaContext()
    answer: Any = handle_event(
        runnable(returning(result), LambdaTask), with_parameters(name, widget_params()), context
    )
    assert answer["statusCode"] == 500
    assert json.loads(answer["body"]) == {
        "errorMessage": "internal error: the function's log says why",
        "requestId": context.aws_request_id,
    }
    assert [record.outcome for record in task_records(caplog)] == ["ok"]  # the task itself ran
    layer_records: list[Any] = [record for record in caplog.records if record.name == "task.lambda"]
    (record,) = layer_records
    assert (record.levelname, record.source, record.request_id) == (
        "ERROR",
        "HTTP request",
        context.aws_request_id,
    )
    assert record.getMessage().startswith(f"returning: the result is not JSON ({problem}")


@pytest.mark.parametrize("name", ["direct", "eventbridge"])
@pytest.mark.parametrize(("result", "problem"), NOT_JSON)
def test_a_result_that_is_not_json_is_returned_as_is_for_the_runtime_client_to_report(
    name: str, result: object, problem: str
) -> None:
    assert (
        handle_event(
            runnable(returning(result), LambdaTask),
            with_parameters(name, widget_params()),
            FakeLambdaContext(),
        )
        is result
    )


@pytest.mark.parametrize("name", RAISING)
def test_a_failure_of_the_business_logic_propagates_scrubbed_with_its_own_type(name: str) -> None:
    with pytest.raises(RuntimeError) as caught:
        handle_event(
            runnable(LeakyFailing, LambdaTask), with_parameters(name, widget_params()), FakeLambdaContext()
        )
    assert str(caught.value) == "the database refused ***"


@pytest.mark.parametrize("name", [*QUEUES, *STREAMS])
def test_a_record_whose_business_logic_fails_is_listed_for_lambda_to_deliver_again(
    name: str, caplog: pytest.LogCaptureFixture
) -> None:
    event = with_parameters(name, widget_params())
    answer = handle_event(runnable(LeakyFailing, LambdaTask), event, FakeLambdaContext())
    assert answer == {"batchItemFailures": [{"itemIdentifier": item_identifier(event["Records"][0])}]}
    assert [record.outcome for record in task_records(caplog)] == ["failed"]
    assert SECRET not in caplog.text


# --------------------------------------------------------------------------
# Queue batches


def sqs_batch(*bodies: str, fifo: bool = False) -> dict[str, Any]:
    """An SQS event of one record per body, from the shipped standard or FIFO event; ids "m1", "m2", ..."""
    template = shipped("sqs_fifo" if fifo else "sqs")["Records"][0]
    return {
        "Records": [
            {**template, "messageId": f"m{number}", "body": body} for number, body in enumerate(bodies, 1)
        ]
    }


GOOD = json.dumps(widget_params())
BAD = json.dumps(widget_params(port=0))


def test_a_mixed_batch_lists_exactly_the_records_that_failed_in_order(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="task")
    answer = handler(shipped("sqs_mixed"), FakeLambdaContext())
    assert answer == {
        "batchItemFailures": [
            {"itemIdentifier": "c9b2a3f4-1d2e-4f5a-8b6c-7d8e9f0a1b2c"},
            {"itemIdentifier": "5e6f7a8b-9c0d-4e1f-a2b3-c4d5e6f7a8b9"},
            {"itemIdentifier": "d1e2f3a4-b5c6-4d7e-8f9a-0b1c2d3e4f5a"},
        ]
    }
    assert [record.outcome for record in task_records(caplog)] == [
        "ok",
        "config_error",
        "config_error",
        "config_error",
        "ok",
    ]


def test_in_a_standard_queue_every_record_runs_whatever_failed_before(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="task")
    answer = handler(sqs_batch(BAD, GOOD, BAD, GOOD), FakeLambdaContext())
    assert answer == {"batchItemFailures": [{"itemIdentifier": "m1"}, {"itemIdentifier": "m3"}]}
    assert [record.outcome for record in task_records(caplog)] == ["config_error", "ok", "config_error", "ok"]


def test_in_a_fifo_queue_the_records_after_a_failure_are_not_run_and_are_listed_too(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="task")
    answer = handler(sqs_batch(GOOD, BAD, GOOD, GOOD, fifo=True), FakeLambdaContext())
    assert answer == {
        "batchItemFailures": [{"itemIdentifier": "m2"}, {"itemIdentifier": "m3"}, {"itemIdentifier": "m4"}]
    }
    assert [(record.outcome, record.message_id) for record in task_records(caplog)] == [
        ("ok", "m1"),
        ("config_error", "m2"),
    ]


@pytest.mark.parametrize(
    ("record", "problem"),
    [
        pytest.param("a string", "expected a record (a JSON object), got a string", id="not-an-object"),
        pytest.param(
            {"body": GOOD, "eventSource": "aws:sqs"},
            'no "messageId" (printable text of at most 128 characters), so it was not run',
            id="no-messageId",
        ),
        pytest.param(
            {"messageId": "\ud800", "body": GOOD, "eventSource": "aws:sqs"},
            'no "messageId" (printable text of at most 128 characters), so it was not run',
            id="lone-surrogate-messageId",
        ),
        pytest.param(
            {"messageId": "m" * 129, "body": GOOD, "eventSource": "aws:sqs"},
            'no "messageId" (printable text of at most 128 characters), so it was not run',
            id="messageId-longer-than-AWS-writes",
        ),
    ],
)
def test_a_record_that_names_no_message_fails_without_stopping_the_batch(
    record: object, problem: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="task")
    event = sqs_batch(GOOD, GOOD)
    event["Records"].insert(1, record)
    answer = handler(event, FakeLambdaContext())
    # An empty itemIdentifier makes Lambda return the whole batch to the queue: nothing is lost.
    assert answer == {"batchItemFailures": [{"itemIdentifier": ""}]}
    records = task_records(caplog)
    assert [record.outcome for record in records] == ["ok", "config_error", "ok"]
    assert records[1].getMessage() == f"widget: configuration error: SQS record 2: {problem}"


def test_each_record_runs_in_a_task_of_its_own(caplog: pytest.LogCaptureFixture) -> None:
    class Remembering:
        name: ClassVar[str] = "remembering"
        parameters: ClassVar[type[Parameters]] = WidgetParams

        def execute(self, params: WidgetParams) -> dict[str, object]:
            if hasattr(self, "earlier_host"):
                raise AssertionError(f"this task already ran for {self.earlier_host}")
            self.earlier_host: str = params.host
            return {}

    event = sqs_batch(json.dumps(widget_params(host="first")), json.dumps(widget_params(host="second")))
    assert handle_event(runnable(Remembering, LambdaTask), event, FakeLambdaContext()) == {
        "batchItemFailures": []
    }


def test_an_sns_record_without_a_message_id_is_a_configuration_error(
    caplog: pytest.LogCaptureFixture,
) -> None:
    event = shipped("sns")
    del event["Records"][0]["Sns"]["MessageId"]
    assert refused(event, caplog) == (
        'SNS record 1: no "Sns.MessageId" (printable text of at most 128 characters), so it was not run'
    )


def test_a_batch_of_sns_messages_raises_at_the_first_that_fails() -> None:
    event = shipped("sns")
    event["Records"].append(json.loads(json.dumps(event["Records"][0])))
    event["Records"][0]["Sns"]["Message"] = BAD
    with pytest.raises(ConfigError, match=r"^SNS message 95df01b4-ee98-5cb9-9903-4c221d41eb5e: port"):
        handler(event, FakeLambdaContext())


def test_an_eventbridge_detail_that_is_not_an_object_is_a_configuration_error(
    caplog: pytest.LogCaptureFixture,
) -> None:
    assert refused({**shipped("eventbridge"), "detail": GOOD}, caplog) == (
        "EventBridge event 6a7e8feb-b491-4cf7-a9f1-bf3703467718: "
        "expected a JSON object of parameters, got a string"
    )


# --------------------------------------------------------------------------
# Checking an event: what `python assignment.py --event PATH --check` reports


def test_checking_a_batch_reports_each_record_by_its_message_id_and_runs_none(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="task")
    checked = check_event(LambdaWidget, shipped("sqs_mixed"), environ={})
    assert [(label, report.ok) for label, report in checked] == [
        ("059f36b4-87a3-44ab-83d2-661975830a7d", True),
        ("c9b2a3f4-1d2e-4f5a-8b6c-7d8e9f0a1b2c", False),
        ("5e6f7a8b-9c0d-4e1f-a2b3-c4d5e6f7a8b9", False),
        ("d1e2f3a4-b5c6-4d7e-8f9a-0b1c2d3e4f5a", False),
        ("2e1424d4-f796-459a-8184-9c92662be6da", True),
    ]
    assert checked[2][1].problems == ("port: expected an integer from 1 to 65535, got a string",)
    assert task_records(caplog) == []


@pytest.mark.parametrize("name", [name for name in SHIPPED if name not in (*QUEUES, "sns", *STREAMS)])
def test_checking_any_other_event_reports_its_one_unit_by_its_trigger(name: str) -> None:
    ((label, report),) = check_event(LambdaWidget, shipped(name), environ={})
    assert (label, report.ok, report.source) == (SHIPPED[name][0], True, SOURCE[name])
    assert ("password", "***", "from what the invoker sent") in report.parameters


def test_checking_resolves_references_in_the_environment_it_is_given() -> None:
    event = with_parameters("sqs", widget_params(password={"$env": "DB_PASSWORD"}))
    ((_, report),) = check_event(
        LambdaWidget, event, environ={"DB_PASSWORD": SECRET, "TASK_ENV_REFS": "DB_PASSWORD"}
    )
    assert ("password", "***", "from $env DB_PASSWORD") in report.parameters
    ((_, refused_report),) = check_event(LambdaWidget, event, environ={"DB_PASSWORD": SECRET})
    assert refused_report.problems == (
        "password: $env DB_PASSWORD is not allowed: TASK_ENV_REFS does not list it",
    )


@pytest.mark.parametrize("name", [*SHIPPED, *MIXED])
def test_the_handler_leaves_the_event_as_it_was(name: str) -> None:
    event = shipped(name)
    before = json.dumps(event)
    handler(event, FakeLambdaContext())
    assert json.dumps(event) == before
