"""The test helpers: the stand-in Lambda context, and the loopback Runtime API for the runtime client."""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest

from task_testing import FakeLambdaContext, FunctionError, FunctionProcess, RuntimeAPI, main

needs_runtime_client = pytest.mark.skipif(
    importlib.util.find_spec("awslambdaric") is None, reason="awslambdaric ships Linux wheels only"
)

HANDLERS = """\
import logging
import os


def echo(event, context):
    return {"event": event, "cwd": os.getcwd(), "task_root": os.environ["LAMBDA_TASK_ROOT"]}


def environment(event, context):
    return {name: os.environ.get(name) for name in event}


def lone_surrogate(event, context):
    return "\\udc80"


def chatty_failure(event, context):
    print(f"invocation {event} says " + "x" * 65536)
    raise ValueError(f"invocation {event} failed")


def log(event, context):
    logging.getLogger("handlers").info("hello from the handler")


def exit_3(event, context):
    print("leaving now")
    os._exit(3)
"""


@pytest.fixture
def code_root(tmp_path: Path) -> Path:
    """A function's code: handlers.py, in a folder of its own."""
    root = tmp_path / "code"
    root.mkdir()
    (root / "handlers.py").write_text(HANDLERS)
    return root


@contextlib.contextmanager
def running(
    handler: str,
    root: Path | None,
    environment: Mapping[str, str] | None = None,
    python: str = sys.executable,
) -> Iterator[tuple[RuntimeAPI, FunctionProcess]]:
    """A function process for `handler`, with only PATH and `environment` set by the test."""
    with (
        RuntimeAPI() as api,
        FunctionProcess(
            api, {"PATH": os.environ["PATH"], **(environment or {})}, handler, root=root, python=python
        ) as function,
    ):
        yield api, function


# --------------------------------------------------------------------------
# FakeLambdaContext


def test_each_fake_context_has_a_request_id_of_its_own() -> None:
    assert FakeLambdaContext().aws_request_id != FakeLambdaContext().aws_request_id


def test_the_fake_contexts_remaining_time_decreases() -> None:
    context = FakeLambdaContext(timeout_ms=5_000)
    before = context.get_remaining_time_in_millis()
    time.sleep(0.02)
    assert 0 < context.get_remaining_time_in_millis() < before <= 5_000


def test_the_fake_context_names_the_function_as_lambda_would() -> None:
    context = FakeLambdaContext("widget", memory_limit_in_mb=256)
    assert context.function_name == "widget"
    assert context.invoked_function_arn.endswith(":function:widget")
    assert context.memory_limit_in_mb == "256"
    assert context.log_group_name == "/aws/lambda/widget"
    assert (context.identity, context.client_context) == (None, None)


# --------------------------------------------------------------------------
# Where the function's code is


