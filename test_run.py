"""The command line for any task: `task-run MODULE:NAME` and `python -m task_cli MODULE:NAME`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import PROJECT_DIR, SECRET
from task_events import sqs_event
from task_run import main

#: A user's own task, in a module of its own: not Widget, and no runnable classes but one.
NIGHTLY = '''\
from typing import ClassVar

from task import LocalTask, Parameters, Secret, between
from task_lambda import handle_event


class NightlyParams(Parameters):
    bucket: str
    days: int = between(1, 31, default=7)
    ratio: float | None
    dry_run: bool = False
    token: Secret


class NightlyExport:
    name: ClassVar[str] = "nightly"
    runtime: ClassVar[str]
    parameters: ClassVar[type[Parameters]] = NightlyParams

    def execute(self, params: NightlyParams) -> dict[str, object]:
        return {"runtime": self.runtime, **params.masked(), "files": params.days * 2}


class LocalNightly(NightlyExport, LocalTask):
    """Its one runnable class: task-run finds the others."""


def wrapped_handler(event, context):
    from task import LambdaTask, runnable

    return {"wrapped": handle_event(runnable(NightlyExport, LambdaTask), event, context)}


class Nameless:
    parameters: ClassVar[type[Parameters]] = NightlyParams

    def execute(self, params: NightlyParams) -> dict[str, object]:
        return {}


not_callable = 42
'''

PARAMS = {"bucket": "exports", "days": 3, "ratio": None, "dry_run": True, "token": SECRET}


def result(runtime: str) -> dict[str, object]:
    return {**PARAMS, "runtime": runtime, "token": "***", "files": 6}


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A user's project directory, the current one, holding nightly.py and a parameters file."""
    (tmp_path / "nightly.py").write_text(NIGHTLY)
    (tmp_path / "broken.py").write_text("raise RuntimeError('no database configured')\n")
    (tmp_path / "exiting.py").write_text("import sys\nsys.exit(0)\n")  # would end task-run with 0
    (tmp_path / "lazy.py").write_text("def __getattr__(name):\n    raise RuntimeError(name)\n")
    (tmp_path / "nightly.json").write_text(json.dumps(PARAMS))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", [entry for entry in sys.path if entry not in ("", str(tmp_path))])
    yield tmp_path
    for module in ("nightly", "broken"):
        sys.modules.pop(module, None)


def lines(text: str) -> list[str]:
    return text.splitlines()


# --------------------------------------------------------------------------
# Running and checking a task by name


