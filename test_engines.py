"""Indexed jobs on any engine: one TinyDB file, child i of an AWS Batch array, a Kubernetes Indexed Job
or a Cloud Run job; their logs, the runtime they choose, and --check --all against an array of N."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import pytest

from assignment import BatchWidget, Widget
from conftest import SECRET, run_assignment, widget_params, write_tinydb
from task import ConfigError
from task_check import check_every_document
from task_cli import run_command_line

#: What each engine sets in copy `INDEX` of the container, as documented by each (plus a variable of
#: the platform's own that the library must ignore).
ENGINE_ENVIRONMENTS = {
    "aws-batch": {
        "AWS_BATCH_JOB_ID": "8f1c4b3e-job",
        "AWS_BATCH_JOB_ARRAY_INDEX": "INDEX",
        "AWS_BATCH_JOB_ATTEMPT": "1",
        "AWS_BATCH_CE_NAME": "ce",
    },
    "kubernetes": {
        "JOB_COMPLETION_INDEX": "INDEX",
        "HOSTNAME": "widget-INDEX-x7k2p",
        "KUBERNETES_SERVICE_HOST": "10.96.0.1",
    },
    "cloud-run": {
        "CLOUD_RUN_JOB": "widget",
        "CLOUD_RUN_EXECUTION": "widget-x7k2p",
        "CLOUD_RUN_TASK_INDEX": "INDEX",
        "CLOUD_RUN_TASK_ATTEMPT": "0",
        "CLOUD_RUN_TASK_COUNT": "3",
    },
}

#: The log fields each engine's first attempt of copy INDEX carries, beside array_index.
ENGINE_FIELDS: dict[str, dict[str, object]] = {
    "aws-batch": {"engine": "aws-batch", "job_id": "8f1c4b3e-job", "attempt": 1},
    "kubernetes": {"engine": "kubernetes"},
    "cloud-run": {"engine": "cloud-run", "job_id": "widget-x7k2p", "attempt": 1},
}

#: Each engine's index variable and the highest index it gives.
INDEX_RANGES = {
    "aws-batch": ("AWS_BATCH_JOB_ARRAY_INDEX", 9_999),
    "kubernetes": ("JOB_COMPLETION_INDEX", 99_999),
    "cloud-run": ("CLOUD_RUN_TASK_INDEX", 9_999),
}
INDEX_VARIABLES = tuple(variable for variable, _ in INDEX_RANGES.values())


def engine_environment(engine: str, index: int, **more: str) -> dict[str, str]:
    """What `engine` sets in copy `index` of the container, and more."""
    environment = {
        name: value.replace("INDEX", str(index)) for name, value in ENGINE_ENVIRONMENTS[engine].items()
    }
    return {**environment, **more}


def child(index: object, **changes: object) -> dict[str, object]:
    """An array child's document for Widget."""
    return {"task": "widget", "array_index": index, "params": widget_params(**changes)}


@pytest.fixture
def db(tmp_path: Path) -> Path:
    """One TinyDB file for every engine: the document without array_index and three children."""
    unindexed: dict[str, object] = {"task": "widget", "params": widget_params(host="unindexed")}
    return write_tinydb(
        tmp_path / "tasks.json", [unindexed, *(child(i, host=f"child-{i}") for i in range(3))]
    )


@pytest.fixture(params=ENGINE_ENVIRONMENTS)
def engine(request: pytest.FixtureRequest) -> str:
    """Each engine that runs N copies of one container."""
    return str(request.param)


# --------------------------------------------------------------------------
# As the container runs: `python assignment.py` with only the engine's variables and the file


@pytest.mark.parametrize("index", [0, 2])
def test_the_same_file_and_container_run_child_i_identically_on_every_engine(
    engine: str, index: int, db: Path
) -> None:
    completed = run_assignment(env=engine_environment(engine, index, TASK_CONFIG_DB=str(db)))
    assert completed.returncode == 0, completed.stderr
    assert json.loads(completed.stdout) == {
        "runtime": "batch",
        **widget_params(host=f"child-{index}", password="***"),
        "connection": f"app@child-{index}:6543/widgets",
    }
    (record,) = [json.loads(line) for line in completed.stderr.splitlines()]  # JSON lines: a batch runtime
    assert record["outcome"] == "ok"
    fields = {key: record[key] for key in ("engine", "job_id", "attempt", "array_index") if key in record}
    assert fields == {**ENGINE_FIELDS[engine], "array_index": index}
    assert SECRET not in completed.stdout + completed.stderr


