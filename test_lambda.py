"""AWS Lambda: direct invokes in this process, and every trigger family under the real runtime client."""

from __future__ import annotations

import importlib.util
import json
import math
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from assignment import LambdaWidget, handler
from conftest import PROJECT_DIR, SECRET, shipped_result, widget_params
from task import ConfigError
from task_testing import (
    FakeLambdaContext,
    FunctionProcess,
    Outcome,
    RuntimeAPI,
    dynamodb_event,
    kinesis_event,
)
from test_triggers import EVENTS_DIR, decoded, item_identifier, shipped, sqs_batch, with_parameters, with_text

EVENT_FIXTURE = PROJECT_DIR / "fixtures" / "lambda_event.json"


def expected_result(**params: object) -> dict[str, object]:
    shown = widget_params(**params, password="***")
    return {
        "runtime": "lambda",
        **shown,
        "connection": f"{shown['user']}@{shown['host']}:{shown['port']}/{shown['database']}",
    }


# --------------------------------------------------------------------------
# Direct invokes, in this process


@pytest.mark.parametrize(
    ("event", "kind"),
    [
        (None, "null"),
        ([widget_params()], "an array"),
        (SECRET, "a string"),
        (42, "an integer"),
        (True, "a boolean"),
    ],
)
def test_an_event_that_is_not_an_object_is_an_error_saying_what_arrived(event: object, kind: str) -> None:
    with pytest.raises(ConfigError) as caught:
        handler(event, FakeLambdaContext())
    assert str(caught.value) == f"Lambda event: expected a JSON object of parameters, got {kind}"
    assert SECRET not in str(caught.value)


def test_one_invocation_leaves_nothing_behind_for_the_next() -> None:
    assert handler(widget_params(host="first"), FakeLambdaContext()) == expected_result(host="first")
    with pytest.raises(ConfigError) as caught:
        handler(widget_params(host=None), FakeLambdaContext())
    assert caught.value.problems == ("host: expected a string, got null",)
    assert handler(widget_params(host="third", port=1), FakeLambdaContext()) == expected_result(
        host="third", port=1
    )


def test_task_env_refs_is_read_at_each_invocation(monkeypatch: pytest.MonkeyPatch) -> None:
    event = widget_params(password={"$env": "DB_PASSWORD"})
    monkeypatch.setenv("DB_PASSWORD", SECRET)
    monkeypatch.setenv("TASK_ENV_REFS", "DB_PASSWORD")
    assert handler(event, None) == expected_result()
    monkeypatch.setenv("TASK_ENV_REFS", "")
    with pytest.raises(ConfigError, match="TASK_ENV_REFS does not list it"):
        handler(event, None)


def test_the_task_keeps_the_invocations_context_for_the_business_logic() -> None:
    context = FakeLambdaContext()
    assert LambdaWidget({}, context).context is context


# --------------------------------------------------------------------------
# Under the real AWS Lambda runtime client, as AWS runs the function

needs_runtime_client = pytest.mark.skipif(
    importlib.util.find_spec("awslambdaric") is None, reason="awslambdaric ships Linux wheels only"
)

#: The function's environment, as deploy/template.yaml sets it: JSON logs at INFO, Python 3.12's
#: runtime client (which sends responses as UTF-8, not ASCII: a lone surrogate cannot pass).
FUNCTION_ENVIRONMENT = {
    "DB_PASSWORD": SECRET,
    "TASK_ENV_REFS": "DB_PASSWORD",
    "AWS_ACCESS_KEY_ID": "AKIA-NOT-YOURS",
    "AWS_LAMBDA_LOG_FORMAT": "JSON",
    "AWS_LAMBDA_LOG_LEVEL": "INFO",
    "AWS_EXECUTION_ENV": "AWS_Lambda_python3.12",
}


def start_function(api: RuntimeAPI, **environment: str) -> FunctionProcess:
    environment = {"PATH": os.environ["PATH"], **FUNCTION_ENVIRONMENT, **environment}
    return FunctionProcess(api, environment, root=PROJECT_DIR)  # whatever directory pytest runs in


@pytest.fixture(scope="module")
def warm_function() -> Iterator[tuple[RuntimeAPI, FunctionProcess]]:
    """One function process serving every invocation of this module, as a warm container does."""
    with RuntimeAPI() as api, start_function(api) as function:
        yield api, function


