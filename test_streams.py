"""Kinesis and DynamoDB Streams batches, the deadline every batch keeps, and the AWS sources not supported."""

from __future__ import annotations

import base64
import json
import logging
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar
from unittest import mock

import pytest
from hypothesis import given
from hypothesis import strategies as st

from assignment import LambdaWidget, Widget, WidgetParams, handler
from conftest import PROJECT_DIR, SECRET, widget_params
from task import ConfigError, LambdaTask, Parameters, runnable
from task_cli import run_command_line
from task_lambda import SUPPORTED, check_event, handle_event, trigger_of
from task_streams import read_attribute
from task_testing import FakeLambdaContext, dynamodb_event, kinesis_event
from test_hostile import (
    ENVIRON,
    MARK,
    PERFORMANCE,
    SECRET_VARIABLES,
    VARIABLE_NAMES,
    as_text_bytes,
    assert_shows_no_secret,
    bodies,
    hostile_text,
    log_records,
    marked_text,
    valid_text,
)

EVENTS = PROJECT_DIR / "fixtures" / "events"
STREAM_BUILDERS = {"kinesis": kinesis_event, "dynamodb": dynamodb_event}
STREAMS = list(STREAM_BUILDERS)
#: Every trigger whose event is a batch of records.
BATCHES = ["sqs", *STREAMS]


def good(host: str) -> dict[str, object]:
    return widget_params(host=host)


def bad(host: str) -> dict[str, object]:
    return widget_params(host=host, port=0)


def sqs_event(*bodies: object) -> dict[str, Any]:
    """A standard SQS queue's batch, message ids "m1", "m2", ... (see test_triggers for the shipped shape)."""
    records = [
        {"messageId": f"m{number}", "body": json.dumps(body), "eventSource": "aws:sqs"}
        for number, body in enumerate(bodies, 1)
    ]
    return {"Records": records}


def batch(trigger: str, *params: Any) -> dict[str, Any]:
    """An event of one record per `params`, as `trigger` delivers a batch."""
    builder: Callable[..., dict[str, Any]] = sqs_event if trigger == "sqs" else STREAM_BUILDERS[trigger]
    return builder(*params)


def ids(event: dict[str, Any]) -> list[str]:
    """Each record's id, as a batch answer names it: message id or sequence number."""
    return [
        record.get("messageId")
        or record.get("kinesis", {}).get("sequenceNumber")
        or record["dynamodb"]["SequenceNumber"]
        for record in event["Records"]
    ]


def listed(*identifiers: str) -> dict[str, object]:
    return {"batchItemFailures": [{"itemIdentifier": identifier} for identifier in identifiers]}


class Recording:
    """A business task that remembers each host it ran for, and fails for the host "fails"."""

    name: ClassVar[str] = "recording"
    parameters: ClassVar[type[Parameters]] = WidgetParams
    ran: ClassVar[list[str]] = []

    def execute(self, params: WidgetParams) -> dict[str, object]:
        self.ran.append(params.host)
        if params.host == "fails":
            raise RuntimeError(f"the database refused {params.password.reveal()}")
        return {}


@pytest.fixture
def recording() -> type[LambdaTask]:
    Recording.ran = []
    task_class: type[LambdaTask] = runnable(Recording, LambdaTask)
    return task_class


def records_of(caplog: pytest.LogCaptureFixture, name: str = "task") -> list[Any]:
    return [record for record in caplog.records if record.name == name]


# --------------------------------------------------------------------------
# Checkpoints: a stream runs its records in order up to the first that fails, and lists just it


@pytest.mark.parametrize("trigger", STREAMS)
@pytest.mark.parametrize(
    ("middle", "expected"),
    [
        pytest.param(bad("b"), (["a"], "config_error"), id="configuration-error"),
        pytest.param(good("fails"), (["a", "fails"], "failed"), id="business-logic-fails"),
    ],
)
def test_a_bad_record_in_the_middle_is_the_one_listed_and_nothing_after_it_runs(
    trigger: str,
    middle: dict[str, object],
    expected: tuple[list[str], str],
    recording: type[LambdaTask],
    caplog: pytest.LogCaptureFixture,
) -> None:
    ran, outcome = expected
    caplog.set_level(logging.INFO, logger="task")
    event = batch(trigger, good("a"), middle, good("c"), good("d"))
    first, second, *_ = ids(event)
    assert handle_event(recording, event, FakeLambdaContext()) == listed(second)
    assert Recording.ran == ran
    assert [(record.outcome, record.sequence_number) for record in records_of(caplog)] == [
        ("ok", first),
        (outcome, second),
    ]
    assert SECRET not in caplog.text