def test_a_child_with_no_document_exits_2_on_every_engine_naming_its_index(engine: str, db: Path) -> None:
    completed = run_assignment(env=engine_environment(engine, 7, TASK_CONFIG_DB=str(db)))
    assert completed.returncode == 2
    assert completed.stdout == ""
    (record,) = [json.loads(line) for line in completed.stderr.splitlines()]
    assert record["errorMessage"] == (
        f"TinyDB file {db}, table '_default', key 'widget', array index 7: "
        "no document with key 'widget' and array_index 7"
    )
    assert record["engine"] == engine
    assert record["array_index"] == 7


def test_two_index_variables_in_a_container_exit_2_naming_both(db: Path) -> None:
    environment = engine_environment("cloud-run", 1, JOB_COMPLETION_INDEX="1", TASK_CONFIG_DB=str(db))
    completed = run_assignment(env=environment)
    assert completed.returncode == 2
    (record,) = [json.loads(line) for line in completed.stderr.splitlines()]
    assert record["errorMessage"] == (
        f"TinyDB file {db}, table '_default', key 'widget': 2 index variables are set "
        "(JOB_COMPLETION_INDEX, CLOUD_RUN_TASK_INDEX), but an engine sets only its own: unset all but one"
    )
    assert "array_index" not in record


# --------------------------------------------------------------------------
# The index: whichever engine's variable is set, by the same rules


@pytest.mark.parametrize("variables", [*itertools.combinations(INDEX_VARIABLES, 2), INDEX_VARIABLES])
@pytest.mark.parametrize("values", ["0", "bad", ""], ids=["valid", "invalid", "empty"])
def test_more_than_one_index_variable_is_an_error_naming_each_whatever_their_values(
    variables: tuple[str, ...], values: str, db: Path
) -> None:
    with pytest.raises(ConfigError) as caught:
        BatchWidget(db, environ=dict.fromkeys(variables, values)).run()
    (problem,) = caught.value.problems
    assert problem.startswith(f"{len(variables)} index variables are set ({', '.join(variables)})")
    assert caught.value.source == f"TinyDB file {db}, table '_default', key 'widget'"


@pytest.mark.parametrize(("variable", "largest"), INDEX_RANGES.values(), ids=INDEX_RANGES.keys())
def test_each_engines_index_reads_the_document_with_that_index_up_to_its_highest(
    variable: str, largest: int, tmp_path: Path
) -> None:
    path = write_tinydb(tmp_path / "tasks.json", [child(0, host="first"), child(largest, host="last")])
    assert BatchWidget(path, environ={variable: "0"}).run()["host"] == "first"
    assert BatchWidget(path, environ={variable: str(largest)}).run()["host"] == "last"


@pytest.mark.parametrize(("variable", "largest"), INDEX_RANGES.values(), ids=INDEX_RANGES.keys())
@pytest.mark.parametrize(
    "text", ["LARGEST+1", "", "-1", "+1", " 1", "1 ", "1.0", "one", "\u0663", "9" * 5000]
)
def test_an_index_out_of_the_engines_range_or_not_decimal_digits_is_an_error_naming_its_variable(
    variable: str, largest: int, text: str, db: Path
) -> None:
    text = text.replace("LARGEST+1", str(largest + 1))
    with pytest.raises(ConfigError) as caught:
        BatchWidget(db, environ={variable: text}).run()
    (problem,) = caught.value.problems
    assert problem.startswith(f"{variable} must be an index from 0 to {largest}, got '")


@pytest.mark.parametrize("variable", INDEX_VARIABLES)
def test_an_index_never_falls_back_to_the_document_without_one(variable: str, tmp_path: Path) -> None:
    path = write_tinydb(tmp_path / "tasks.json", [{"task": "widget", "params": widget_params()}])
    with pytest.raises(ConfigError, match=r"no document with key 'widget' and array_index 0$"):
        BatchWidget(path, environ={variable: "0"}).run()


def test_without_an_index_variable_the_document_without_array_index_is_read(db: Path) -> None:
    environ = {"AWS_BATCH_JOB_ID": "job-1", "CLOUD_RUN_JOB": "widget", "CLOUD_RUN_TASK_COUNT": "3"}
    assert BatchWidget(db, environ=environ).run()["host"] == "unindexed"


# --------------------------------------------------------------------------
# The log record: engine, job_id, attempt (from 1 everywhere), array_index