def log_records(function: FunctionProcess, outcome: Outcome, count: int) -> list[dict[str, Any]]:
    """The library's JSON log lines for one invocation, in order, once `count` of them have arrived
    (the function's output is read by a thread of its own, which may lag the answer a little)."""
    deadline = time.monotonic() + 10
    while True:
        lines = [json.loads(line) for line in function.output.splitlines() if line.startswith("{")]
        records = [
            line for line in lines if line.get("logger") == "task" and line["requestId"] == outcome.request_id
        ]
        if len(records) >= count or time.monotonic() > deadline:
            return records
        time.sleep(0.01)


def assert_alive(api: RuntimeAPI, function: FunctionProcess) -> None:
    """The same process answers the next event."""
    assert api.invoke(json.loads(EVENT_FIXTURE.read_text())).payload == shipped_result("lambda")
    assert function.process.poll() is None, "the function process died"


@needs_runtime_client
def test_the_runtime_client_returns_widgets_result_for_the_shipped_event(
    warm_function: tuple[RuntimeAPI, FunctionProcess],
) -> None:
    api, _ = warm_function
    outcome = api.invoke(json.loads(EVENT_FIXTURE.read_text()))
    assert outcome.kind == "response"
    assert outcome.payload == shipped_result("lambda")


INVOCATIONS = [
    (widget_params(host="a"), "response", expected_result(host="a")),
    (
        widget_params(port="5432", user=None),
        "error",
        (
            "ConfigError",
            "Lambda event: 2 problems: port: expected an integer from 1 to 65535, got a string; "
            "user: expected a string, got null",
        ),
    ),
    (widget_params(host="b", port=7000), "response", expected_result(host="b", port=7000)),
    ([1, 2], "error", ("ConfigError", "Lambda event: expected a JSON object of parameters, got an array")),
    (SECRET, "error", ("ConfigError", "Lambda event: expected a JSON object of parameters, got a string")),
    (
        widget_params(password={"$env": "AWS_ACCESS_KEY_ID"}),
        "error",
        (
            "ConfigError",
            "Lambda event: password: $env AWS_ACCESS_KEY_ID is not allowed: TASK_ENV_REFS does not list it",
        ),
    ),
    (widget_params(host="c", password={"$env": "DB_PASSWORD"}), "response", expected_result(host="c")),
    (
        {"host": "d"},
        "error",
        (
            "ConfigError",
            "Lambda event: 3 problems: database: missing (expected a string); "
            "user: missing (expected a string); password: missing (expected a string (secret))",
        ),
    ),
    (None, "error", ("ConfigError", "Lambda event: expected a JSON object of parameters, got null")),
    (widget_params(host="e", database="other"), "response", expected_result(host="e", database="other")),
]


@needs_runtime_client
def test_a_warm_function_answers_many_direct_invocations_good_and_bad_in_a_row(
    warm_function: tuple[RuntimeAPI, FunctionProcess],
) -> None:
    api, function = warm_function
    for event, kind, expected in INVOCATIONS:
        outcome = api.invoke(event)
        assert outcome.kind == kind, (event, outcome.payload)
        if kind == "response":
            assert outcome.payload == expected
        else:
            assert isinstance(outcome.payload, dict)
            assert (outcome.payload["errorType"], outcome.payload["errorMessage"]) == expected
            assert outcome.payload["requestId"] == outcome.request_id
        assert SECRET not in json.dumps(outcome.payload)
    assert function.process.poll() is None, "the function process died"


GOOD = json.dumps(widget_params())
BAD = json.dumps(widget_params(port=0))


def failed(*message_ids: str) -> dict[str, object]:
    return {"batchItemFailures": [{"itemIdentifier": message_id} for message_id in message_ids]}


@needs_runtime_client
@pytest.mark.parametrize(
    ("bodies", "fifo", "answer"),
    [
        pytest.param([GOOD, GOOD], False, failed(), id="good"),
        pytest.param([BAD, "not JSON", "[]"], False, failed("m1", "m2", "m3"), id="bad"),
        pytest.param([GOOD, BAD, GOOD, "{}"], False, failed("m2", "m4"), id="mixed"),
        pytest.param([GOOD, GOOD], True, failed(), id="fifo-good"),
        pytest.param([GOOD, BAD, GOOD], True, failed("m2", "m3"), id="fifo-mixed"),
    ],
)
def test_an_sqs_batch_gets_back_the_records_that_failed(
    warm_function: tuple[RuntimeAPI, FunctionProcess], bodies: list[str], fifo: bool, answer: object
) -> None:
    api, _ = warm_function
    outcome = api.invoke(sqs_batch(*bodies, fifo=fifo))
    assert (outcome.kind, outcome.payload) == ("response", answer)


