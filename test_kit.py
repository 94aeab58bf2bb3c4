"""The test kit for a user's own tasks: event builders, run_everywhere() and the pytest plugin's fixtures."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

import pytest

from assignment import Widget, handler
from conftest import PROJECT_DIR, SECRET, Failing, widget_params
from task import ConfigError, Parameters
from task_lambda import trigger_of
from task_testing import (
    FakeLambdaContext,
    alb_event,
    eventbridge_event,
    http_api_event,
    rest_api_event,
    run_everywhere,
    sns_event,
    sqs_event,
)

pytest_plugins = ["pytester"]

EVENTS = PROJECT_DIR / "fixtures" / "events"

#: Each builder, with one body, and the shipped event of the same trigger.
BUILDERS: dict[str, tuple[Callable[[object], dict[str, Any]], str]] = {
    "sqs": (sqs_event, "sqs.json"),
    "sqs-fifo": (lambda body: sqs_event(body, fifo=True), "sqs_fifo.json"),
    "sns": (sns_event, "sns.json"),
    "eventbridge": (eventbridge_event, "eventbridge.json"),
    "http-api": (http_api_event, "http_api.json"),
    "rest-api": (rest_api_event, "rest_api.json"),
    "alb": (alb_event, "alb.json"),
    "alb-multi-value-headers": (
        lambda body: alb_event(body, multi_value_headers=True),
        "alb_multi_value_headers.json",
    ),
}


def shape(value: object) -> object:
    """The keys of a JSON value at every depth (a list by its first item), without the values."""
    if isinstance(value, dict):
        return {key: shape(item) for key, item in value.items()}
    if isinstance(value, list):
        return [shape(value[0])] if value else []
    return None


# --------------------------------------------------------------------------
# Event builders


@pytest.mark.parametrize("builder", BUILDERS)
def test_each_built_event_has_the_shape_of_the_shipped_event_of_its_trigger(builder: str) -> None:
    build, shipped = BUILDERS[builder]
    expected = json.loads((EVENTS / shipped).read_text())
    assert shape(build(widget_params())) == shape(expected)
    assert trigger_of(build(widget_params())) == trigger_of(expected)


@pytest.mark.parametrize("builder", BUILDERS)
def test_each_built_event_runs_the_task_through_assignment_handler(builder: str) -> None:
    build, _ = BUILDERS[builder]
    answer = handler(build(widget_params()), FakeLambdaContext())
    if answer is not None:  # SNS: Lambda discards the answer
        assert isinstance(answer, dict)
        ran = answer.get("statusCode") == 200 or answer.get("runtime") == "lambda"
        assert ran or answer == {"batchItemFailures": []}


@pytest.mark.parametrize("build", [http_api_event, rest_api_event, alb_event, sns_event, sqs_event])
def test_a_body_that_is_not_a_str_is_sent_as_json_and_a_str_as_it_is(
    build: Callable[[object], dict[str, Any]],
) -> None:
    def body_of(event: dict[str, Any]) -> Any:
        if "Records" in event:
            (record,) = event["Records"]
            return record["Sns"]["Message"] if "Sns" in record else record["body"]
        return event["body"]

    assert json.loads(body_of(build({"days": 3, "name": "ü"}))) == {"days": 3, "name": "ü"}
    assert body_of(build("not json {")) == "not json {"
    assert body_of(build([1, 2])) == "[1, 2]"


def test_every_message_and_request_id_is_unique() -> None:
    queued = sqs_event({}, {}, {})["Records"] + sqs_event({})["Records"]
    published = sns_event({}, {})["Records"] + sns_event({})["Records"]
    ids = [record["messageId"] for record in queued] + [record["Sns"]["MessageId"] for record in published]
    ids += [eventbridge_event({})["id"] for _ in range(2)]
    ids += [http_api_event({})["requestContext"]["requestId"] for _ in range(2)]
    ids += [rest_api_event({})["requestContext"]["requestId"] for _ in range(2)]
    assert len(set(ids)) == len(ids) == 13


def test_a_fifo_queues_sequence_numbers_grow_from_message_to_message() -> None:
    records = sqs_event({}, {}, fifo=True)["Records"] + sqs_event({}, fifo=True)["Records"]
    numbers = [int(record["attributes"]["SequenceNumber"]) for record in records]
    assert numbers == sorted(set(numbers))
    assert all(record["attributes"]["MessageGroupId"] for record in records)


def test_a_fifo_queues_records_after_a_failure_are_listed_too() -> None:
    event = sqs_event(widget_params(), widget_params(port=0), widget_params(), fifo=True)
    message_ids = [record["messageId"] for record in event["Records"]]
    assert handler(event, FakeLambdaContext()) == {
        "batchItemFailures": [{"itemIdentifier": message_id} for message_id in message_ids[1:]]
    }


def test_a_built_sqs_bodys_md5_is_the_md5_of_its_body() -> None:
    import hashlib

    (record,) = sqs_event({"days": 3})["Records"]
    assert record["md5OfBody"] == hashlib.md5(record["body"].encode()).hexdigest()


# --------------------------------------------------------------------------
# run_everywhere()


class ExportParams(Parameters):
    bucket: str
    ratio: float | None
    dry_run: bool = False


class Export:
    """A user's task with an optional float and a flag."""

    name: ClassVar[str] = "export"
    runtime: ClassVar[str]
    parameters: ClassVar[type[Parameters]] = ExportParams

    def execute(self, params: ExportParams) -> dict[str, object]:
        return {"runtime": self.runtime, **params.masked()}