@needs_runtime_client
def test_a_handler_runs_from_its_root_whatever_the_current_directory(
    code_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    with running("handlers.echo", root=code_root) as (api, _):
        outcome = api.invoke({"n": 1})
    assert outcome.kind == "response"
    assert outcome.payload == {"event": {"n": 1}, "cwd": str(code_root), "task_root": str(code_root)}


@needs_runtime_client
def test_the_root_is_the_current_directory_by_default(
    code_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(code_root)
    with running("handlers.echo", root=None) as (api, _):
        assert api.invoke(None).payload == {"event": None, "cwd": str(code_root), "task_root": str(code_root)}


# --------------------------------------------------------------------------
# A function that cannot answer fails at once, with the runtime's own error


@needs_runtime_client
@pytest.mark.parametrize(
    ("handler", "error_type", "error_message"),
    [
        (
            "missing.handler",
            "Runtime.ImportModuleError",
            "Unable to import module 'missing': No module named",
        ),
        ("handlers.missing", "Runtime.HandlerNotFound", "Handler 'missing' missing on module 'handlers'"),
        ("handlers", "Runtime.MalformedHandlerName", "Bad handler 'handlers'"),
        ("broken.handler", "Runtime.UserCodeSyntaxError", "Syntax error in module 'broken'"),
        ("raises.handler", "RuntimeError", "refusing to start"),
    ],
)
def test_a_function_that_cannot_start_fails_the_invocation_with_the_runtimes_error(
    code_root: Path, handler: str, error_type: str, error_message: str
) -> None:
    (code_root / "broken.py").write_text("def handler(event, context)\n")
    (code_root / "raises.py").write_text("raise RuntimeError('refusing to start')\n")
    with running(handler, code_root) as (api, _), pytest.raises(FunctionError) as caught:
        api.invoke({})
    assert caught.value.error_type == error_type
    assert caught.value.error_message.startswith(error_message)
    assert str(caught.value).startswith(f"{error_type}: {error_message}")


@needs_runtime_client
def test_once_the_function_failed_every_later_invocation_fails_too(code_root: Path) -> None:
    with running("missing.handler", code_root) as (api, _):
        for _ in range(3):
            with pytest.raises(FunctionError, match=r"^Runtime\.ImportModuleError: "):
                api.invoke({})


@needs_runtime_client
def test_a_function_that_exits_mid_invocation_fails_with_its_exit_status_and_output(code_root: Path) -> None:
    with running("handlers.exit_3", code_root) as (api, _), pytest.raises(FunctionError) as caught:
        api.invoke({})
    assert caught.value.error_type == "Runtime.ExitError"
    assert caught.value.error_message == "Runtime exited with error: exit status 3"
    assert "leaving now" in caught.value.output
    assert "leaving now" in str(caught.value)


@pytest.mark.parametrize("interpreter", ["this one", "another"])
def test_an_interpreter_without_the_runtime_client_fails_at_once_naming_the_extra(
    interpreter: str, code_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if interpreter == "this one":
        monkeypatch.setitem(sys.modules, "awslambdaric", None)  # as if it were not installed
        python = sys.executable
    else:
        bare = tmp_path / "bare"
        subprocess.run([sys.executable, "-m", "venv", "--without-pip", bare], check=True, timeout=60)
        python = str(bare / "bin" / "python")
    with RuntimeAPI() as api, pytest.raises(ModuleNotFoundError) as caught:
        FunctionProcess(api, {}, "handlers.echo", root=code_root, python=python)
    assert str(caught.value) == (
        f"{python} cannot import the AWS Lambda runtime client (awslambdaric), which runs the function: "
        "install the extra testing, pip install 'task-runtimes[testing]' (Linux wheels only)"
    )


def test_an_invocation_nobody_answers_times_out() -> None:
    with RuntimeAPI() as api, pytest.raises(TimeoutError, match=r"no answer to invocation .* within 0\.1 s"):
        api.invoke({}, timeout=0.1)


# --------------------------------------------------------------------------
# The function's output


@needs_runtime_client
def test_many_failing_invocations_that_print_a_lot_do_not_fill_the_pipe(code_root: Path) -> None:
    with running("handlers.chatty_failure", code_root) as (api, function):
        outcomes = [api.invoke(number) for number in range(200)]
        assert function.process.poll() is None
    assert [outcome.kind for outcome in outcomes] == ["error"] * 200
    assert outcomes[-1].payload["errorMessage"] == "invocation 199 failed"  # type: ignore[index]
    assert "[ERROR] ValueError: invocation 199 failed" in function.output


@needs_runtime_client
def test_the_output_keeps_its_end_when_it_outgrows_the_limit(
    code_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(FunctionProcess, "output_limit", 100_000)
    with running("handlers.chatty_failure", code_root) as (api, function):
        for number in range(5):
            api.invoke(number)
    assert function.output.startswith("[... ")
    assert " earlier bytes not kept ...]\n" in function.output
    assert "invocation 4 failed" in function.output
    assert "invocation 0 says" not in function.output


# --------------------------------------------------------------------------
# The environment, as Lambda sets it


@needs_runtime_client
def test_the_execution_env_names_the_interpreters_python_version_by_default(code_root: Path) -> None:
    with running("handlers.environment", code_root) as (api, _):
        seen = api.invoke(["AWS_EXECUTION_ENV"]).payload
    assert seen == {"AWS_EXECUTION_ENV": f"AWS_Lambda_python{sys.version_info[0]}.{sys.version_info[1]}"}


@needs_runtime_client
def test_lambdas_own_variables_win_over_the_functions_environment(code_root: Path) -> None:
    names = ["_HANDLER", "LAMBDA_TASK_ROOT", "AWS_LAMBDA_MAX_CONCURRENCY", "DB_HOST"]
    environment = dict.fromkeys(names, "from the test")
    with running("handlers.environment", code_root, environment) as (api, _):
        seen = api.invoke(names).payload
    assert seen == {
        "_HANDLER": "handlers.environment",
        "LAMBDA_TASK_ROOT": str(code_root),
        "AWS_LAMBDA_MAX_CONCURRENCY": None,
        "DB_HOST": "from the test",
    }


@needs_runtime_client
def test_the_log_format_and_level_come_from_the_functions_environment(code_root: Path) -> None:
    environment = {"AWS_LAMBDA_LOG_FORMAT": "JSON", "AWS_LAMBDA_LOG_LEVEL": "INFO"}
    with running("handlers.log", code_root, environment) as (api, function):
        request_id = api.invoke({}).request_id
    records = [json.loads(line) for line in function.output.splitlines() if line.startswith("{")]
    assert {"level": "INFO", "message": "hello from the handler", "requestId": request_id}.items() <= (
        records[0].items()
    )


@needs_runtime_client
def test_before_python_3_12_a_lone_surrogate_in_the_response_is_sent_escaped(code_root: Path) -> None:
    with running("handlers.lone_surrogate", code_root, {"AWS_EXECUTION_ENV": "AWS_Lambda_python3.11"}) as (
        api,
        _,
    ):
        outcome = api.invoke({})
    assert (outcome.kind, outcome.payload) == ("response", "\udc80")


@needs_runtime_client
@pytest.mark.parametrize("execution_env", ["AWS_Lambda_python3.12", "AWS_Lambda_python3.13"])
def test_from_python_3_12_a_lone_surrogate_in_the_response_crashes_the_runtime(
    code_root: Path, execution_env: str
) -> None:
    with (
        running("handlers.lone_surrogate", code_root, {"AWS_EXECUTION_ENV": execution_env}) as (api, _),
        pytest.raises(FunctionError) as caught,
    ):
        api.invoke({})
    assert caught.value.error_type == "Runtime.ExitError"
    assert "UnicodeEncodeError: 'utf-8' codec can't encode character '\\udc80'" in caught.value.output


# --------------------------------------------------------------------------
# python -m task_testing HANDLER EVENT_FILE...


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        ([], "usage: python -m task_testing HANDLER EVENT_FILE"),
        (["handlers.echo"], "usage: python -m task_testing HANDLER EVENT_FILE"),
        (["handlers.echo", "no-such-event.json"], "task_testing: cannot read the event file: "),
    ],
)
def test_a_usage_error_exits_2_saying_what_is_wrong(
    argv: list[str],
    message: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    captured = capsys.readouterr()
    assert (captured.out, captured.err[: len(message)]) == ("", message)


def test_python_m_task_testing_without_arguments_exits_2(tmp_path: Path) -> None:
    completed = subprocess.run(
        [sys.executable, "-m", "task_testing"],
        env={"PATH": os.environ["PATH"], "PYTHONPATH": str(Path(__file__).parent)},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert (completed.returncode, completed.stdout) == (2, "")
    assert completed.stderr.startswith("usage: ")


@needs_runtime_client
def test_the_command_line_prints_one_line_per_event_and_exits_1_when_one_failed(
    code_root: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (code_root / "good.json").write_text('{"n": 1}')
    (code_root / "bad.json").write_text("7")
    monkeypatch.chdir(code_root)
    monkeypatch.setenv("AWS_LAMBDA_LOG_FORMAT", "Text")
    assert main(["handlers.chatty_failure", "bad.json"]) == 1
    assert main(["handlers.echo", "good.json", "good.json"]) == 0
    captured = capsys.readouterr()
    failed, *answered = map(json.loads, captured.out.splitlines())
    assert (failed["error"]["errorType"], failed["error"]["errorMessage"]) == (
        "ValueError",
        "invocation 7 failed",
    )
    assert (
        answered
        == [{"response": {"event": {"n": 1}, "cwd": str(code_root), "task_root": str(code_root)}}] * 2
    )
    assert "[ERROR] ValueError: invocation 7 failed" in captured.err


@needs_runtime_client
@pytest.mark.parametrize(
    ("settings", "logged"),
    [
        ({}, '{"timestamp": '),  # JSON, at INFO
        ({"AWS_LAMBDA_LOG_FORMAT": "Text"}, "[INFO]\t"),  # text, still at INFO
        ({"AWS_LAMBDA_LOG_LEVEL": "WARN"}, None),
    ],
)
def test_the_command_line_logs_json_at_info_unless_the_environment_says_otherwise(
    settings: dict[str, str],
    logged: str | None,
    code_root: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    (code_root / "event.json").write_text("{}")
    monkeypatch.chdir(code_root)
    for name, value in settings.items():
        monkeypatch.setenv(name, value)
    assert main(["handlers.log", "event.json"]) == 0
    lines = [line for line in capsys.readouterr().err.splitlines() if "hello from the handler" in line]
    assert [line[: len(logged or "")] for line in lines] == ([logged] if logged else [])


def test_the_command_line_without_the_runtime_client_exits_2_naming_the_extra(
    code_root: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (code_root / "event.json").write_text("{}")
    monkeypatch.chdir(code_root)
    monkeypatch.setitem(sys.modules, "awslambdaric", None)
    assert main(["handlers.echo", "event.json"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith("task_testing: ")
    assert "pip install 'task-runtimes[testing]'" in captured.err


@needs_runtime_client
def test_the_command_line_reports_a_handler_that_cannot_start_as_each_invocations_error(
    code_root: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (code_root / "event.json").write_text("{}")
    monkeypatch.chdir(code_root)
    assert main(["missing.handler", "event.json", "event.json"]) == 1
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [line["error"]["errorType"] for line in lines] == ["Runtime.ImportModuleError"] * 2