@needs_runtime_client
@pytest.mark.parametrize("builder", [kinesis_event, dynamodb_event], ids=["kinesis", "dynamodb"])
def test_a_stream_batch_gets_back_exactly_the_bad_record_in_its_middle_and_runs_none_after_it(
    warm_function: tuple[RuntimeAPI, FunctionProcess], builder: Any
) -> None:
    api, function = warm_function
    event = builder(widget_params(host="a"), widget_params(port=0), widget_params(host="c"))
    first, middle, _ = (item_identifier(record) for record in event["Records"])
    outcome = api.invoke(event)
    assert (outcome.kind, outcome.payload) == ("response", failed(middle))
    log_records(function, api.invoke(widget_params()), count=1)  # so all the batch logged has been read
    records = log_records(function, outcome, count=2)
    assert [(record["outcome"], record["sequence_number"]) for record in records] == [
        ("ok", first),
        ("config_error", middle),
    ]


@needs_runtime_client
def test_under_the_runtime_client_a_batch_with_too_little_time_left_starts_no_record() -> None:
    """Lambda's deadline header sets what the context has left: 500 ms, under the default 1000 ms reserve."""
    batches = [sqs_batch(GOOD, GOOD), kinesis_event(widget_params(), widget_params())]
    with RuntimeAPI(timeout_ms=500) as api, start_function(api) as function:
        outcomes = [api.invoke(event) for event in batches]
        function.stop()
    sqs_outcome, kinesis_outcome = outcomes
    assert sqs_outcome.payload == failed("m1", "m2")
    assert kinesis_outcome.payload == failed(item_identifier(batches[1]["Records"][0]))
    lines = [json.loads(line) for line in function.output.splitlines() if line.startswith("{")]
    assert [line["logger"] for line in lines if line.get("logger", "").startswith("task")] == [
        "task.lambda"
    ] * 2
    assert {line["level"] for line in lines if line.get("logger") == "task.lambda"} == {"WARNING"}


def http_body(text: str) -> dict[str, Any]:
    """The shipped HTTP API request, with this body."""
    return with_text("http_api", text)


def http_parameters(**changes: object) -> dict[str, Any]:
    """The shipped HTTP API request, with Widget's test parameters and these changes in its body."""
    return with_parameters("http_api", widget_params(**changes))


@needs_runtime_client
@pytest.mark.parametrize(
    ("event", "status", "body"),
    [
        pytest.param(http_parameters(), 200, expected_result(), id="good"),
        pytest.param(shipped("function_url"), 200, shipped_result("lambda"), id="base64"),
        pytest.param(
            http_parameters(password={"$env": "DB_PASSWORD"}),
            200,
            expected_result(),
            id="listed-secret-reference",
        ),
        pytest.param(
            http_body("widget please"),
            400,
            "HTTP request: not valid JSON: Expecting value at line 1, column 1",
            id="not-JSON",
        ),
        pytest.param(
            http_body("[]"),
            400,
            "HTTP request: expected a JSON object of parameters, got an array",
            id="array",
        ),
        pytest.param(
            {**shipped("http_api"), "body": None},
            400,
            'HTTP request: no "body" (expected a JSON object of parameters)',
            id="missing",
        ),
        pytest.param(
            http_body('{"host": "a", "host": "b"}'),
            400,
            "HTTP request: the key 'host' appears more than once in one object",
            id="duplicate-key",
        ),
        pytest.param(
            {**shipped("http_api"), "isBase64Encoded": True, "body": "not base64!"},
            400,
            'HTTP request: "body" is not valid base64',
            id="bad-base64",
        ),
        pytest.param(
            http_parameters(password={"$env": "AWS_ACCESS_KEY_ID"}),
            400,
            "HTTP request: password: $env AWS_ACCESS_KEY_ID is not allowed: TASK_ENV_REFS does not list it",
            id="unlisted-reference",
        ),
        pytest.param(
            http_parameters(host={"$env": "DB_PASSWORD"}),
            400,
            "HTTP request: host: $env references are allowed only for secret parameters "
            "in what an invoker sends",
            id="reference-in-a-plain-field",
        ),
    ],
)
def test_an_http_api_request_gets_its_answer(
    warm_function: tuple[RuntimeAPI, FunctionProcess], event: dict[str, Any], status: int, body: object
) -> None:
    api, _ = warm_function
    outcome = api.invoke(event)
    assert outcome.kind == "response"
    answer = decoded(outcome.payload)
    assert (answer["statusCode"], answer["headers"], answer["isBase64Encoded"]) == (
        status,
        {"Content-Type": "application/json"},
        False,
    )
    expected = body if status == 200 else {"errorType": "ConfigError", "errorMessage": body}
    assert answer["body"] == expected
    assert SECRET not in json.dumps(outcome.payload)