@pytest.mark.parametrize("trigger", STREAMS)
def test_a_batch_of_good_records_runs_each_in_order_and_lists_none(
    trigger: str, recording: type[LambdaTask], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="task")
    context = FakeLambdaContext()
    event = batch(trigger, good("a"), good("b"), good("c"))
    assert handle_event(recording, event, context) == listed()
    assert Recording.ran == ["a", "b", "c"]
    source = "Kinesis record" if trigger == "kinesis" else "DynamoDB record"
    assert [(record.sequence_number, record.source, record.request_id) for record in records_of(caplog)] == [
        (number, f"{source} {number}", context.aws_request_id) for number in ids(event)
    ]


@pytest.mark.parametrize("trigger", STREAMS)
@pytest.mark.parametrize(
    "record",
    [
        pytest.param("a string", id="not-an-object"),
        pytest.param({}, id="no-sequence-number"),
    ],
)
def test_a_record_without_a_sequence_number_is_listed_empty_so_the_whole_batch_comes_again(
    trigger: str, record: object, recording: type[LambdaTask], caplog: pytest.LogCaptureFixture
) -> None:
    event = batch(trigger, good("a"), good("c"))
    event["Records"].insert(
        1, {**record, "eventSource": f"aws:{trigger}"} if isinstance(record, dict) else record
    )
    assert handle_event(recording, event, FakeLambdaContext()) == listed("")
    assert Recording.ran == ["a"]
    (failure,) = [record for record in records_of(caplog) if record.outcome != "ok"]
    kind = "Kinesis" if trigger == "kinesis" else "DynamoDB"
    assert failure.getMessage().startswith(f"recording: configuration error: {kind} record 2: ")


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        pytest.param("not base64!", '"data" is not valid base64', id="not-base64"),
        pytest.param(
            base64.b64encode(b"\xff").decode(), "not UTF-8 text (bad byte at offset 0)", id="not-UTF-8"
        ),
        pytest.param(
            base64.b64encode(b"[]").decode(), "expected a JSON object of parameters, got an array", id="array"
        ),
    ],
)
def test_kinesis_data_that_is_not_base64_of_a_json_object_is_a_configuration_error(
    data: str, problem: str, caplog: pytest.LogCaptureFixture
) -> None:
    event = kinesis_event(widget_params())
    event["Records"][0]["kinesis"]["data"] = data
    (number,) = ids(event)
    assert handler(event, FakeLambdaContext()) == listed(number)
    (record,) = records_of(caplog)
    assert record.getMessage() == f"widget: configuration error: Kinesis record {number}: {problem}"


# --------------------------------------------------------------------------
# DynamoDB Streams: typed attributes, the item's key, records without a new image


@pytest.mark.parametrize(
    ("attribute", "value"),
    [
        pytest.param({"S": "db.internal"}, "db.internal", id="S"),
        pytest.param({"N": "5432"}, 5432, id="N-integer"),
        pytest.param({"N": "-7"}, -7, id="N-negative"),
        pytest.param({"N": "0.25"}, 0.25, id="N-fraction"),
        pytest.param({"N": "1E+2"}, 100.0, id="N-exponent"),
        pytest.param({"BOOL": False}, False, id="BOOL"),
        pytest.param({"NULL": True}, None, id="NULL"),
        pytest.param({"M": {"$env": {"S": "DB_PASSWORD"}}}, {"$env": "DB_PASSWORD"}, id="M-env-reference"),
        pytest.param(
            {"M": {"$secret": {"S": "widget/db"}, "key": {"S": "password"}}},
            {"$secret": "widget/db", "key": "password"},
            id="M-secret-reference",
        ),
    ],
)
def test_a_typed_attribute_reads_as_the_plain_value_it_holds(attribute: object, value: object) -> None:
    assert read_attribute(attribute) == value