@pytest.mark.parametrize(
    ("environ", "fields"),
    [
        (
            {"AWS_BATCH_JOB_ID": "job-1", "AWS_BATCH_JOB_ATTEMPT": "3", "AWS_BATCH_JOB_ARRAY_INDEX": "1"},
            {"engine": "aws-batch", "job_id": "job-1", "attempt": 3, "array_index": 1},
        ),
        ({"AWS_BATCH_JOB_ID": "job-1"}, {"engine": "aws-batch", "job_id": "job-1"}),
        ({"JOB_COMPLETION_INDEX": "2"}, {"engine": "kubernetes", "array_index": 2}),
        (
            {
                "CLOUD_RUN_EXECUTION": "widget-x7k2p",
                "CLOUD_RUN_TASK_ATTEMPT": "2",
                "CLOUD_RUN_TASK_INDEX": "0",
            },
            {"engine": "cloud-run", "job_id": "widget-x7k2p", "attempt": 3, "array_index": 0},
        ),
        (
            {"CLOUD_RUN_TASK_INDEX": "1", "CLOUD_RUN_TASK_ATTEMPT": "x"},
            {"engine": "cloud-run", "array_index": 1},
        ),
        (
            {"JOB_COMPLETION_INDEX": "1", "AWS_BATCH_JOB_ATTEMPT": "2"},
            {"engine": "kubernetes", "array_index": 1},
        ),
        ({}, {}),
    ],
    ids=[
        "aws-batch-array",
        "aws-batch-single",
        "kubernetes",
        "cloud-run",
        "cloud-run-bad-attempt",
        "mixed",
        "none",
    ],
)
def test_the_record_names_the_engine_its_job_and_attempt_from_1_as_integers(
    environ: dict[str, str], fields: dict[str, object], db: Path
) -> None:
    assert BatchWidget(db, environ=environ).log_fields() == fields


def test_a_record_with_an_invalid_index_names_the_engine_but_no_index(db: Path) -> None:
    environ = {"CLOUD_RUN_EXECUTION": "widget-x7k2p", "CLOUD_RUN_TASK_INDEX": "x"}
    assert BatchWidget(db, environ=environ).log_fields() == {"engine": "cloud-run", "job_id": "widget-x7k2p"}


# --------------------------------------------------------------------------
# The command line: the batch runtime, and --check naming the variable that chose it