#: A function whose task returns what its `host` parameter names: a date, or a NaN.
NOT_JSON_FUNCTION = f"""
import datetime, math, sys
sys.path.insert(0, {str(PROJECT_DIR)!r})
from assignment import WidgetParams
from task import LambdaTask
from task_lambda import handle_event

class NotJson:
    name = "not_json"
    parameters = WidgetParams

    def execute(self, params):
        return {{"date": {{"value": datetime.date(2024, 1, 31)}}, "nan": {{"value": math.nan}}}}[params.host]

class LambdaNotJson(NotJson, LambdaTask):
    pass

def handler(event, context):
    return handle_event(LambdaNotJson, event, context)
"""


@needs_runtime_client
def test_under_the_runtime_client_a_result_that_is_not_json_is_the_clients_error_or_a_500(
    tmp_path: Path,
) -> None:
    (tmp_path / "not_json.py").write_text(NOT_JSON_FUNCTION, encoding="utf-8")
    with (
        RuntimeAPI() as api,
        FunctionProcess(
            api, {"PATH": os.environ["PATH"], **FUNCTION_ENVIRONMENT}, "not_json.handler", root=tmp_path
        ) as function,
    ):
        direct_date = api.invoke(widget_params(host="date"))
        direct_nan = api.invoke(widget_params(host="nan"))
        http_date = api.invoke(http_parameters(host="date"))
        http_nan = api.invoke(http_parameters(host="nan"))
        assert function.process.poll() is None, "the function process died"
    # A direct invoke: the client itself reports what it cannot encode, and sends a NaN as is.
    assert direct_date.kind == "error"
    assert isinstance(direct_date.payload, dict)
    assert (direct_date.payload["errorType"], direct_date.payload["errorMessage"]) == (
        "Runtime.MarshalError",
        "Unable to marshal response: Object of type date is not JSON serializable",
    )
    assert direct_nan.kind == "response"
    assert isinstance(direct_nan.payload, dict)
    assert math.isnan(direct_nan.payload["value"])
    # An HTTP request: a 500, and the log says why.
    for outcome in (http_date, http_nan):
        assert (outcome.kind, decoded(outcome.payload)["statusCode"]) == ("response", 500)
    lines = [json.loads(line) for line in function.output.splitlines() if line.startswith("{")]
    assert [
        (line["level"], line["requestId"], line["source"])
        for line in lines
        if line.get("logger") == "task.lambda"
    ] == [("ERROR", http_date.request_id, "HTTP request"), ("ERROR", http_nan.request_id, "HTTP request")]


LONE_SURROGATE = {"\udc80": "x"}


@needs_runtime_client
@pytest.mark.parametrize(
    ("event", "answered"),
    [
        pytest.param(
            widget_params(**LONE_SURROGATE),
            lambda outcome: outcome.kind == "error" and outcome.payload["errorType"] == "ConfigError",
            id="direct",
        ),
        pytest.param(
            http_parameters(**LONE_SURROGATE),
            lambda outcome: outcome.payload["statusCode"] == 400,
            id="http-api",
        ),
        pytest.param(
            sqs_batch(json.dumps(widget_params(**LONE_SURROGATE)), GOOD),
            lambda outcome: outcome.payload == failed("m1"),
            id="sqs",
        ),
    ],
)
def test_a_lone_surrogate_key_gets_an_ordinary_answer_and_the_function_goes_on(
    warm_function: tuple[RuntimeAPI, FunctionProcess], event: dict[str, Any], answered: Any
) -> None:
    api, function = warm_function
    outcome = api.invoke(event)
    assert answered(outcome), outcome.payload
    assert "\\udc80: unknown parameter" in json.dumps(outcome.payload) + function.output
    assert_alive(api, function)


