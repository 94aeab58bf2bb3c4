"""--check: load and validate without running, and say where everything came from."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from assignment import BatchWidget, LambdaWidget, LocalWidget, Widget
from conftest import DROP, PROJECT_DIR, SECRET, Failing, run_assignment, widget_params, write_tinydb
from task_check import ArrayCheckReport, check_every_document
from task_cli import run_command_line

WIDGET_JSON = PROJECT_DIR / "fixtures" / "widget.json"
TASKS_JSON = PROJECT_DIR / "fixtures" / "tasks.json"
#: Why the runtime is local when nothing chose it.
NO_JOB_VARIABLE = (
    "--runtime was not given and none of AWS_BATCH_JOB_ID, JOB_COMPLETION_INDEX, CLOUD_RUN_JOB is set"
)


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
            '  host      "db.internal"  from what the invoker sent',
            "  port      5432           default",
            '  database  "widgets"      from what the invoker sent',
            '  user      "app"          from what the invoker sent',
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
            "  - port: expected an integer from 1 to 65535, got a string",
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
    assert out.startswith(f"Runtime: local, because {NO_JOB_VARIABLE}\n")
    assert out.endswith("Valid: the task would run with these parameters.\n")


@pytest.mark.parametrize(
    ("argv", "environ", "first_line"),
    [
        (
            ["--config", str(WIDGET_JSON)],
            {},
            f"Runtime: local, because {NO_JOB_VARIABLE}",
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
        "  - port: expected an integer from 1 to 65535, got a number with a fraction or exponent",
        "  - database: missing (expected a string)",
        "  - user: missing (expected a string)",
        "  - password: missing (expected a string (secret))",
        "  - hots: unknown parameter (known: host, port, database, user, password)",
        "Invalid: fix every problem above; nothing was run.",
    ]
    (logged,) = [json.loads(line) for line in completed.stderr.splitlines()]
    assert logged["level"] == "ERROR"
    assert "configuration error" in logged["message"]
    assert "Traceback" not in completed.stderr
    assert db.read_bytes() == before


def test_a_valid_reports_source_is_shown_escaped(tmp_path: Path) -> None:
    path = tmp_path / "new\nline.json"
    path.write_text(json.dumps(widget_params()))
    report = LocalWidget(path).check()
    assert report.ok
    assert f"Source: JSON file {tmp_path}/new\\nline.json\n" in report.render()


# --------------------------------------------------------------------------
# Every document of a key at once: what --check --all prints


def child(index: object, **changes: object) -> dict[str, object]:
    """An array child's document for Widget."""
    return {"task": "widget", "array_index": index, "params": widget_params(**changes)}


def test_every_document_of_the_shipped_fixture_is_valid() -> None:
    report = check_every_document(BatchWidget(TASKS_JSON, environ={"DB_PASSWORD": SECRET}))
    assert report.ok
    assert (report.document_count, report.unindexed, report.size) == (4, 1, 3)
    assert str(report) == "\n".join(
        [
            "Runtime: batch",
            f"Source: TinyDB file {TASKS_JSON}, table '_default', key 'widget'",
            "Documents: 4 of 4 valid; 1 without array_index",
            "Array size: 3 (the highest array_index plus one)",
            "Missing indices (0): none",
            "Indices in several documents (0): none",
            "Valid: every document would run, and an array job of this size finds each index once.",
        ]
    )


def test_every_invalid_document_is_named_by_its_array_index_with_every_problem(tmp_path: Path) -> None:
    documents: list[dict[str, object]] = [
        {"task": "widget", "params": widget_params(port=0)},
        child(0),
        child(1, host=None, colour="red"),
        child(2),
        {"task": "widget", "array_index": 3},
    ]
    report = check_every_document(BatchWidget(write_tinydb(tmp_path / "tasks.json", documents)))
    assert not report.ok
    assert report.problems == (
        "no array_index: port: expected an integer from 1 to 65535",
        "array_index 1: host: expected a string, got null",
        "array_index 1: colour: unknown parameter (known: host, port, database, user, password)",
        'array_index 3: the document has no "params"',
    )
    assert report.render().splitlines()[2:7] == [
        "Invalid documents (3):",
        "  no array_index:",
        "    - port: expected an integer from 1 to 65535",
        "  array_index 1:",
        "    - host: expected a string, got null",
    ]
    assert SECRET not in report.render()


