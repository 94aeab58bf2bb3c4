"""AWS Lambda: parameters from the event, in-process and under the real runtime client."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from assignment import LambdaWidget, handler
from conftest import PROJECT_DIR, SECRET, shipped_result, widget_params
from lambda_local import FunctionProcess, RuntimeAPI
from task import ConfigError, FakeLambdaContext

EVENT_FIXTURE = PROJECT_DIR / "fixtures" / "lambda_event.json"


def expected_result(**params: object) -> dict[str, object]:
    shown = widget_params(**params, password="***")
    return {
        "runtime": "lambda",
        **shown,
        "connection": f"{shown['user']}@{shown['host']}:{shown['port']}/{shown['database']}",
    }


# --------------------------------------------------------------------------
# In this process


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


def test_the_handler_leaves_the_event_as_it_was() -> None:
    event = widget_params(password={"$env": "DB_PASSWORD"})
    before = json.dumps(event)
    with pytest.raises(ConfigError):
        handler(event, FakeLambdaContext())
    assert json.dumps(event) == before


def test_one_invocation_leaves_nothing_behind_for_the_next() -> None:
    assert handler(widget_params(host="first"), FakeLambdaContext())["host"] == "first"
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
    assert handler(event, None)["password"] == "***"
    monkeypatch.setenv("TASK_ENV_REFS", "")
    with pytest.raises(ConfigError, match="TASK_ENV_REFS does not list it"):
        handler(event, None)


def test_the_task_keeps_the_invocations_context_for_the_business_logic() -> None:
    context = FakeLambdaContext()
    assert LambdaWidget({}, context).context is context


def test_the_fake_context_has_lambdas_attributes_and_a_fresh_request_id() -> None:
    first, second = FakeLambdaContext("widget", timeout_ms=3_000), FakeLambdaContext("widget")
    assert first.aws_request_id != second.aws_request_id
    assert first.function_name == "widget"
    assert first.invoked_function_arn.endswith(":function:widget")
    assert first.memory_limit_in_mb == "128"
    assert first.log_group_name == "/aws/lambda/widget"
    assert 2_900 < first.get_remaining_time_in_millis() <= 3_000


def test_the_fake_contexts_remaining_time_counts_down_to_zero() -> None:
    context = FakeLambdaContext(timeout_ms=30)
    before = context.get_remaining_time_in_millis()
    time.sleep(0.05)
    assert before > 0
    assert context.get_remaining_time_in_millis() == 0


# --------------------------------------------------------------------------
# Under the real AWS Lambda runtime client, as AWS runs the function

needs_runtime_client = pytest.mark.skipif(
    importlib.util.find_spec("awslambdaric") is None, reason="awslambdaric ships Linux wheels only"
)

FUNCTION_ENVIRONMENT = {
    "DB_PASSWORD": SECRET,
    "TASK_ENV_REFS": "DB_PASSWORD",
    "AWS_ACCESS_KEY_ID": "AKIA-NOT-YOURS",
}


@pytest.fixture(scope="module")
def warm_function() -> Iterator[tuple[RuntimeAPI, FunctionProcess]]:
    """One function process serving every invocation of this module, as a warm container does."""
    with RuntimeAPI() as api:
        function = FunctionProcess(api, {"PATH": os.environ["PATH"], **FUNCTION_ENVIRONMENT})
        try:
            yield api, function
        finally:
            function.stop()


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
            "Lambda event: 2 problems: port: expected an integer, got a string; "
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
def test_a_warm_function_answers_many_invocations_good_and_bad_in_a_row(
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


@needs_runtime_client
def test_the_functions_logs_never_show_the_secret() -> None:
    with RuntimeAPI() as api:
        with FunctionProcess(api, {"PATH": os.environ["PATH"], **FUNCTION_ENVIRONMENT}) as function:
            for event, _, _ in INVOCATIONS:
                api.invoke(event)
        assert "[ERROR] ConfigError: Lambda event" in function.output
        assert SECRET not in function.output


def run_lambda_local(*events: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """`python lambda_local.py EVENTS` in a fresh process, with only PATH and `env` set."""
    return subprocess.run(
        [sys.executable, "lambda_local.py", *map(str, events)],
        cwd=PROJECT_DIR,
        env={"PATH": os.environ["PATH"], **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@needs_runtime_client
def test_lambda_local_invokes_the_shipped_event_from_the_command_line() -> None:
    completed = run_lambda_local(
        EVENT_FIXTURE, PROJECT_DIR / "fixtures" / "widget.json", env=FUNCTION_ENVIRONMENT
    )
    assert completed.returncode == 0, completed.stderr
    lines = [json.loads(line) for line in completed.stdout.splitlines()]
    assert lines == [{"response": shipped_result("lambda")}] * 2
    assert SECRET not in completed.stdout + completed.stderr


@needs_runtime_client
def test_lambda_local_exits_1_when_an_invocation_fails(tmp_path: Path) -> None:
    event = tmp_path / "event.json"
    event.write_text(json.dumps(widget_params(password={"$env": "DB_PASSWORD"})))
    completed = run_lambda_local(EVENT_FIXTURE, event, env={})  # no TASK_ENV_REFS: the reference is refused
    assert completed.returncode == 1
    answered, refused = (json.loads(line) for line in completed.stdout.splitlines())
    assert answered == {"response": shipped_result("lambda")}
    assert (refused["error"]["errorType"], refused["error"]["errorMessage"]) == (
        "ConfigError",
        "Lambda event: password: $env DB_PASSWORD is not allowed: TASK_ENV_REFS does not list it",
    )