@needs_runtime_client
def test_with_json_logs_each_unit_is_one_json_line_with_the_fields_to_search_by(
    warm_function: tuple[RuntimeAPI, FunctionProcess],
) -> None:
    api, function = warm_function
    outcome = api.invoke(shipped("sqs_mixed"))
    records = log_records(function, outcome, count=5)
    assert [(record["level"], record["outcome"]) for record in records] == [
        ("INFO", "ok"),
        ("ERROR", "config_error"),
        ("ERROR", "config_error"),
        ("ERROR", "config_error"),
        ("INFO", "ok"),
    ]
    assert {(record["request_id"], record["runtime"], record["task"]) for record in records} == {
        (outcome.request_id, "lambda", "widget")
    }
    assert [record["message_id"] for record in records] == [
        record["messageId"] for record in shipped("sqs_mixed")["Records"]
    ]
    assert records[2]["message"] == (
        "widget: configuration error: SQS message 5e6f7a8b-9c0d-4e1f-a2b3-c4d5e6f7a8b9: "
        "port: expected an integer from 1 to 65535, got a string"
    )


@needs_runtime_client
def test_with_text_logs_and_no_level_only_the_errors_are_kept() -> None:
    with RuntimeAPI() as api:
        with start_function(api, AWS_LAMBDA_LOG_FORMAT="Text", AWS_LAMBDA_LOG_LEVEL="") as function:
            api.invoke(shipped("sqs_mixed"))
        assert function.output.count("[ERROR]") == 3
        assert "widget: done" not in function.output


@needs_runtime_client
@pytest.mark.parametrize("log_format", ["JSON", "Text"])
def test_the_functions_answers_and_logs_never_show_the_secret(log_format: str) -> None:
    secret_events = [
        *(event for event, _, _ in INVOCATIONS),
        http_parameters(port=0),
        http_parameters(host={"$env": "DB_PASSWORD"}),
        sqs_batch(
            json.dumps(widget_params(port=0)), json.dumps(widget_params(password={"$env": "DB_PASSWORD"}))
        ),
    ]
    with RuntimeAPI() as api:
        with start_function(api, AWS_LAMBDA_LOG_FORMAT=log_format) as function:
            answers = [api.invoke(event).payload for event in secret_events]
        assert "configuration error" in function.output
        assert SECRET not in json.dumps(answers) + function.output


def run_task_testing(*events: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """`python -m task_testing assignment.handler EVENTS` (what `make lambda` runs) in a fresh process."""
    return subprocess.run(
        [sys.executable, "-m", "task_testing", "assignment.handler", *events],
        cwd=PROJECT_DIR,
        env={"PATH": os.environ["PATH"], **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@needs_runtime_client
def test_every_shipped_event_gets_the_same_answer_from_the_command_line_as_in_this_process() -> None:
    paths = sorted(EVENTS_DIR.glob("*.json"))
    completed = run_task_testing(*(str(path.relative_to(PROJECT_DIR)) for path in paths), env={})
    assert completed.returncode == 0, completed.stderr
    in_process = [handler(json.loads(path.read_text()), FakeLambdaContext()) for path in paths]
    assert [json.loads(line) for line in completed.stdout.splitlines()] == [
        {"response": answer} for answer in in_process
    ]


@needs_runtime_client
def test_the_command_line_exits_1_when_an_invocation_fails(tmp_path: Path) -> None:
    event = tmp_path / "event.json"
    event.write_text(json.dumps(widget_params(password={"$env": "DB_PASSWORD"})))
    completed = run_task_testing(str(EVENT_FIXTURE), str(event), env={})  # no TASK_ENV_REFS: refused
    assert completed.returncode == 1
    answered, refused = (json.loads(line) for line in completed.stdout.splitlines())
    assert answered == {"response": shipped_result("lambda")}
    assert (refused["error"]["errorType"], refused["error"]["errorMessage"]) == (
        "ConfigError",
        "Lambda event: password: $env DB_PASSWORD is not allowed: TASK_ENV_REFS does not list it",
    )