@pytest.mark.parametrize(
    "params",
    [
        {"bucket": "b", "ratio": 0.5, "dry_run": True},
        {"bucket": "b", "ratio": None},
        {"bucket": "b", "ratio": 2},
    ],
)
def test_run_everywhere_gives_the_same_result_in_every_runtime(
    params: dict[str, object], tmp_path: Path
) -> None:
    results = run_everywhere(Export, params, tmp_path)
    assert list(results) == ["local", "batch", "lambda", "env"]
    for runtime, result in results.items():
        assert result == {"runtime": runtime, "dry_run": False, **params}


def test_run_everywhere_runs_widget_with_its_secret_masked(tmp_path: Path) -> None:
    results = run_everywhere(Widget, widget_params(), tmp_path)
    assert {result.pop("runtime") for result in results.values()} == {"local", "batch", "lambda", "env"}
    assert [result["password"] for result in results.values()] == ["***"] * 4
    assert SECRET not in json.dumps(results)


def test_run_everywhere_resolves_references_as_each_runtime_does(tmp_path: Path) -> None:
    params = widget_params(password={"$env": "DB_PASSWORD"})
    environ = {"DB_PASSWORD": SECRET, "TASK_ENV_REFS": "DB_PASSWORD"}
    assert len(run_everywhere(Widget, params, tmp_path, environ)) == 4
    with pytest.raises(ConfigError, match="DB_PASSWORD") as caught:
        run_everywhere(Widget, params, tmp_path, {"DB_PASSWORD": SECRET})  # no TASK_ENV_REFS: Lambda refuses
    assert str(caught.value).startswith("lambda runtime: Lambda event: password: $env DB_PASSWORD")


@pytest.mark.parametrize(
    ("business", "params", "error"),
    [(Widget, widget_params(port=0), ConfigError), (Failing, widget_params(), RuntimeError)],
)
def test_run_everywhere_raises_the_first_failure_naming_its_runtime(
    business: type, params: dict[str, object], error: type[Exception], tmp_path: Path
) -> None:
    with pytest.raises(error) as caught:
        run_everywhere(business, params, tmp_path)
    assert str(caught.value).startswith("local runtime: ")


# --------------------------------------------------------------------------
# The pytest plugin's fixtures


def test_lambda_context_has_a_fresh_request_id(lambda_context: FakeLambdaContext) -> None:
    assert lambda_context.aws_request_id != FakeLambdaContext().aws_request_id
    assert handler(widget_params(), lambda_context) == {
        **widget_params(password="***"),
        "runtime": "lambda",
        "connection": "app@db.internal:6543/widgets",
    }


@pytest.fixture
def in_the_project(monkeypatch: pytest.MonkeyPatch) -> None:
    """The function's code is the current directory: here, the checkout with assignment.py."""
    monkeypatch.chdir(PROJECT_DIR)


@pytest.mark.usefixtures("in_the_project")
def test_lambda_runtime_answers_as_lambdas_invoke_api(lambda_runtime: Callable[..., Any]) -> None:
    assert lambda_runtime("assignment.handler", sqs_event(widget_params())) == {"batchItemFailures": []}
    failure = lambda_runtime("assignment.handler", widget_params(port=0))
    assert failure["errorType"] == "ConfigError"
    assert "port: expected an integer from 1 to 65535" in failure["errorMessage"]


@pytest.mark.usefixtures("in_the_project")
def test_lambda_runtime_gives_the_function_the_environment_it_is_told(
    lambda_runtime: Callable[..., Any],
) -> None:
    event = widget_params(password={"$env": "DB_PASSWORD"})
    environ = {"DB_PASSWORD": SECRET, "TASK_ENV_REFS": "DB_PASSWORD"}
    assert lambda_runtime("assignment.handler", event, environ=environ)["password"] == "***"
    assert lambda_runtime("assignment.handler", event)["errorType"] == "ConfigError"


@pytest.mark.usefixtures("in_the_project")
def test_lambda_runtime_reports_a_handler_that_cannot_start_as_lambda_does(
    lambda_runtime: Callable[..., Any],
) -> None:
    failure = lambda_runtime("no_such_module.handler", {})
    assert failure["errorType"] == "Runtime.ImportModuleError"
    assert lambda_runtime("assignment.handler", widget_params())["runtime"] == "lambda"


def test_without_the_runtime_client_lambda_runtime_skips_naming_the_extra(pytester: pytest.Pytester) -> None:
    pytester.makeconftest("import sys\n\nsys.modules['awslambdaric'] = None  # as if not installed\n")
    pytester.makepyfile("def test_it(lambda_runtime):\n    raise AssertionError('not skipped')\n")
    result = pytester.runpytest("-p", "task_pytest", "-rs")
    result.assert_outcomes(skipped=1)
    assert "(awslambdaric) is not installed: pip install 'task-runtimes[testing]'" in result.stdout.str()