@pytest.mark.parametrize("target", ["nightly:NightlyExport", "nightly:LocalNightly"])
def test_a_task_named_by_its_mixin_or_a_runnable_class_runs_locally(
    project: Path, target: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([target, "--config", "nightly.json"]) == 0
    assert json.loads(capsys.readouterr().out) == result("local")


@pytest.mark.parametrize(
    ("options", "runtime"), [(["--runtime", "env"], "env"), (["--event", "event.json"], "lambda")]
)
def test_every_runtime_of_the_command_line_serves_a_task_named_by_module(
    project: Path,
    options: list[str],
    runtime: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    (project / "event.json").write_text(json.dumps(PARAMS))
    for name, value in PARAMS.items():
        monkeypatch.setenv(f"NIGHTLY_{name.upper()}", "" if value is None else str(value))
    assert main(["nightly:NightlyExport", *options]) == 0
    assert json.loads(capsys.readouterr().out) == result(runtime)


def test_check_reports_a_task_named_by_module_without_running_it(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["nightly:NightlyExport", "--config", "nightly.json", "--check"]) == 0
    report = capsys.readouterr().out
    assert "Source: JSON file nightly.json" in report
    assert "Valid: the task would run with these parameters." in report
    assert SECRET not in report


def test_event_runs_the_tasks_lambda_class_through_the_trigger_layer(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (project / "sqs.json").write_text(json.dumps(sqs_event(PARAMS, {**PARAMS, "days": 99})))
    assert main(["nightly:NightlyExport", "--event", "sqs.json"]) == 2
    (failed,) = json.loads(capsys.readouterr().out)["batchItemFailures"]
    assert failed["itemIdentifier"]


def test_event_with_handler_calls_the_handler_it_names(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (project / "event.json").write_text(json.dumps(PARAMS))
    assert (
        main(["nightly:NightlyExport", "--event", "event.json", "--handler", "nightly.wrapped_handler"]) == 0
    )
    assert json.loads(capsys.readouterr().out) == {"wrapped": result("lambda")}


# --------------------------------------------------------------------------
# What cannot be found is exit 2 with one line


@pytest.mark.parametrize(
    ("target", "message"),
    [
        ("nightly", "nightly is not MODULE:NAME (for example mymodule:MyTask)"),
        ("nightly:", "nightly: is not MODULE:NAME"),
        ("missing:Task", "cannot import module missing: ModuleNotFoundError: No module named 'missing'"),
        ("broken:Task", "cannot import module broken: RuntimeError: no database configured"),
        ("exiting:Task", "cannot import module exiting: SystemExit: 0"),
        ("lazy:Task", "module lazy has no Task"),
        ("nightly:Missing", "module nightly has no Missing"),
        ("nightly:wrapped_handler", "nightly:wrapped_handler is not a class but function"),
        ("nightly:NightlyParams", "nightly:NightlyParams is not a business task: it has no execute("),
        ("nightly:Nameless", "nightly:Nameless is not a business task: class LocalNameless: the business"),
        ("task:LocalTask", "task:LocalTask is a runtime class without one business task"),
    ],
)
def test_what_is_no_business_task_exits_2_with_one_line_saying_why(
    project: Path, target: str, message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([target, "--check"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    (line,) = lines(captured.err)
    assert line.startswith(f"task-run: error: {message}")


@pytest.mark.parametrize(
    ("handler", "message"),
    [
        ("nightly", "--handler nightly is not MODULE.FUNCTION (for example mymodule.handler)"),
        (
            "missing.handler",
            "--handler missing.handler: cannot import module missing: ModuleNotFoundError: No module named "
            "'missing'",
        ),
        ("nightly.missing", "--handler nightly.missing: module nightly has no missing"),
        ("nightly.not_callable", "--handler nightly.not_callable is not a function but int"),
    ],
)
def test_a_handler_that_cannot_be_found_is_a_usage_error(
    project: Path, handler: str, message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    (project / "event.json").write_text(json.dumps(PARAMS))
    assert main(["nightly:NightlyExport", "--event", "event.json", "--handler", handler]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert lines(captured.err) == [f"task-run nightly:NightlyExport: error: {message}"]


def test_handler_without_event_is_a_usage_error(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["nightly:NightlyExport", "--handler", "nightly.wrapped_handler"]) == 2
    assert "--handler is for the lambda runtime" in capsys.readouterr().err


def test_a_program_that_fixes_its_handler_has_no_handler_option(capsys: pytest.CaptureFixture[str]) -> None:
    from assignment import main as assignment_main

    assert assignment_main(["--event", "fixtures/events/direct.json", "--handler", "assignment.handler"]) == 2
    assert "unrecognized arguments: --handler" in capsys.readouterr().err


# --------------------------------------------------------------------------
# Usage


def test_without_arguments_the_usage_goes_to_stderr_with_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 2
    captured = capsys.readouterr()
    assert (captured.out, captured.err.splitlines()[0][:33]) == ("", "usage: task-run MODULE:NAME [--ru")


@pytest.mark.parametrize("option", ["--help", "-h"])
def test_help_prints_the_usage_with_exit_0(option: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([option]) == 0
    captured = capsys.readouterr()
    assert captured.out.startswith("usage: task-run MODULE:NAME [--runtime {local,batch,env,lambda}]")
    assert "--handler MODULE.FUNCTION" in captured.out
    assert captured.err == ""


def test_help_after_the_task_describes_every_option_for_that_task(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["nightly:NightlyExport", "--help"]) == 0
    help_text = capsys.readouterr().out
    assert help_text.startswith("usage: task-run nightly:NightlyExport [-h]")
    assert "Run the nightly task." in " ".join(help_text.split())
    assert "--handler MODULE.FUNCTION" in help_text


def python_m(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """`python -m ARGS` in a fresh process, with the library on its path (as installed, it would be)."""
    environment = {"PATH": os.environ["PATH"], "LANG": "C.UTF-8", "PYTHONPATH": str(PROJECT_DIR)}
    return subprocess.run(
        [sys.executable, "-m", *args],
        cwd=cwd,
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_python_m_task_cli_runs_a_task_of_the_current_directory(project: Path) -> None:
    done = python_m("task_cli", "nightly:NightlyExport", "--config", "nightly.json", cwd=project)
    assert (done.returncode, json.loads(done.stdout)) == (0, result("local"))


def test_python_m_task_cli_without_arguments_prints_the_usage_with_exit_2(tmp_path: Path) -> None:
    done = python_m("task_cli", cwd=tmp_path)
    assert (done.returncode, done.stdout) == (2, "")
    assert done.stderr.startswith("usage: python -m task_cli MODULE:NAME ")


def test_python_m_task_says_in_one_line_to_use_task_run(tmp_path: Path) -> None:
    done = python_m("task", cwd=tmp_path)
    assert (done.returncode, done.stdout) == (2, "")
    (line,) = lines(done.stderr)
    assert "task-run MODULE:NAME" in line
