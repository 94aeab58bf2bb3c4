"""The command line: its logs, --check --all, --event, usage errors and exit statuses, in any locale."""

from __future__ import annotations

import json
import logging
import os
import re
import signal
import subprocess
import sys
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import pytest
from tinydb import TinyDB

from assignment import BatchWidget, Widget, main
from conftest import PROJECT_DIR, SECRET, Failing, run_assignment, widget_params, write_tinydb
from task import ConfigError
from task_check import check_every_document
from task_cli import run_command_line

WIDGET_JSON = PROJECT_DIR / "fixtures" / "widget.json"
TASKS_JSON = PROJECT_DIR / "fixtures" / "tasks.json"
EVENTS = PROJECT_DIR / "fixtures" / "events"

#: What AWS Batch sets in a job's container, for the shipped TinyDB file.
BATCH_JOB = {
    "AWS_BATCH_JOB_ID": "8f1c4b3e-job",
    "AWS_BATCH_JOB_ATTEMPT": "1",
    "TASK_CONFIG_DB": str(TASKS_JSON),
    "DB_PASSWORD": SECRET,
}


#: The options that choose the batch runtime and its file (which follows them).
BATCH_OPTIONS = ("--runtime", "batch", "--db")


def json_lines(text: str) -> list[dict[str, Any]]:
    """Every line of a log, each of which must be one JSON object."""
    return [json.loads(line) for line in text.splitlines()]


def unit_record(text: str) -> dict[str, Any]:
    """The one record of a unit of work (the one with an outcome) in a JSON log."""
    (record,) = [record for record in json_lines(text) if "outcome" in record]
    return record


class DatabaseRefusedError(Exception):
    """A business task's own exception."""


class LeakyFailing(Failing):
    """Fails with the password in its message and in the exception chained to it."""

    def execute(self, params: Any) -> dict[str, object]:
        password = params.password.reveal()
        try:
            raise OSError(f"login with {password} refused")
        except OSError as exc:
            raise DatabaseRefusedError(f"the database refused user app, password {password}") from exc


# --------------------------------------------------------------------------
# Logs: JSON lines in AWS Batch, readable text elsewhere


def test_a_batch_job_logs_every_line_as_json_with_job_id_array_index_and_attempt_as_integers() -> None:
    completed = run_assignment(
        env={**BATCH_JOB, "AWS_BATCH_JOB_ARRAY_INDEX": "2", "AWS_BATCH_JOB_ATTEMPT": "3"}
    )
    assert completed.returncode == 0, completed.stderr
    assert json.loads(completed.stdout)["host"] == "db-ap.example.com"
    record = unit_record(completed.stderr)
    assert record["level"] == "INFO"
    assert record["message"] == "widget: done"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", record["timestamp"])
    assert (record["job_id"], record["array_index"], record["attempt"]) == ("8f1c4b3e-job", 2, 3)
    assert (record["runtime"], record["outcome"], record["task"]) == ("batch", "ok", "widget")
    assert SECRET not in completed.stdout + completed.stderr