#: The index variable each engine sets, and the highest index it gives; none set: any engine's.
ENGINE_RANGES = {
    "none": ({}, 99_999),
    "aws-batch": ({"AWS_BATCH_JOB_ARRAY_INDEX": "0"}, 9_999),
    "kubernetes": ({"JOB_COMPLETION_INDEX": "0"}, 99_999),
    "cloud-run": ({"CLOUD_RUN_TASK_INDEX": "0"}, 9_999),
}


@pytest.mark.parametrize(("environ", "largest"), ENGINE_RANGES.values(), ids=ENGINE_RANGES.keys())
def test_an_array_index_that_is_no_index_is_named_by_document_id(
    tmp_path: Path, environ: dict[str, str], largest: int
) -> None:
    documents = [child(0), child("1"), child(-1), child(True), child(largest + 1), child(largest)]
    report = check_every_document(
        BatchWidget(write_tinydb(tmp_path / "tasks.json", documents), environ=environ)
    )
    assert report.problems == (
        f"document 2: array_index: expected an integer from 0 to {largest}, got a string",
        f"document 3: array_index: expected an integer from 0 to {largest}, got -1",
        f"document 4: array_index: expected an integer from 0 to {largest}, got a boolean",
        f"document 5: array_index: expected an integer from 0 to {largest}, got {largest + 1}",
        f"array indices no document has: 1-{largest - 1}",
    )
    assert report.size == largest + 1  # no invalid index counts towards the array


def test_indices_missing_or_in_several_documents_are_problems(tmp_path: Path) -> None:
    documents = [child(0), child(0), child(3), child(5), child(5), child(5)]
    report = check_every_document(BatchWidget(write_tinydb(tmp_path / "tasks.json", documents)))
    assert (report.size, report.missing, report.repeated, report.invalid) == (6, (1, 2, 4), (0, 5), ())
    assert report.problems == (
        "array indices no document has: 1-2, 4",
        "array indices more than one document has: 0, 5",
    )


def test_several_documents_without_array_index_are_a_problem(tmp_path: Path) -> None:
    documents: list[dict[str, object]] = [{"task": "widget", "params": widget_params()}] * 2
    report = check_every_document(BatchWidget(write_tinydb(tmp_path / "tasks.json", documents)))
    assert report.problems == ("2 documents without array_index; a job that is no array job needs one",)


def test_a_key_without_documents_is_a_problem(tmp_path: Path) -> None:
    report = check_every_document(BatchWidget(write_tinydb(tmp_path / "tasks.json", [child(0)]), key="other"))
    assert report.problems == ("no document has this key",)
    assert "Array size: 0 (no document has an array_index)" in report.render()


def test_a_file_that_cannot_be_read_is_the_one_problem(tmp_path: Path) -> None:
    report = check_every_document(BatchWidget(tmp_path / "absent.json"))
    assert report.problems == ("No such file or directory",)
    assert report.render().splitlines()[2:] == [
        "Problems (1):",
        "  - No such file or directory",
        "Invalid: the documents could not be read; nothing was run.",
    ]


def test_the_jobs_own_array_index_does_not_matter(tmp_path: Path) -> None:
    db = write_tinydb(tmp_path / "tasks.json", [child(0), child(1)])
    report = check_every_document(BatchWidget(db, environ={"AWS_BATCH_JOB_ARRAY_INDEX": "not an index"}))
    assert (report.ok, report.document_count, report.size) == (True, 2, 2)