@pytest.mark.parametrize(
    ("attribute", "problem"),
    [
        pytest.param(
            {"SS": ["a"]},
            "a DynamoDB SS attribute is no parameter value (expected S, N, BOOL, NULL, or M holding a "
            'reference such as {"$env": {"S": "NAME"}})',
            id="string-set",
        ),
        pytest.param({"B": "AA=="}, "a DynamoDB B attribute is no parameter value", id="binary"),
        pytest.param({"L": []}, "a DynamoDB L attribute is no parameter value", id="list"),
        pytest.param(
            {"M": {"host": {"S": "a"}}}, "a DynamoDB M attribute is read only as a reference", id="M"
        ),
        pytest.param(
            {"M": {"$env": {"N": "1"}}},
            'a reference\'s members must be S attributes: "$env" is not one',
            id="M-N",
        ),
        pytest.param({"S": 5}, "a DynamoDB S attribute holding an integer", id="S-not-text"),
        pytest.param({"NULL": False}, "a DynamoDB NULL attribute holding a boolean", id="NULL-false"),
        pytest.param({"N": "five"}, "a DynamoDB N attribute that is not a number", id="N-not-a-number"),
        pytest.param({"S": "a", "N": "1"}, "expected one typed attribute", id="two-types"),
        pytest.param("db.internal", "expected one typed attribute", id="untyped"),
        pytest.param({"\x1b[31m": "x"}, "a DynamoDB \\x1b[31m attribute is no parameter value", id="escaped"),
    ],
)
def test_an_attribute_that_gives_no_value_is_a_problem_naming_its_type(
    attribute: object, problem: str
) -> None:
    with pytest.raises(ValueError, match=f"^{re.escape(problem)}"):
        read_attribute(attribute)


def image(**attributes: object) -> dict[str, Any]:
    """A DynamoDB Streams event of one record whose NewImage is Widget's good parameters, changed."""
    event = dynamodb_event(widget_params())
    change = event["Records"][0]["dynamodb"]
    change["NewImage"].update(attributes)
    return event


def refused_image(event: dict[str, Any], caplog: pytest.LogCaptureFixture) -> str:
    """Invoke; the one record is listed; the message of its configuration error."""
    (number,) = ids(event)
    assert handler(event, FakeLambdaContext()) == listed(number)
    (record,) = records_of(caplog)
    assert record.outcome == "config_error"
    message: str = record.getMessage()
    return message.removeprefix(f"widget: configuration error: DynamoDB record {number}: ")


@pytest.mark.parametrize(
    ("attributes", "problem"),
    [
        pytest.param({"port": {"N": "6543"}}, None, id="N-for-an-integer"),
        pytest.param(
            {"port": {"S": "6543"}}, "port: expected an integer from 1 to 65535, got a string", id="S"
        ),
        pytest.param(
            {"port": {"N": "6543.5"}},
            "port: expected an integer from 1 to 65535, got a number with a fraction or exponent",
            id="N-fraction-for-an-integer",
        ),
        pytest.param({"host": {"N": "1"}}, "host: expected a string, got an integer", id="N-for-a-string"),
        pytest.param({"user": {"NULL": True}}, "user: expected a string, got null", id="NULL-not-optional"),
        pytest.param(
            {"host": {"M": {"$env": {"S": "DB_PASSWORD"}}}},
            "host: $env references are allowed only for secret parameters in what an invoker sends",
            id="reference-in-a-plain-field",
        ),
        pytest.param(
            {"password": {"M": {"$env": {"S": "DB_PASSWORD"}}}},
            "password: $env DB_PASSWORD is not allowed: TASK_ENV_REFS does not list it",
            id="reference-not-listed",
        ),
    ],
)
def test_dynamodb_attributes_are_read_by_the_parameters_declared_type(
    attributes: dict[str, object], problem: str | None, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="task")
    event = image(**attributes)
    if problem is None:
        assert handler(event, FakeLambdaContext()) == listed()
    else:
        assert refused_image(event, caplog) == problem


def test_every_attribute_that_gives_no_value_is_named_in_one_error(caplog: pytest.LogCaptureFixture) -> None:
    message = refused_image(image(host={"SS": ["a"]}, port={"B": "AA=="}), caplog)
    assert message.startswith("2 problems: host: a DynamoDB SS attribute is no parameter value")
    assert "; port: a DynamoDB B attribute is no parameter value" in message


