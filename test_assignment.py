"""Widget: its logic, the local runtime, the command line, and one result everywhere."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from assignment import LocalWidget, Widget, WidgetParams, handler, main
from conftest import (
    JSON_RUNTIMES,
    PROJECT_DIR,
    SECRET,
    build_widget,
    run_assignment,
    shipped_result,
    widget_params,
)
from task import ConfigError
from task_testing import FakeLambdaContext

FIXTURE = PROJECT_DIR / "fixtures" / "widget.json"

EXPECTED_FROM_FIXTURE = shipped_result("local")


# --------------------------------------------------------------------------
# The business logic, without any runtime


def test_widget_logic_describes_the_connection_with_the_secret_masked() -> None:
    class Direct(Widget):
        runtime = "test"

    params = WidgetParams(host="h", database="d", user="u", password=SECRET)
    assert Direct().execute(params) == {
        "runtime": "test",
        "host": "h",
        "port": 5432,
        "database": "d",
        "user": "u",
        "password": "***",
        "connection": "u@h:5432/d",
    }


# --------------------------------------------------------------------------
# The local runtime


def test_local_widget_runs_on_the_shipped_fixture() -> None:
    assert LocalWidget(FIXTURE).run() == EXPECTED_FROM_FIXTURE


def test_task_config_file_names_the_file_when_no_path_is_given() -> None:
    assert LocalWidget(environ={"TASK_CONFIG_FILE": str(FIXTURE)}).run() == EXPECTED_FROM_FIXTURE


def test_the_constructor_argument_wins_over_task_config_file(tmp_path: Path) -> None:
    environ = {"TASK_CONFIG_FILE": str(tmp_path / "not-this-one.json")}
    assert LocalWidget(FIXTURE, environ=environ).run() == EXPECTED_FROM_FIXTURE


@pytest.mark.parametrize("value", [None, ""], ids=["unset", "empty"])
def test_no_path_and_no_task_config_file_is_an_error_naming_the_variable(value: str | None) -> None:
    environ = {} if value is None else {"TASK_CONFIG_FILE": value}
    widget = LocalWidget(environ=environ)  # constructing never fails for a missing source
    with pytest.raises(ConfigError, match="TASK_CONFIG_FILE"):
        widget.run()


BAD_FILES = {
    "missing": (None, "No such file or directory"),
    "empty": (b"", "empty: expected a JSON object"),
    "blank": (b"  \n", "empty: expected a JSON object"),
    "malformed": (b'{"host": "h",, "password": "' + SECRET.encode() + b'"}', "not valid JSON: Expecting"),
    "truncated": (b'{"host": "h", "password": "' + SECRET.encode(), "not valid JSON: Unterminated string"),
    "array": (b'[{"host": "h"}]', "expected a JSON object of parameters, got an array"),
    "string": (json.dumps(SECRET).encode(), "expected a JSON object of parameters, got a string"),
    "null": (b"null", "expected a JSON object of parameters, got null"),
    "not-utf-8": (b'{"password": "\xff' + SECRET.encode() + b'"}', "not UTF-8 text (bad byte at offset 14)"),
}


@pytest.mark.parametrize(("content", "explanation"), BAD_FILES.values(), ids=BAD_FILES.keys())
def test_a_bad_json_file_is_a_source_error_naming_the_file(
    content: bytes | None, explanation: str, tmp_path: Path
) -> None:
    path = tmp_path / "widget.json"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(ConfigError) as caught:
        LocalWidget(path).run()
    message = str(caught.value)
    assert message.startswith(f"JSON file {path}: {explanation}")
    assert SECRET not in message


def test_a_directory_is_a_source_error_naming_it(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=f"JSON file {tmp_path}: Is a directory"):
        LocalWidget(tmp_path).run()


def test_a_file_with_parameter_problems_names_the_file_and_each_parameter(tmp_path: Path) -> None:
    path = tmp_path / "widget.json"
    path.write_text(json.dumps(widget_params(port=True, user=None, pasword=SECRET)))
    with pytest.raises(ConfigError) as caught:
        LocalWidget(path).run()
    assert caught.value.source == f"JSON file {path}"
    assert caught.value.problems == (
        "port: expected an integer from 1 to 65535, got a boolean",
        "user: expected a string, got null",
        "pasword: unknown parameter (known: host, port, database, user, password)",
    )
    assert SECRET not in str(caught.value)


# --------------------------------------------------------------------------
# One result in every runtime


def test_the_same_parameters_give_the_same_result_in_every_runtime(tmp_path: Path) -> None:
    results = {}
    for runtime in (*JSON_RUNTIMES, "env"):
        directory = tmp_path / runtime
        directory.mkdir()
        results[runtime] = build_widget(runtime, widget_params(), directory).run()
    assert {runtime: result.pop("runtime") for runtime, result in results.items()} == {
        "local": "local",
        "batch": "batch",
        "lambda": "lambda",
        "env": "env",
    }
    assert results["local"] == results["batch"] == results["lambda"] == results["env"]
    assert results["local"]["password"] == "***"


def test_the_lambda_handler_returns_widgets_result() -> None:
    event = json.loads(FIXTURE.read_text())
    assert handler(event, FakeLambdaContext("widget")) == shipped_result("lambda")


# --------------------------------------------------------------------------
# The command line, in this process


def test_main_prints_the_result_as_one_json_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--config", str(FIXTURE)]) == 0
    out = capsys.readouterr().out
    assert out.count("\n") == 1
    assert json.loads(out) == EXPECTED_FROM_FIXTURE


def test_main_reports_a_configuration_error_on_stderr_and_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "widget.json"
    path.write_text(json.dumps(widget_params(host=None, port="x", password=[SECRET])))
    assert main(["--config", str(path)]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert f"configuration error: JSON file {path}: 3 problems: host:" in captured.err
    assert "port:" in captured.err
    assert "password:" in captured.err
    assert "Traceback" not in captured.err
    assert SECRET not in captured.err


def test_main_runs_a_lambda_event_through_assignment_handler(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    calls = []

    def recording_handler(event: object, context: object) -> object:
        calls.append(event)
        return handler(event, context)

    monkeypatch.setattr("assignment.handler", recording_handler)
    assert main(["--event", str(FIXTURE)]) == 0
    assert calls == [json.loads(FIXTURE.read_text())]
    assert json.loads(capsys.readouterr().out) == shipped_result("lambda")


# --------------------------------------------------------------------------
# The command line, as `make run` runs it


def test_python_assignment_py_runs_widget_locally() -> None:
    completed = run_assignment("--config", "fixtures/widget.json")
    assert completed.returncode == 0, completed.stderr
    assert json.loads(completed.stdout) == EXPECTED_FROM_FIXTURE
    assert "INFO task: widget: done (runtime=local" in completed.stderr
    assert "source=JSON file fixtures/widget.json" in completed.stderr
    assert "correct-horse-battery-staple" not in completed.stdout + completed.stderr


def test_python_assignment_py_without_a_config_names_task_config_file() -> None:
    completed = run_assignment()
    assert completed.returncode == 2
    assert completed.stdout == ""
    (line,) = completed.stderr.splitlines()
    assert (
        "ERROR task: widget: configuration error: local runtime: no JSON file given: "
        "pass config_path (--config) or set TASK_CONFIG_FILE"
    ) in line