class DeepBatchWidget(BatchWidget):
    """Its documents are nested too deeply to read."""

    def documents(self) -> dict[str, dict[str, object]]:
        raise RecursionError("maximum recursion depth exceeded")


def test_a_file_nested_too_deeply_is_the_one_problem_naming_the_source(tmp_path: Path) -> None:
    report = check_every_document(DeepBatchWidget(tmp_path / "tasks.json"))
    assert report.problems == ("nested too deeply to read",)
    assert report.source == f"TinyDB file {tmp_path / 'tasks.json'}, table '_default', key 'widget'"


def test_documents_with_the_same_problems_are_each_named_by_array_index_or_id() -> None:
    same = ("password: $env DB_PASSWORD is not set (or is empty)",)
    checks: list[tuple[str, int | str | None, tuple[str, ...]]] = [
        ("x", None, same),
        ("1", 1, same),
        ("y", "invalid", same),
        ("3", 3, same),
    ]
    report = ArrayCheckReport("batch", "TinyDB file t.json", checks)
    assert report.render().splitlines()[2:11] == [
        "Invalid documents (4):",
        "  no array_index:",
        "    - password: $env DB_PASSWORD is not set (or is empty)",
        "  array_index 1:",
        "    - password: $env DB_PASSWORD is not set (or is empty)",
        "  document y:",
        "    - password: $env DB_PASSWORD is not set (or is empty)",
        "  array_index 3:",
        "    - password: $env DB_PASSWORD is not set (or is empty)",
    ]


def test_long_lists_of_indices_are_cut_after_20_ranges() -> None:
    checks = [(str(index), index, ()) for index in range(0, 100, 2)]
    report = ArrayCheckReport("batch", "TinyDB file t.json", checks)
    listed = ", ".join(str(index) for index in range(1, 40, 2))
    assert report.missing == tuple(range(1, 98, 2))
    assert report.problems == (f"array indices no document has: {listed} and 29 more",)


def test_a_report_lists_the_first_50_invalid_documents_then_names_the_rest() -> None:
    checks = [(str(index), index, (f"colour{index}: unknown parameter",)) for index in range(300_000)]
    report = ArrayCheckReport("batch", "TinyDB file t.json", checks)
    lines = report.render().splitlines()
    assert lines[2:5] == [
        "Invalid documents (300000):",
        "  array_index 0:",
        "    - colour0: unknown parameter",
    ]
    assert lines[101:106] == [
        "  array_index 49:",
        "    - colour49: unknown parameter",
        "  and 299950 more invalid documents: array_index 50-299999",
        "Documents: 0 of 300000 valid; 0 without array_index",
        "Array size: 300000 (the highest array_index plus one)",
    ]
    assert len(lines) == 109
    assert len(report.problems) == 300_000  # every problem, for Python code


def test_the_invalid_documents_past_the_first_50_are_named_by_index_or_id() -> None:
    problem = ("port: expected an integer",)
    checks: list[tuple[str, int | str | None, tuple[str, ...]]] = [(str(i), i, problem) for i in range(50)]
    checks += [("n", None, problem), ("x", "invalid", problem), ("58", 58, problem), ("57", 57, problem)]
    lines = ArrayCheckReport("batch", "TinyDB file t.json", checks).render().splitlines()
    assert "  and 4 more invalid documents: array_index 57-58, no array_index, document x" in lines


def test_a_failed_checks_record_names_the_source_as_its_report_does(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_tinydb(tmp_path / "new\nline.json", [{"task": "widget", "params": widget_params(port="x")}])
    argv = ["--check", "--all", "--runtime", "batch", "--db", str(path)]
    assert run_command_line(Widget, argv, environ={"TASK_LOG_FORMAT": "json"}) == 2
    captured = capsys.readouterr()
    (record,) = [json.loads(line) for line in captured.err.splitlines()]
    assert f"Source: {record['source']}\n" in captured.out
    assert record["source"] == f"TinyDB file {tmp_path}/new\\nline.json, table '_default', key 'widget'"