def test_a_failing_batch_job_exits_1_with_the_error_in_one_json_line_and_no_secret(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = write_tinydb(tmp_path / "tasks.json", [{"task": "failing", "params": widget_params()}])
    environ = {"AWS_BATCH_JOB_ID": "job-7", "TASK_CONFIG_DB": str(db)}
    assert run_command_line(LeakyFailing, [], environ=environ) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    record = unit_record(captured.err)
    assert (record["level"], record["outcome"], record["job_id"]) == ("ERROR", "failed", "job-7")
    assert record["errorType"] == "DatabaseRefusedError"
    assert record["errorMessage"] == "the database refused user app, password ***"
    assert isinstance(record["stackTrace"], list)
    assert any("in execute" in frame for frame in record["stackTrace"])
    assert SECRET not in captured.err


def test_a_configuration_error_in_a_batch_job_is_one_json_line_with_its_error_type(
    capsys: pytest.CaptureFixture[str],
) -> None:
    environ = {**BATCH_JOB, "AWS_BATCH_JOB_ARRAY_INDEX": "7"}
    assert run_command_line(Widget, [], environ=environ) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    (record,) = json_lines(captured.err)
    assert record["outcome"] == "config_error"
    assert record["message"].endswith("no document with key 'widget' and array_index 7")
    assert (record["errorType"], record["errorMessage"]) == ("ConfigError", record["message"][29:])


def test_a_configuration_error_in_text_is_one_line_without_a_traceback(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert run_command_line(Widget, ["--config", "absent.json"], environ={}) == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert "ERROR task: widget: configuration error: JSON file absent.json: No such file" in line


#: What a business exception's message may hold to forge a record in a text log.
FORGED_LINE = "2026-01-01 00:00:00,000 INFO task: widget: done (runtime=local)"


class Forging(Failing):
    """Fails with an exception whose message holds line breaks and a fake record."""

    def execute(self, params: Any) -> dict[str, object]:
        raise RuntimeError(f"refused\n{FORGED_LINE}\r{FORGED_LINE}\u2028{FORGED_LINE}")


def test_no_line_of_a_traceback_in_text_can_pass_for_a_record(capsys: pytest.CaptureFixture[str]) -> None:
    assert run_command_line(Forging, ["--config", str(WIDGET_JSON)], environ={}) == 1
    (first, *traceback) = capsys.readouterr().err.removesuffix("\n").split("\n")
    assert "ERROR task: failing: failed: refused\\n2026-01-01" in first
    assert len(traceback) > 3
    assert all(line.startswith("  | ") and "\r" not in line for line in traceback)
    assert sum(FORGED_LINE in line for line in traceback) == 3


@pytest.mark.filterwarnings("always::UserWarning")
def test_every_line_of_a_multiline_message_in_text_but_the_first_is_marked(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert run_command_line(Chatty, ["--config", str(WIDGET_JSON)], environ={}) == 0
    lines = capsys.readouterr().err.splitlines()
    assert lines[0].endswith("WARNING chatty.db: slow database")
    assert lines[1] == "  | second line"


def test_a_local_run_logs_one_readable_line_with_the_records_fields(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert run_command_line(Widget, ["--config", str(WIDGET_JSON)], environ={}) == 0
    (line,) = capsys.readouterr().err.splitlines()
    assert re.fullmatch(
        r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} INFO task: widget: done "
        rf"\(runtime=local, duration_ms=[\d.]+, source=JSON file {re.escape(str(WIDGET_JSON))}\)",
        line,
    )


@pytest.mark.parametrize(
    ("argv", "environ", "as_json"),
    [
        (["--config", str(WIDGET_JSON)], {"TASK_LOG_FORMAT": "json"}, True),
        (["--config", str(WIDGET_JSON)], {"TASK_LOG_FORMAT": "JSON"}, True),
        ([], {**BATCH_JOB, "TASK_LOG_FORMAT": "text"}, False),
        ([], {**BATCH_JOB, "TASK_LOG_FORMAT": ""}, True),
    ],
    ids=["local-json", "any-case", "batch-text", "empty-is-unset"],
)
def test_task_log_format_chooses_json_lines_or_text(
    argv: list[str], environ: dict[str, str], as_json: bool, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run_command_line(Widget, argv, environ=environ) == 0
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith("{") == as_json
    assert "widget: done" in line


@pytest.mark.parametrize(
    ("level", "config", "lines"),
    [
        ("WARNING", str(WIDGET_JSON), 0),
        ("error", "absent.json", 1),
        ("CRITICAL", "absent.json", 0),
        ("DEBUG", str(WIDGET_JSON), 1),
    ],
)
def test_task_log_level_sets_the_level(
    level: str, config: str, lines: int, capsys: pytest.CaptureFixture[str]
) -> None:
    run_command_line(Widget, ["--config", config], environ={"TASK_LOG_LEVEL": level})
    assert len(capsys.readouterr().err.splitlines()) == lines


def test_each_run_logs_exactly_one_record(caplog: pytest.LogCaptureFixture) -> None:
    run_command_line(Widget, ["--config", str(WIDGET_JSON)], environ={})
    run_command_line(Widget, ["--config", "absent.json"], environ={})
    assert [record.outcome for record in caplog.records] == ["ok", "config_error"]  # type: ignore[attr-defined]


def test_the_command_line_leaves_logging_as_it_found_it() -> None:
    root, library = logging.getLogger(), logging.getLogger("task")
    before = (list(root.handlers), root.level, list(library.handlers), library.level)
    run_command_line(Widget, ["--event", str(EVENTS / "sqs_mixed.json")], environ={})
    assert (list(root.handlers), root.level, list(library.handlers), library.level) == before


class CleansUp(Failing):
    """Is stopped by SIGTERM while it works, and cleans up."""

    cleaned: ClassVar[list[str]] = []

    def execute(self, params: Any) -> dict[str, object]:
        try:
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(5)
        finally:
            self.cleaned.append("cleaned up")
        return {}


def test_sigterm_exits_143_after_the_tasks_finally_blocks(capsys: pytest.CaptureFixture[str]) -> None:
    started = time.monotonic()
    assert (
        run_command_line(CleansUp, ["--config", str(WIDGET_JSON)], environ={"TASK_LOG_FORMAT": "json"}) == 143
    )
    assert time.monotonic() - started < 4
    assert CleansUp.cleaned == ["cleaned up"]
    captured = capsys.readouterr()
    assert captured.out == ""
    record = unit_record(captured.err)
    assert (record["message"], record["errorType"]) == ("failing: failed: stopped by SIGTERM", "Terminated")


class Chatty(Failing):
    """Logs through its own logger and warns, as business code does."""

    def execute(self, params: Any) -> dict[str, object]:
        logging.getLogger("chatty.db").warning("slow database\nsecond line")
        warnings.warn("an old driver", UserWarning, stacklevel=1)
        return {"done": True}


@pytest.mark.filterwarnings("always::UserWarning")
def test_in_json_every_stderr_line_is_an_object_the_business_logs_and_warnings_included(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert run_command_line(Chatty, ["--config", str(WIDGET_JSON)], environ={"TASK_LOG_FORMAT": "json"}) == 0
    records = json_lines(capsys.readouterr().err)
    assert [(record["logger"], record["level"]) for record in records] == [
        ("chatty.db", "WARNING"),
        ("py.warnings", "WARNING"),
        ("task", "INFO"),
    ]
    assert records[0]["message"] == "slow database\nsecond line"


class Unprintable(Failing):
    """Returns what JSON cannot hold."""

    result: ClassVar[dict[str, object]] = {}

    def execute(self, params: Any) -> dict[str, object]:
        return self.result


@pytest.mark.parametrize(
    ("result", "reason"),
    [
        ({"ids": {1, 2}}, "Object of type set is not JSON serializable"),
        ({"ratio": float("nan")}, "Out of range float values are not JSON compliant"),
        ({"ratio": float("inf")}, "Out of range float values are not JSON compliant"),
    ],
    ids=["set", "nan", "infinity"],
)
def test_a_result_that_is_not_json_exits_1_saying_why(
    result: dict[str, object],
    reason: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setattr(Unprintable, "result", result)
    assert run_command_line(Unprintable, ["--config", str(WIDGET_JSON)], environ={}) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert f"failing: failed: the result is not JSON: {reason}" in captured.err


class LogsOddFields(Failing):
    """Logs extra fields JSON cannot hold as they are."""

    def execute(self, params: Any) -> dict[str, object]:
        logging.getLogger("odd").warning(
            "odd", extra={"ratio": float("nan"), "big": 10**5000}, stack_info=True
        )
        return {}


def test_in_json_a_field_json_cannot_hold_is_shown_as_text(capsys: pytest.CaptureFixture[str]) -> None:
    environ = {"TASK_LOG_FORMAT": "json"}
    assert run_command_line(LogsOddFields, ["--config", str(WIDGET_JSON)], environ=environ) == 0
    (record, _) = json_lines(capsys.readouterr().err)
    assert (record["message"], record["ratio"], record["big"]) == ("odd", "nan", "<int>")


def test_in_text_a_field_json_cannot_hold_is_shown_and_a_stack_is_marked(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert run_command_line(LogsOddFields, ["--config", str(WIDGET_JSON)], environ={}) == 0
    (first, *stack, done) = capsys.readouterr().err.splitlines()
    assert first.endswith("WARNING odd: odd (ratio=NaN, big=<int>)")
    assert stack[0] == "  | Stack (most recent call last):"
    assert all(line.startswith("  | ") for line in stack)
    assert "failing: done" in done


# --------------------------------------------------------------------------
# A call leaves the process as it found it


@pytest.mark.filterwarnings("always::UserWarning")
def test_the_command_line_leaves_streams_warnings_and_signals_as_it_found_them(
    capsys: pytest.CaptureFixture[str],
) -> None:
    def state() -> tuple[object, ...]:
        signals = (signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT))
        return (sys.stdout.errors, sys.stderr.errors, warnings.showwarning, signals)

    logging.captureWarnings(True)
    try:
        before = state()
        assert run_command_line(Chatty, ["--config", str(WIDGET_JSON)], environ={}) == 0
        assert state() == before
    finally:
        logging.captureWarnings(False)
    before = state()
    assert run_command_line(Chatty, ["--config", str(WIDGET_JSON)], environ={}) == 0
    assert state() == before


def test_the_command_line_runs_off_the_main_thread(capsys: pytest.CaptureFixture[str]) -> None:
    import threading

    statuses: list[int] = []
    thread = threading.Thread(
        target=lambda: statuses.append(run_command_line(Widget, ["--config", str(WIDGET_JSON)], environ={}))
    )
    thread.start()
    thread.join()
    assert statuses == [0]
    assert json.loads(capsys.readouterr().out)["runtime"] == "local"


# --------------------------------------------------------------------------
# Usage errors


@pytest.mark.parametrize(
    ("argv", "environ", "complaint"),
    [
        (["--db", "tasks.json"], {}, "--db is for the batch runtime"),
        (["--runtime", "local", "--prefix", "W_"], {}, "--prefix is for the env runtime"),
        (["--config", "w.json"], {"AWS_BATCH_JOB_ID": "job-1"}, "--config is for the local runtime"),
        (["--runtime", "batch", "--all"], {}, "--all checks every document of the key: use it with --check"),
        (["--check", "--all"], {}, "--all is for the batch runtime"),
        (["--event", "e.json", "--db", "t.json"], {}, "runtime is lambda (--event was given); --db is for"),
        (["--runtime", "batch", "--event", "e.json"], {}, "--event is for the lambda runtime"),
        (["--runtime", "lambda"], {}, "the lambda runtime runs an event: give --event PATH"),
        (["--bogus"], {}, "unrecognized arguments: --bogus"),
    ],
)
def test_a_usage_error_exits_2_and_says_what_is_wrong(
    argv: list[str], environ: dict[str, str], complaint: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run_command_line(Widget, argv, environ=environ) == 2
    captured = capsys.readouterr()
    assert complaint in captured.err
    assert captured.out == ""


@pytest.mark.parametrize(
    ("environ", "complaint"),
    [
        (
            {"TASK_LOG_LEVEL": "Verbose"},
            "TASK_LOG_LEVEL must be one of DEBUG, INFO, WARNING (or WARN), ERROR, CRITICAL, got 'Verbose'",
        ),
        ({"TASK_LOG_FORMAT": "Xml\n"}, "TASK_LOG_FORMAT must be json or text, got 'Xml\\n'"),
        ({"TASK_LOG_LEVEL": "loud", "TASK_LOG_FORMAT": "text"}, "TASK_LOG_LEVEL must be one of"),
    ],
    ids=["level", "format", "level-in-text"],
)
def test_a_bad_log_variable_exits_2_with_one_line_saying_so(
    environ: dict[str, str], complaint: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run_command_line(Widget, ["--config", str(WIDGET_JSON)], environ=environ) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    (line,) = captured.err.splitlines()
    assert f" ERROR task.cli: widget: usage error: {complaint}" in line
    assert not line.startswith("{")


@pytest.mark.parametrize(
    "environ",
    [
        {"TASK_LOG_LEVEL": "verbose"},
        {"TASK_LOG_FORMAT": "xml"},
        {"TASK_LOG_LEVEL": "x", "TASK_LOG_FORMAT": "x"},
    ],
    ids=["level", "format", "both"],
)
def test_a_bad_log_variable_in_a_batch_job_is_one_json_line(
    environ: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert run_command_line(Widget, [], environ={**BATCH_JOB, **environ}) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    (record,) = json_lines(captured.err)
    assert record["level"] == "ERROR"
    assert record["message"].startswith("widget: usage error: TASK_LOG_")
    assert record["message"].count("must be") == len(environ)


def test_task_log_level_warn_is_warning(capsys: pytest.CaptureFixture[str]) -> None:
    assert run_command_line(Widget, ["--config", "absent.json"], environ={"TASK_LOG_LEVEL": "warn"}) == 2
    assert "configuration error" in capsys.readouterr().err
    assert run_command_line(Widget, ["--config", str(WIDGET_JSON)], environ={"TASK_LOG_LEVEL": "WARN"}) == 0
    assert capsys.readouterr().err == ""


def test_help_exits_0_and_shows_every_option(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--help"]) == 0
    assert "[--runtime {local,batch,env,lambda}]" in capsys.readouterr().out.replace("\n", " ")


# --------------------------------------------------------------------------
# --check --all: every document of the key


def test_check_all_on_the_shipped_file_whatever_the_jobs_array_index(
    capsys: pytest.CaptureFixture[str],
) -> None:
    environ = {**BATCH_JOB, "AWS_BATCH_JOB_ARRAY_INDEX": "not an index"}
    assert run_command_line(Widget, ["--check", "--all"], environ=environ) == 0
    out = capsys.readouterr().out
    assert out.splitlines() == [
        "Runtime: batch, because AWS_BATCH_JOB_ID is set",
        f"Source: TinyDB file {TASKS_JSON}, table '_default', key 'widget'",
        "Documents: 4 of 4 valid; 1 without array_index",
        "Array size: 3 (the highest array_index plus one)",
        "Missing indices (0): none",
        "Indices in several documents (0): none",
        "Valid: every document would run, and an array job of this size finds each index once.",
    ]


def test_check_all_on_10000_children_shows_the_bad_and_the_missing_in_a_few_lines(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "tasks.json"
    children = [
        {"task": "widget", "array_index": index, "params": widget_params(port="x" if index == 17 else 5432)}
        for index in range(10_000)
        if index != 4242
    ]
    with TinyDB(path) as db:  # conftest.write_tinydb writes the file once per document: too slow here
        db.insert_multiple([{"task": "widget", "params": widget_params()}, *children])
    assert run_command_line(Widget, ["--check", "--all", *BATCH_OPTIONS, str(path)], environ={}) == 2
    captured = capsys.readouterr()
    assert captured.out.splitlines() == [
        "Runtime: batch, because --runtime batch was given",
        f"Source: TinyDB file {path}, table '_default', key 'widget'",
        "Invalid documents (1):",
        "  array_index 17:",
        "    - port: expected an integer from 1 to 65535, got a string",
        "Documents: 9999 of 10000 valid; 1 without array_index",
        "Array size: 10000 (the highest array_index plus one)",
        "Missing indices (1): 4242",
        "Indices in several documents (0): none",
        "Invalid: fix every problem above; nothing was run.",
    ]
    (record,) = json_lines(captured.err)
    assert record["message"] == (
        f"widget: configuration error: TinyDB file {path}, table '_default', key 'widget': 2 problems: "
        "array_index 17: port: expected an integer from 1 to 65535, got a string; "
        "array indices no document has: 4242"
    )


def test_check_all_prints_what_python_gets(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = write_tinydb(tmp_path / "tasks.json", [{"task": "widget", "array_index": 1, "params": {}}])
    assert run_command_line(Widget, ["--check", "--all", *BATCH_OPTIONS, str(db)], environ={}) == 2
    expected = check_every_document(BatchWidget(db)).render("--runtime batch was given")
    assert capsys.readouterr().out == expected + "\n"


def test_check_all_never_runs_the_business_logic(capsys: pytest.CaptureFixture[str]) -> None:
    db_of_failing = {**BATCH_JOB, "TASK_CONFIG_KEY": "widget"}
    assert run_command_line(Failing, ["--check", "--all"], environ=db_of_failing) == 0
    assert capsys.readouterr().err == ""


def test_check_all_without_a_file_exits_2_naming_the_variable(capsys: pytest.CaptureFixture[str]) -> None:
    assert run_command_line(Widget, ["--check", "--all", "--runtime", "batch"], environ={}) == 2
    assert "  - no TinyDB file given: pass db_path (--db) or set TASK_CONFIG_DB" in capsys.readouterr().out


# --------------------------------------------------------------------------
# --event: a Lambda event through the handler, as Lambda would run it

VALID_EVENTS = sorted(path.name for path in EVENTS.glob("*.json") if not path.stem.endswith("_mixed"))


@pytest.mark.parametrize("name", VALID_EVENTS)
def test_each_shipped_event_runs_and_exits_0(name: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--event", str(EVENTS / name)]) == 0
    out = capsys.readouterr().out
    assert out.count("\n") == 1
    json.loads(out)


def test_a_queue_batch_with_configuration_errors_exits_2_and_prints_the_failed_records(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["--event", str(EVENTS / "sqs_mixed.json")]) == 2
    captured = capsys.readouterr()
    failed = [item["itemIdentifier"] for item in json.loads(captured.out)["batchItemFailures"]]
    assert len(failed) == 3
    for message_id in failed:
        assert f"configuration error: SQS message {message_id}" in captured.err


def test_a_queue_batch_with_a_failing_record_exits_1(capsys: pytest.CaptureFixture[str]) -> None:
    assert run_command_line(Failing, ["--event", str(EVENTS / "sqs_mixed.json")], environ={}) == 1
    assert len(json.loads(capsys.readouterr().out)["batchItemFailures"]) == 5


BAD_HTTP_REQUEST = {"version": "2.0", "requestContext": {"http": {}}, "body": '{"port": "x"}'}


class NotJson(Widget):
    """A business task whose result JSON cannot carry."""

    def execute(self, params: Any) -> dict[str, object]:
        return {"ratio": float("nan")}


@pytest.mark.parametrize(
    ("business", "event", "outcome"),
    [
        (Widget, "http_api.json", (0, 200)),
        (Failing, "http_api.json", (1, 500)),
        (NotJson, "http_api.json", (1, 500)),
        (Widget, BAD_HTTP_REQUEST, (2, 400)),
    ],
    ids=["ok", "failed", "result-not-json", "config-error"],
)
def test_an_http_request_prints_its_response_and_exits_by_its_outcome(
    business: type,
    event: str | dict[str, object],
    outcome: tuple[int, int],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    path = EVENTS / event if isinstance(event, str) else tmp_path / "event.json"
    if isinstance(event, dict):
        path.write_text(json.dumps(event))
    status, response = outcome
    assert run_command_line(business, ["--event", str(path)], environ={}) == status
    assert json.loads(capsys.readouterr().out)["statusCode"] == response


@pytest.mark.parametrize(
    ("business", "params", "status"),
    [(Widget, widget_params(port="x"), 2), (LeakyFailing, widget_params(), 1)],
    ids=["config-error", "failed"],
)
def test_a_direct_invoke_that_raises_prints_nothing_and_logs_why(
    business: type, params: dict[str, object], status: int, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "event.json"
    path.write_text(json.dumps(params))
    assert run_command_line(business, ["--event", str(path)], environ={"TASK_LOG_FORMAT": "json"}) == status
    captured = capsys.readouterr()
    assert captured.out == ""
    assert unit_record(captured.err)["outcome"] == ("config_error" if status == 2 else "failed")
    assert SECRET not in captured.err


@pytest.mark.parametrize("check", [[], ["--check"]], ids=["run", "check"])
@pytest.mark.parametrize(
    ("environ", "status"),
    [({"TASK_ENV_REFS": "DB_PASSWORD", "DB_PASSWORD": SECRET}, 0), ({"DB_PASSWORD": SECRET}, 2)],
    ids=["reference-allowed", "reference-not-listed"],
)
def test_event_resolves_references_in_the_environment_it_is_given(
    check: list[str],
    environ: dict[str, str],
    status: int,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    path = tmp_path / "event.json"
    path.write_text(json.dumps(widget_params(password={"$env": "DB_PASSWORD"})))
    assert run_command_line(Widget, ["--event", str(path), *check], environ=environ) == status
    assert SECRET not in capsys.readouterr().out


def test_event_calls_the_handler_it_is_given_with_a_stand_in_context(
    capsys: pytest.CaptureFixture[str],
) -> None:
    calls: list[tuple[object, Any]] = []

    def handler(event: object, context: Any) -> object:
        calls.append((event, context))
        return {"seen": True}

    assert run_command_line(Widget, ["--event", str(WIDGET_JSON)], environ={}, handler=handler) == 0
    ((event, context),) = calls
    assert event == json.loads(WIDGET_JSON.read_text())
    assert (context.function_name, type(context.aws_request_id)) == ("widget", str)
    assert context.get_remaining_time_in_millis() > 0
    assert json.loads(capsys.readouterr().out) == {"seen": True}


@pytest.mark.parametrize(
    ("error", "status"), [(RuntimeError("no route"), 1), (ConfigError("Lambda event", ["no body"]), 2)]
)
def test_a_handler_that_raises_before_any_unit_runs_is_logged_once(
    error: Exception, status: int, capsys: pytest.CaptureFixture[str]
) -> None:
    def handler(event: object, context: object) -> object:
        raise error

    assert run_command_line(Widget, ["--event", str(WIDGET_JSON)], environ={}, handler=handler) == status
    (line, *traceback) = capsys.readouterr().err.splitlines()
    assert str(error) in line
    assert bool(traceback) == (status == 1)


@pytest.mark.parametrize(
    ("content", "environ", "problem"),
    [
        (b"{", {}, "event file {path}: not valid JSON"),
        (b'{"a": 1, "a": 2}', {}, "event file {path}: the key 'a' appears more than once"),
        (None, {}, "event file {path}: No such file"),
        (b"{}", {"TASK_CONFIG_MAX_BYTES": "1"}, "event file {path}: larger than TASK_CONFIG_MAX_BYTES"),
        (b"{}", {"TASK_CONFIG_MAX_BYTES": "lots"}, "TASK_CONFIG_MAX_BYTES: expected a positive number"),
    ],
    ids=["not-json", "duplicate-key", "missing", "too-large", "bad-limit"],
)
def test_an_event_file_that_cannot_be_read_exits_2_saying_why(
    content: bytes | None,
    environ: dict[str, str],
    problem: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    path = tmp_path / "event.json"
    if content is not None:
        path.write_bytes(content)
    assert run_command_line(Widget, ["--event", str(path)], environ=environ) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert f"widget: configuration error: {problem.format(path=path)}" in captured.err


@pytest.mark.parametrize("content", ["null", "[1]", '"text"', "7"])
def test_an_event_that_is_json_but_no_object_runs_and_is_a_configuration_error(
    content: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "event.json"
    path.write_text(content)
    assert run_command_line(Widget, ["--event", str(path)], environ={"TASK_LOG_FORMAT": "json"}) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    record = unit_record(captured.err)
    assert record["outcome"] == "config_error"
    assert record["message"].startswith(
        "widget: configuration error: Lambda event: expected a JSON object of parameters, got "
    )


def test_event_check_of_a_null_event_prints_its_report_and_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "event.json"
    path.write_text("null")
    assert run_command_line(Widget, ["--event", str(path), "--check"], environ={}) == 2
    assert capsys.readouterr().out.splitlines()[1:] == [
        "Runtime: lambda, because --event was given",
        "Source: Lambda event",
        "Problems (1):",
        "  - expected a JSON object of parameters, got null",
        "Invalid: fix every problem above; nothing was run.",
    ]


@pytest.fixture(params=["logger-disabled", "logging-disabled"])
def records_hidden(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Logging set up to hide the library's records: as dictConfig() leaves logger "task", or globally."""
    if request.param == "logger-disabled":  # what logging.config.dictConfig({"version": 1}) does
        monkeypatch.setattr(logging.getLogger("task"), "disabled", True)
        yield
        assert logging.getLogger("task").disabled
        return
    logging.disable(logging.CRITICAL)
    try:
        yield
        assert logging.root.manager.disable == logging.CRITICAL
    finally:
        logging.disable(logging.NOTSET)


@pytest.mark.usefixtures("records_hidden")
def test_event_exits_by_the_units_outcomes_whatever_hides_their_records(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert run_command_line(Failing, ["--event", str(EVENTS / "sqs_mixed.json")], environ={}) == 1
    assert len(json.loads(capsys.readouterr().out)["batchItemFailures"]) == 5
    assert run_command_line(Widget, ["--event", str(EVENTS / "sqs_mixed.json")], environ={}) == 2


def test_event_after_dictconfig_still_exits_1_for_a_failing_batch(tmp_path: Path) -> None:
    script = tmp_path / "configured.py"
    script.write_text(
        "import logging.config, sys\n"
        f"sys.path.insert(0, {str(PROJECT_DIR)!r})\n"
        "import conftest, task_cli\n"
        "logging.config.dictConfig({'version': 1})\n"
        f"sys.exit(task_cli.run_command_line(conftest.Failing, ['--event', {str(EVENTS / 'sqs.json')!r}]))\n"
    )
    completed = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=60, check=False
    )
    assert completed.returncode == 1, completed.stderr
    assert "failing: failed: the database refused the connection" in completed.stderr


def test_an_answer_that_is_not_json_exits_1(capsys: pytest.CaptureFixture[str]) -> None:
    def handler(event: object, context: object) -> object:
        return {"statusCode": 200, "ratio": float("nan")}

    assert run_command_line(Widget, ["--event", str(WIDGET_JSON)], environ={}, handler=handler) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "widget: failed: the result is not JSON: Out of range float values" in captured.err


def test_a_handler_that_raises_after_its_units_ran_is_logged_and_exits_1(
    capsys: pytest.CaptureFixture[str],
) -> None:
    def handler(event: object, context: object) -> object:
        from assignment import handler as assignment_handler

        assignment_handler(event, context)
        raise RuntimeError("the answer could not be built")

    assert run_command_line(Widget, ["--event", str(WIDGET_JSON)], environ={}, handler=handler) == 1
    lines = capsys.readouterr().err.splitlines()
    assert "INFO task: widget: done" in lines[0]
    assert "ERROR task.cli: widget: failed: the answer could not be built" in lines[1]


def test_event_check_reports_every_queue_record_by_message_id_and_exits_2(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["--event", str(EVENTS / "sqs_mixed.json"), "--check"]) == 2
    out = capsys.readouterr().out
    units = out.split("\n\n")
    assert len(units) == 5
    assert units[1].splitlines()[:5] == [
        "Unit 2 of 5: c9b2a3f4-1d2e-4f5a-8b6c-7d8e9f0a1b2c",
        "Runtime: lambda, because --event was given",
        "Source: SQS message c9b2a3f4-1d2e-4f5a-8b6c-7d8e9f0a1b2c",
        "Problems (1):",
        "  - not valid JSON: Expecting value at line 1, column 1",
    ]
    assert [unit.endswith("nothing was run.") for unit in units] == [False, True, True, True, False]


def test_event_check_of_an_unreadable_file_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--event", str(tmp_path / "absent.json"), "--check"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "configuration error: event file" in captured.err


def test_event_check_of_a_valid_event_exits_0_without_running_it(capsys: pytest.CaptureFixture[str]) -> None:
    assert run_command_line(Failing, ["--event", str(EVENTS / "sqs.json"), "--check"], environ={}) == 0
    assert "Valid: the task would run with these parameters." in capsys.readouterr().out


def test_python_assignment_py_runs_an_event_through_assignment_handler() -> None:
    completed = run_assignment("--event", "fixtures/events/sqs_mixed.json", env={"TASK_LOG_FORMAT": "json"})
    assert completed.returncode == 2
    assert len(json.loads(completed.stdout)["batchItemFailures"]) == 3
    assert [record["outcome"] for record in json_lines(completed.stderr)] == [
        "ok",
        "config_error",
        "config_error",
        "config_error",
        "ok",
    ]


# --------------------------------------------------------------------------
# Any text, any locale: --check always prints its report


@pytest.mark.parametrize(
    "locale",
    [
        {"LC_ALL": "C"},
        {"LC_ALL": "C", "PYTHONIOENCODING": "iso-8859-1"},
        {"LC_ALL": "C", "PYTHONUTF8": "0", "PYTHONCOERCECLOCALE": "0"},
    ],
    ids=["C", "iso-8859-1", "ascii"],
)
def test_check_prints_its_report_whatever_the_locale_and_the_text(
    locale: dict[str, str], tmp_path: Path
) -> None:
    key = "wid\udcffget"  # a byte that is not UTF-8, as the command line reads it
    path = tmp_path / "t\udce9st.json"  # a file name that is not UTF-8
    params = {**widget_params(password={"$env": "DB_PASSWORD"}), "ho\u2028st\u20ac": 1}
    write_tinydb(path, [{"task": key, "params": params}])
    environ = {**locale, "DB_PASSWORD": SECRET}
    completed = run_assignment("--check", *BATCH_OPTIONS, str(path), "--key", key, env=environ)
    assert completed.returncode == 2, completed.stderr
    lines = completed.stdout.splitlines()
    source = f"Source: TinyDB file {tmp_path}/t\\udce9st.json, table '_default', key 'wid\\udcffget'"
    assert lines[1] == source
    assert re.fullmatch(r"  - ho\\u2028st(\u20ac|\\u20ac): unknown parameter \(known: .*\)", lines[3])
    assert lines[-1] == "Invalid: fix every problem above; nothing was run."
    assert "configuration error" in json_lines(completed.stderr)[0]["message"]
    assert SECRET not in completed.stdout + completed.stderr
