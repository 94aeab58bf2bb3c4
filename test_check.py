"""--check: load and validate without running, and say where everything came from."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from assignment import LambdaWidget, LocalWidget, Widget
from conftest import DROP, PROJECT_DIR, SECRET, Failing, run_assignment, widget_params, write_tinydb
from task import run_command_line

WIDGET_JSON = PROJECT_DIR / "fixtures" / "widget.json"
TASKS_JSON = PROJECT_DIR / "fixtures" / "tasks.json"


def test_the_report_is_available_from_python() -> None:
    report = LocalWidget(WIDGET_JSON).check()
    assert report.ok
    assert report.runtime == "local"
    assert report.source == f"JSON file {WIDGET_JSON}"
    assert report.parameters == (
        ("host", '"db.example.com"', "from the file"),
        ("port", "5432", "from the file"),
        ("database", '"widgets"', "from the file"),
        ("user", '"widget_app"', "from the file"),
        ("password", "***", "from the file"),
    )
    assert report.problems == ()


def test_a_lambda_events_report_shows_defaults_references_and_masked_secrets(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("DB_PASSWORD", SECRET)
    monkeypatch.setenv("TASK_ENV_REFS", "DB_PASSWORD")
    event = widget_params(port=DROP, password={"$env": "DB_PASSWORD"})
    report = LambdaWidget(event).check()
    assert report.render() == "\n".join(
        [
            "Runtime: lambda",
            "Source: Lambda event",
            "Parameters (5):",
            '  host      "db.internal"  from the event',
            "  port      5432           default",
            '  database  "widgets"      from the event',
            '  user      "app"          from the event',
            "  password  ***            from $env DB_PASSWORD",
            "Valid: the task would run with these parameters.",
        ]
    )


def test_an_invalid_configuration_reports_every_problem(tmp_path: Path) -> None:
    path = tmp_path / "widget.json"
    path.write_text(json.dumps(widget_params(host=7, port="x", user=SECRET, colour="red")))
    report = LocalWidget(path).check()
    assert not report.ok
    assert report.render("--runtime local was given") == "\n".join(
        [
            "Runtime: local, because --runtime local was given",
            f"Source: JSON file {path}",
            "Problems (3):",
            "  - host: expected a string, got an integer",
            "  - port: expected an integer, got a string",
            "  - colour: unknown parameter (known: host, port, database, user, password)",
            "Invalid: fix every problem above; nothing was run.",
        ]
    )


def test_a_source_that_cannot_be_read_is_reported_as_a_problem(tmp_path: Path) -> None:
    report = LocalWidget(tmp_path / "absent.json").check()
    assert report.problems == ("No such file or directory",)
    assert report.source == f"JSON file {tmp_path / 'absent.json'}"


def test_check_never_runs_the_business_logic(capsys: pytest.CaptureFixture[str]) -> None:
    assert run_command_line(Failing, ["--check", "--config", str(WIDGET_JSON)], environ={}) == 0
    out = capsys.readouterr().out
    assert out.startswith("Runtime: local, because --runtime was not given and AWS_BATCH_JOB_ID is not set\n")
    assert out.endswith("Valid: the task would run with these parameters.\n")


@pytest.mark.parametrize(
    ("argv", "environ", "first_line"),
    [
        (
            ["--config", str(WIDGET_JSON)],
            {},
            "Runtime: local, because --runtime was not given and AWS_BATCH_JOB_ID is not set",
        ),
        (
            ["--runtime", "local", "--config", str(WIDGET_JSON)],
            {"AWS_BATCH_JOB_ID": "job-1"},
            "Runtime: local, because --runtime local was given",
        ),
        (
            [],
            {"AWS_BATCH_JOB_ID": "job-1", "TASK_CONFIG_DB": str(TASKS_JSON), "DB_PASSWORD": "x"},
            "Runtime: batch, because AWS_BATCH_JOB_ID is set",
        ),
        (
            ["--runtime", "env"],
            {"WIDGET_HOST": "h", "WIDGET_DATABASE": "d", "WIDGET_USER": "u", "WIDGET_PASSWORD": SECRET},
            "Runtime: env, because --runtime env was given",
        ),
    ],
    ids=["default", "option", "batch-job", "env"],
)
def test_the_report_says_why_the_runtime_was_chosen(
    argv: list[str], environ: dict[str, str], first_line: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run_command_line(Widget, ["--check", *argv], environ=environ) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0] == first_line
    assert SECRET not in out


def test_python_assignment_py_check_in_an_array_job() -> None:
    environment = {
        "AWS_BATCH_JOB_ID": "job-1",
        "AWS_BATCH_JOB_ARRAY_INDEX": "1",
        "TASK_CONFIG_DB": str(TASKS_JSON),
        "DB_PASSWORD": SECRET,
    }
    completed = run_assignment("--check", env=environment)
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.splitlines() == [
        "Runtime: batch, because AWS_BATCH_JOB_ID is set",
        f"Source: TinyDB file {TASKS_JSON}, table '_default', key 'widget', array index 1",
        "Parameters (5):",
        '  host      "db-us.example.com"  from the document',
        "  port      5432                 default",
        '  database  "widgets_us"         from the document',
        '  user      "widget_app"         from the document',
        "  password  ***                  from $env DB_PASSWORD",
        "Valid: the task would run with these parameters.",
    ]
    assert SECRET not in completed.stdout + completed.stderr


def test_python_assignment_py_check_exits_2_listing_every_problem(tmp_path: Path) -> None:
    db = write_tinydb(tmp_path / "tasks.json", [{"task": "widget", "params": {"port": 1.5, "hots": "h"}}])
    before = db.read_bytes()
    completed = run_assignment("--check", "--runtime", "batch", "--db", str(db))
    assert completed.returncode == 2
    assert completed.stdout.splitlines()[2:] == [
        "Problems (6):",
        "  - host: missing (expected a string)",
        "  - port: expected an integer, got a number with a fraction or exponent",
        "  - database: missing (expected a string)",
        "  - user: missing (expected a string)",
        "  - password: missing (expected a string (secret))",
        "  - hots: unknown parameter (known: host, port, database, user, password)",
        "Invalid: fix every problem above; nothing was run.",
    ]
    assert "configuration error" in completed.stderr
    assert "Traceback" not in completed.stderr
    assert db.read_bytes() == before