def test_a_listed_reference_in_an_m_attribute_fills_a_secret(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("DB_PASSWORD", SECRET)
    monkeypatch.setenv("TASK_ENV_REFS", "DB_PASSWORD")
    caplog.set_level(logging.INFO, logger="task")
    assert handler(image(password={"M": {"$env": {"S": "DB_PASSWORD"}}}), FakeLambdaContext()) == listed()
    assert [record.outcome for record in records_of(caplog)] == ["ok"]


def test_the_items_key_attributes_are_no_parameters(caplog: pytest.LogCaptureFixture) -> None:
    event = image()
    change = event["Records"][0]["dynamodb"]
    change["Keys"] = {"host": change["NewImage"]["host"]}  # a table keyed by host: host is no parameter
    assert refused_image(event, caplog) == (
        "2 problems: host: missing (expected a string); "
        "id: unknown parameter (known: host, port, database, user, password)"
    )


@pytest.mark.parametrize("new_image", [None, [], "text"], ids=["null", "array", "string"])
def test_a_new_image_that_is_not_a_map_is_a_configuration_error(
    new_image: object, caplog: pytest.LogCaptureFixture
) -> None:
    event = image()
    event["Records"][0]["dynamodb"]["NewImage"] = new_image
    assert refused_image(event, caplog).startswith('"NewImage" must be a map of attributes, got ')


def test_a_record_without_a_new_image_is_skipped_with_one_info_record(
    recording: type[LambdaTask], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="task")
    context = FakeLambdaContext()
    event = dynamodb_event(good("a"), None, good("c"))
    _, removed, _ = ids(event)
    assert handle_event(recording, event, context) == listed()
    assert Recording.ran == ["a", "c"]
    (skipped,) = records_of(caplog, "task.lambda")
    assert (skipped.levelname, skipped.outcome, skipped.sequence_number, skipped.request_id) == (
        "INFO",
        "skipped",
        removed,
        context.aws_request_id,
    )
    assert skipped.getMessage().startswith("recording: skipped: the record has no NewImage")


def test_checking_a_stream_names_each_record_by_its_sequence_number_and_leaves_out_skipped_ones() -> None:
    event = dynamodb_event(good("a"), None, bad("c"))
    first, _, third = ids(event)
    checked = check_event(LambdaWidget, event, environ={})
    assert [(label, report.ok) for label, report in checked] == [(first, True), (third, False)]


# --------------------------------------------------------------------------
# The deadline: no record of a batch starts with less than TASK_DEADLINE_RESERVE_MS left


class Countdown:
    """A Lambda context whose remaining time is read from a list, one value per question."""

    aws_request_id = "c0ffee00-0000-4000-8000-000000000000"

    def __init__(self, *remaining_ms: int) -> None:
        self.remaining_ms = list(remaining_ms)

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_ms.pop(0)


@pytest.mark.parametrize("trigger", BATCHES)
def test_records_not_started_before_the_deadline_are_listed_and_one_warning_says_why(
    trigger: str, recording: type[LambdaTask], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="task")
    event = batch(trigger, good("a"), good("b"), good("c"), good("d"))
    numbers = ids(event)
    answer = handle_event(recording, event, Countdown(5000, 1000, 999), environ={})
    assert answer == (listed(*numbers[2:]) if trigger == "sqs" else listed(numbers[2]))
    assert Recording.ran == ["a", "b"]
    (warning,) = records_of(caplog, "task.lambda")
    assert (warning.levelname, warning.outcome) == ("WARNING", "failed")
    assert warning.getMessage() == (
        "recording: 2 record(s) not started: 999 ms left, under TASK_DEADLINE_RESERVE_MS (1000 ms); "
        "Lambda delivers them again"
    )


def test_in_a_standard_queue_the_deadline_lists_the_unstarted_records_after_those_that_failed(
    recording: type[LambdaTask],
) -> None:
    event = batch("sqs", bad("a"), good("b"), good("c"))
    answer = handle_event(recording, event, Countdown(5000, 5000, 10), environ={})
    assert answer == listed("m1", "m3")
    assert Recording.ran == ["b"]


class Telling:
    """A context that is not Lambda's own: its remaining time is whatever it was given, or raises it."""

    def __init__(self, answer: object) -> None:
        self.answer = answer

    def get_remaining_time_in_millis(self) -> object:
        if isinstance(self.answer, Exception):
            raise self.answer
        return self.answer


@pytest.mark.parametrize("trigger", BATCHES)
@pytest.mark.parametrize(
    ("context", "environ"),
    [
        pytest.param(lambda: Countdown(0, 0), {"TASK_DEADLINE_RESERVE_MS": "0"}, id="reserve-0-turns-it-off"),
        pytest.param(
            lambda: Countdown(50, 50), {"TASK_DEADLINE_RESERVE_MS": "50"}, id="exactly-the-reserve-left"
        ),
        pytest.param(lambda: None, {"TASK_DEADLINE_RESERVE_MS": "not read"}, id="no-context"),
        pytest.param(object, {}, id="no-remaining-time"),
        pytest.param(lambda: Telling(RuntimeError("no clock")), {}, id="remaining-time-raises"),
        pytest.param(lambda: Telling(None), {}, id="remaining-time-none"),
        pytest.param(lambda: Telling(float("nan")), {}, id="remaining-time-nan"),
    ],
)
def test_without_a_deadline_to_keep_every_record_runs(
    trigger: str, context: Any, environ: dict[str, str], recording: type[LambdaTask]
) -> None:
    event = batch(trigger, good("a"), good("b"))
    assert handle_event(recording, event, context(), environ=environ) == listed()
    assert Recording.ran == ["a", "b"]


@pytest.mark.parametrize("trigger", BATCHES)
@pytest.mark.parametrize("reserve", ["-1", "1.5", "one second", " 1000", "\u0661\u0660\u0660\u0660"])
def test_an_invalid_reserve_fails_every_record_with_a_configuration_error_naming_it(
    trigger: str, reserve: str, recording: type[LambdaTask], caplog: pytest.LogCaptureFixture
) -> None:
    event = batch(trigger, good("a"), good("b"))
    numbers = ids(event)
    answer = handle_event(
        recording, event, FakeLambdaContext(), environ={"TASK_DEADLINE_RESERVE_MS": reserve}
    )
    assert answer == (listed(*numbers) if trigger == "sqs" else listed(numbers[0]))
    assert Recording.ran == []
    (record,) = records_of(caplog, "task.lambda")
    assert (record.levelname, record.outcome) == ("ERROR", "config_error")
    assert record.getMessage().startswith(
        "recording: configuration error: TASK_DEADLINE_RESERVE_MS: "
        "expected a non-negative integer of milliseconds (0 turns the deadline off)"
    )


# --------------------------------------------------------------------------
# AWS sources this layer does not run


S3_NOTIFICATION = {
    "Records": [
        {
            "eventVersion": "2.1",
            "eventSource": "aws:s3",
            "awsRegion": "us-east-1",
            "eventTime": "2026-01-01T00:00:00.000Z",
            "eventName": "ObjectCreated:Put",
            "s3": {
                "s3SchemaVersion": "1.0",
                "bucket": {"name": "widget-uploads", "arn": "arn:aws:s3:::widget-uploads"},
                "object": {"key": "tasks/widget.json", "size": 120, "eTag": "0123456789abcdef"},
            },
        }
    ]
}
SES_EVENT = {
    "Records": [
        {
            "eventSource": "aws:ses",
            "eventVersion": "1.0",
            "ses": {
                "mail": {
                    "source": "ops@example.com",
                    "messageId": "o3vrnil0e2ic28trm7dfhrc2v0cnbeccl4nbp0g1",
                },
                "receipt": {"recipients": ["widget@example.com"], "action": {"type": "Lambda"}},
            },
        }
    ]
}
MSK_EVENT = {
    "eventSource": "aws:kafka",
    "eventSourceArn": "arn:aws:kafka:us-east-1:123456789012:cluster/widgets/abcd1234-ab12-cd34-ef56-0123",
    "bootstrapServers": "b-1.widgets.kafka.us-east-1.amazonaws.com:9092",
    "records": {"widget-tasks-0": [{"topic": "widget-tasks", "partition": 0, "offset": 15, "value": "e30="}]},
}
SELF_MANAGED_KAFKA_EVENT = {
    "eventSource": "SelfManagedKafka",
    "bootstrapServers": "kafka-1.example.com:9092",
    "records": {"widget-tasks-0": [{"topic": "widget-tasks", "partition": 0, "offset": 15, "value": "e30="}]},
}
AMAZON_MQ_EVENT = {
    "eventSource": "aws:rmq",
    "eventSourceArn": "arn:aws:mq:us-east-1:123456789012:broker:widgets:b-0123",
    "rmqMessagesByQueue": {"widget-tasks::/": []},
}


@pytest.mark.parametrize(
    ("event", "source"),
    [
        pytest.param(S3_NOTIFICATION, "aws:s3", id="S3"),
        pytest.param(SES_EVENT, "aws:ses", id="SES"),
        pytest.param(MSK_EVENT, "aws:kafka", id="MSK"),
        pytest.param(AMAZON_MQ_EVENT, "aws:rmq", id="Amazon-MQ"),
        pytest.param(SELF_MANAGED_KAFKA_EVENT, "SelfManagedKafka", id="self-managed-Kafka"),
    ],
)
def test_an_event_from_an_unsupported_aws_source_is_a_one_line_error_naming_it(
    event: dict[str, Any], source: str, caplog: pytest.LogCaptureFixture
) -> None:
    assert trigger_of(event) == "unsupported"
    with pytest.raises(ConfigError) as caught:
        handler(event, FakeLambdaContext())
    assert (
        str(caught.value)
        == f"Lambda event from {source}: not a trigger this function runs; it runs {SUPPORTED}"
    )
    assert "\n" not in str(caught.value)
    assert [record.outcome for record in records_of(caplog)] == ["config_error"]


def test_a_direct_event_with_a_source_of_its_own_is_still_read_as_parameters() -> None:
    with pytest.raises(ConfigError, match=r"^Lambda event: eventSource: unknown parameter"):
        handler({**widget_params(), "eventSource": "widget-app"}, FakeLambdaContext())


# --------------------------------------------------------------------------
# The command line: --event and --event --check


def event_file(tmp_path: Path, event: object) -> str:
    path = tmp_path / "event.json"
    path.write_text(json.dumps(event), encoding="utf-8")
    return str(path)


@pytest.mark.parametrize(
    ("name", "status"),
    [("kinesis_mixed.json", 2), ("dynamodb_mixed.json", 2), ("kinesis.json", 0), ("dynamodb.json", 0)],
)
def test_event_runs_a_shipped_stream_batch_and_exits_by_its_records(
    name: str, status: int, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run_command_line(Widget, ["--event", str(EVENTS / name)], environ={}) == status
    answer = json.loads(capsys.readouterr().out)
    assert len(answer["batchItemFailures"]) == (status != 0)


@pytest.mark.parametrize("trigger", BATCHES)
@pytest.mark.parametrize(
    ("reserve", "status"),
    [("900001", 1), ("not a number", 2)],
    ids=["more-than-the-stand-ins-900-s-fails", "invalid-is-a-configuration-error"],
)
def test_event_exits_1_for_records_left_by_the_deadline_and_2_for_an_invalid_reserve(
    trigger: str, reserve: str, status: int, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    event = batch(trigger, good("a"), good("b"))
    environ = {"TASK_DEADLINE_RESERVE_MS": reserve}
    assert run_command_line(Widget, ["--event", event_file(tmp_path, event)], environ=environ) == status
    assert json.loads(capsys.readouterr().out)["batchItemFailures"]


def test_event_the_deadline_counts_as_a_failure_whatever_the_log_level_hides(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    environ = {"TASK_DEADLINE_RESERVE_MS": "900001", "TASK_LOG_LEVEL": "ERROR"}
    event = event_file(tmp_path, batch("kinesis", good("a")))
    assert run_command_line(Widget, ["--event", event], environ=environ) == 1
    assert "not started" not in capsys.readouterr().err


@pytest.mark.parametrize("trigger", STREAMS)
def test_event_records_left_after_a_failure_take_its_status(
    trigger: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    event = event_file(tmp_path, batch(trigger, good("a"), bad("b"), good("fails")))
    assert run_command_line(Widget, ["--event", event], environ={}) == 2


@pytest.mark.parametrize("check", [[], ["--check"]], ids=["run", "check"])
def test_event_from_an_unsupported_source_exits_2_naming_it_in_one_line(
    check: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run_command_line(Widget, ["--event", event_file(tmp_path, SES_EVENT), *check], environ={}) == 2
    (line,) = [line for line in capsys.readouterr().err.splitlines() if "aws:ses" in line]
    assert (
        "configuration error: Lambda event from aws:ses: not a trigger this function runs; it runs " in line
    )


@pytest.mark.parametrize("name", ["kinesis_mixed.json", "dynamodb_mixed.json"])
def test_event_check_names_each_stream_record_by_its_sequence_number(
    name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    event = json.loads((EVENTS / name).read_text(encoding="utf-8"))
    assert run_command_line(Widget, ["--event", str(EVENTS / name), "--check"], environ={}) == 2
    headings = [line for line in capsys.readouterr().out.splitlines() if line.startswith("Unit ")]
    assert headings == [f"Unit {number} of 3: {label}" for number, label in enumerate(ids(event), 1)]


# --------------------------------------------------------------------------
# The test kit's builders


def test_kinesis_event_sends_text_as_it_is_and_anything_else_as_json_in_base64() -> None:
    event: Any = kinesis_event("widget please", {"host": "é"})
    data = [base64.b64decode(record["kinesis"]["data"]).decode("utf-8") for record in event["Records"]]
    assert data == ["widget please", '{"host": "\\u00e9"}']
    assert {record["eventSource"] for record in event["Records"]} == {"aws:kinesis"}


def test_dynamodb_event_types_plain_values_and_gives_none_the_record_of_a_removed_item() -> None:
    event: Any = dynamodb_event({"host": "a", "port": 1, "ratio": 0.5, "tls": True, "user": None}, None)
    inserted, removed = (record["dynamodb"] for record in event["Records"])
    assert inserted["NewImage"] == {
        **inserted["Keys"],
        "host": {"S": "a"},
        "port": {"N": "1"},
        "ratio": {"N": "0.5"},
        "tls": {"BOOL": True},
        "user": {"NULL": True},
    }
    assert "NewImage" not in removed
    assert [record["eventName"] for record in event["Records"]] == ["INSERT", "REMOVE"]


@pytest.mark.parametrize("builder", [kinesis_event, dynamodb_event])
def test_sequence_numbers_increase_within_an_event_and_differ_between_events(builder: Any) -> None:
    first, second = ids(builder({}, {})), ids(builder({}, {}))
    assert int(first[0]) < int(first[1])
    assert not set(first) & set(second)


def test_dynamodb_event_refuses_an_image_that_sets_the_items_key() -> None:
    with pytest.raises(ValueError, match="'id' is the item's key here"):
        dynamodb_event({"id": "x"})


def test_dynamodb_event_types_lists_and_maps_as_dynamodb_does_and_refuses_what_it_has_no_type_for() -> None:
    event: Any = dynamodb_event({"hosts": ["a", 1], "password": {"$env": "DB_PASSWORD"}})
    new_image = event["Records"][0]["dynamodb"]["NewImage"]
    assert new_image["hosts"] == {"L": [{"S": "a"}, {"N": "1"}]}
    assert new_image["password"] == {"M": {"$env": {"S": "DB_PASSWORD"}}}
    with pytest.raises(TypeError, match="DynamoDB has no attribute type for a bytes"):
        dynamodb_event({"data": b"\x00"})


# --------------------------------------------------------------------------
# Hostile stream records: an answer, in order, and never a secret or a value

VALID_IMAGE = {
    "host": {"S": "db.internal"},
    "port": {"N": "6543"},
    "database": {"S": "widgets"},
    "user": {"S": "app"},
    "password": {"M": {"$env": {"S": "DB_PASSWORD"}}},
}
hostile_attributes = st.one_of(
    valid_text.map(lambda text: {"S": text}),
    marked_text.map(lambda text: {"S": text}),
    st.sampled_from(["6543", "-1", "0.5", "1E+2", "1e400", "nan", "1" * 5000, "+7"]).map(lambda n: {"N": n}),
    marked_text.map(lambda text: {"N": text}),
    st.booleans().map(lambda flag: {"BOOL": flag}),
    st.booleans().map(lambda flag: {"NULL": flag}),
    st.sampled_from([*VARIABLE_NAMES, *SECRET_VARIABLES]).map(lambda name: {"M": {"$env": {"S": name}}}),
    st.tuples(hostile_text, marked_text).map(lambda pair: {pair[0]: pair[1]}),
    st.sampled_from([{"M": {"host": {"S": MARK}}}, {"S": 1}, {}, {"S": MARK, "N": "1"}, MARK, None]),
)
hostile_images = st.one_of(
    st.just(VALID_IMAGE),
    st.dictionaries(
        st.one_of(st.sampled_from([*VALID_IMAGE, "id"]), hostile_text), hostile_attributes, max_size=7
    ),
    st.dictionaries(st.sampled_from(list(VALID_IMAGE)), hostile_attributes, max_size=3).map(
        lambda changes: {**VALID_IMAGE, **changes}
    ),
)
kinesis_data = st.one_of(
    bodies.map(lambda body: base64.b64encode(as_text_bytes(body)).decode()),
    st.just(base64.b64encode(json.dumps(widget_params(password={"$env": "DB_PASSWORD"})).encode()).decode()),
    hostile_text,
    st.none(),
    st.integers(),
)
sequence_numbers = st.one_of(st.just(""), hostile_text, st.none(), st.integers())


@st.composite
def stream_events(draw: st.DrawFn) -> dict[str, Any]:
    """A Kinesis or DynamoDB Streams event of 1 to 5 records: good, bad, unnamed or not records at all."""
    trigger = draw(st.sampled_from(STREAMS))
    records: list[object] = []
    for position in range(draw(st.integers(min_value=1, max_value=5))):
        number = draw(
            st.one_of(st.just(f"{1000 + position}"), st.just(f"{1000 + position}"), sequence_numbers)
        )
        if trigger == "kinesis":
            record: dict[str, Any] = {"eventSource": "aws:kinesis", "kinesis": {"data": draw(kinesis_data)}}
            record["kinesis"]["sequenceNumber"] = number
        else:
            change: dict[str, Any] = {"SequenceNumber": number, "Keys": {"id": {"S": "x"}}}
            kind = draw(st.sampled_from(["image"] * 5 + ["removed", "not a map"]))
            if kind == "image":
                change["NewImage"] = {"id": {"S": "x"}, **draw(hostile_images)}
            elif kind == "not a map":
                change["NewImage"] = draw(st.sampled_from([None, [], MARK]))
            record = {"eventSource": "aws:dynamodb", "dynamodb": change}
        # The first is always a record, so that the handler recognises the stream.
        records.append(record if position == 0 else draw(st.sampled_from([record, record, MARK])))
    return {"Records": records}


@PERFORMANCE
@given(event=stream_events())
def test_hostile_stream_records_run_in_order_up_to_the_one_listed_and_show_no_secret_or_value(
    event: dict[str, Any],
) -> None:
    with mock.patch.dict(os.environ, ENVIRON), log_records() as records:
        response = handler(event, FakeLambdaContext())
    assert isinstance(response, dict)
    assert set(response) == {"batchItemFailures"}
    listed = [failure["itemIdentifier"] for failure in response["batchItemFailures"]]
    outcomes: list[Any] = [record for record in records if hasattr(record, "outcome")]
    ends = [record for record in outcomes if record.outcome != "skipped"]
    skipped = [record for record in outcomes if record.outcome == "skipped"]
    assert [record.outcome for record in ends[:-1]] == ["ok"] * (len(ends) - 1)  # none runs after a failure
    if ends and ends[-1].outcome != "ok":
        assert listed == [getattr(ends[-1], "sequence_number", "")]
    else:
        assert (listed, len(ends) + len(skipped)) == ([], len(event["Records"]))
    assert_shows_no_secret(json.dumps(response), "the stream's answer")
    formatter = logging.Formatter()
    for record in records:
        texts = [record.getMessage(), *(repr(value) for value in vars(record).values())]
        if record.exc_info:
            texts.append(formatter.formatException(record.exc_info))
        for text in texts:
            assert_shows_no_secret(text, "a log record")
            assert MARK not in text, f"a value shows in a log record: {text[:2000]!r}"