@pytest.mark.parametrize(
    ("environ", "variable"),
    [
        ({"AWS_BATCH_JOB_ID": "job-1", "AWS_BATCH_JOB_ARRAY_INDEX": "0"}, "AWS_BATCH_JOB_ID"),
        ({"JOB_COMPLETION_INDEX": "0"}, "JOB_COMPLETION_INDEX"),
        ({"CLOUD_RUN_JOB": "widget", "CLOUD_RUN_TASK_INDEX": "0"}, "CLOUD_RUN_JOB"),
    ],
    ids=ENGINE_ENVIRONMENTS.keys(),
)
def test_check_says_which_variable_chose_the_batch_runtime(
    environ: dict[str, str], variable: str, db: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run_command_line(Widget, ["--check"], environ={**environ, "TASK_CONFIG_DB": str(db)}) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[:2] == [
        f"Runtime: batch, because {variable} is set",
        f"Source: TinyDB file {db}, table '_default', key 'widget', array index 0",
    ]


def test_empty_engine_variables_choose_no_runtime(capsys: pytest.CaptureFixture[str]) -> None:
    environ = {"AWS_BATCH_JOB_ID": "", "JOB_COMPLETION_INDEX": "", "CLOUD_RUN_JOB": ""}
    assert run_command_line(Widget, ["--check"], environ=environ) == 2
    assert capsys.readouterr().out.startswith(
        "Runtime: local, because --runtime was not given and none of "
        "AWS_BATCH_JOB_ID, JOB_COMPLETION_INDEX, CLOUD_RUN_JOB is set\n"
    )


# --------------------------------------------------------------------------
# --check --all --array-size N: an array of exactly N


@pytest.fixture
def array(tmp_path: Path) -> Path:
    """Children 0, 1, 3, 5 and 6: index 2 and 4 missing, and two beyond an array of 5."""
    return write_tinydb(tmp_path / "tasks.json", [child(index) for index in (0, 1, 3, 5, 6)])


def test_array_size_names_the_missing_indices_and_the_documents_never_run(
    array: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["--check", "--all", "--runtime", "batch", "--db", str(array), "--array-size", "5"]
    assert run_command_line(Widget, argv, environ={}) == 2
    captured = capsys.readouterr()
    assert captured.out.splitlines()[2:] == [
        "Documents: 5 of 5 valid; 0 without array_index",
        "Array size: 5 (as given)",
        "Missing indices (2): 2, 4",
        "Indices in several documents (0): none",
        "Indices beyond the array, never run (2): 5-6",
        "Invalid: fix every problem above; nothing was run.",
    ]
    (record,) = [json.loads(line) for line in captured.err.splitlines()]
    assert record["message"].endswith(
        "2 problems: array indices no document has: 2, 4; "
        "array indices an array of 5 never runs, so their documents never do: 5-6"
    )


def test_an_array_of_exactly_the_documents_indices_is_valid(tmp_path: Path) -> None:
    path = write_tinydb(tmp_path / "tasks.json", [child(index) for index in range(4)])
    report = check_every_document(BatchWidget(path), array_size=4)
    assert (report.ok, report.size, report.missing, report.never_run) == (True, 4, (), ())


def test_a_last_child_missing_is_named_which_the_highest_index_cannot_tell(tmp_path: Path) -> None:
    path = write_tinydb(tmp_path / "tasks.json", [child(index) for index in range(4)])
    assert check_every_document(BatchWidget(path)).ok
    report = check_every_document(BatchWidget(path), array_size=5)
    assert report.problems == ("array indices no document has: 4",)


def test_cloud_run_task_count_is_the_array_size_and_the_option_wins(array: Path) -> None:
    in_cloud_run = BatchWidget(array, environ={"CLOUD_RUN_TASK_COUNT": "4", "CLOUD_RUN_TASK_INDEX": "0"})
    report = check_every_document(in_cloud_run)
    assert (report.size, report.size_origin, report.missing, report.never_run) == (
        4,
        "CLOUD_RUN_TASK_COUNT",
        (2,),
        (5, 6),
    )
    assert "Array size: 4 (CLOUD_RUN_TASK_COUNT)" in report.render()
    assert check_every_document(in_cloud_run, array_size=7).never_run == ()


@pytest.mark.parametrize("count", ["0", "x", "100001", "-3", "\u0663"])
def test_a_cloud_run_task_count_that_is_no_size_is_the_one_problem_naming_it(array: Path, count: str) -> None:
    report = check_every_document(BatchWidget(array, environ={"CLOUD_RUN_TASK_COUNT": count}))
    (problem,) = report.problems
    assert problem.startswith("CLOUD_RUN_TASK_COUNT must be an array size from 1 to 100000, got '")


def test_an_array_larger_than_the_engine_runs_is_the_one_problem(array: Path) -> None:
    report = check_every_document(BatchWidget(array, environ={"AWS_BATCH_JOB_ARRAY_INDEX": "0"}), 10_001)
    assert report.problems == ("an array of 10001 cannot run: its indices must be from 0 to 9999",)


def test_without_an_engine_indices_up_to_99999_are_accepted(tmp_path: Path) -> None:
    path = write_tinydb(tmp_path / "tasks.json", [child(99_999), child(100_000)])
    report = check_every_document(BatchWidget(path), array_size=100_000)
    assert [index for _, index, _ in report.invalid] == ["invalid"]
    assert report.missing == tuple(range(99_999))


def test_check_all_with_two_index_variables_is_the_one_problem(array: Path) -> None:
    report = check_every_document(
        BatchWidget(array, environ={"JOB_COMPLETION_INDEX": "", "CLOUD_RUN_TASK_INDEX": ""})
    )
    (problem,) = report.problems
    assert problem.startswith("2 index variables are set (JOB_COMPLETION_INDEX, CLOUD_RUN_TASK_INDEX)")


@pytest.mark.parametrize(
    ("argv", "complaint"),
    [
        (
            ["--runtime", "batch", "--array-size", "3"],
            "--array-size is the size of the array --check --all checks",
        ),
        (["--check", "--runtime", "batch", "--array-size", "3"], "use it with both"),
        (
            ["--check", "--all", "--runtime", "batch", "--array-size", "0"],
            "expected a number from 1 to 100000",
        ),
        (["--check", "--all", "--runtime", "batch", "--array-size", "100001"], "got '100001'"),
        (["--check", "--all", "--runtime", "batch", "--array-size", "1e3"], "argument --array-size"),
    ],
)
def test_array_size_outside_check_all_or_out_of_range_is_a_usage_error(
    argv: list[str], complaint: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run_command_line(Widget, argv, environ={}) == 2
    captured = capsys.readouterr()
    assert complaint in captured.err
    assert captured.out == ""
