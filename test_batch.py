"""AWS Batch: parameters from a TinyDB document, and the job container's command line."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import tinydb

from assignment import BatchWidget
from conftest import PROJECT_DIR, SECRET, run_assignment, shipped_result, widget_params, write_tinydb
from task import TINYDB_DEFAULT_TABLE, ConfigError

FIXTURE = PROJECT_DIR / "fixtures" / "tasks.json"

#: What AWS Batch sets in every job's container.
BATCH_ENVIRONMENT = {
    "AWS_BATCH_JOB_ID": "8f1c4b3e-job",
    "AWS_BATCH_JOB_ATTEMPT": "1",
    "AWS_BATCH_CE_NAME": "ce",
}


def document(key: str = "widget", index: object = None, **params: object) -> dict[str, object]:
    """A TinyDB document for `key` (and an array index), with Widget's parameters."""
    found: dict[str, object] = {"task": key, "params": widget_params(**params)}
    if index is not None:
        found["array_index"] = index
    return found


def fingerprint(path: Path) -> tuple[bytes, int]:
    return path.read_bytes(), path.stat().st_mtime_ns


@pytest.fixture
def db(tmp_path: Path) -> Path:
    """A TinyDB file with Widget's document, three array children, and another task."""
    return write_tinydb(
        tmp_path / "tasks.json",
        [
            document(),
            document(index=0, host="child-0"),
            document(index=1, host="child-1"),
            document(index=2, host="child-2"),
            {"task": "gadget", "params": {"bucket": "b"}},
        ],
    )


# --------------------------------------------------------------------------
# Finding the document


def test_the_shipped_fixture_runs_with_the_password_from_the_environment() -> None:
    assert BatchWidget(FIXTURE, environ={"DB_PASSWORD": SECRET}).run() == shipped_result("batch")


def test_task_config_db_names_the_file_and_the_key_defaults_to_the_task_name(db: Path) -> None:
    assert BatchWidget(environ={"TASK_CONFIG_DB": str(db)}).run()["host"] == "db.internal"


@pytest.mark.parametrize("value", [None, ""], ids=["unset", "empty"])
def test_no_file_and_no_task_config_db_is_an_error_naming_the_variable(value: str | None) -> None:
    environ = {} if value is None else {"TASK_CONFIG_DB": value}
    with pytest.raises(ConfigError, match="TASK_CONFIG_DB"):
        BatchWidget(environ=environ).run()


def test_task_config_key_selects_another_document_and_the_argument_wins(tmp_path: Path) -> None:
    path = write_tinydb(
        tmp_path / "tasks.json", [document(), document("blue", host="blue"), document("red", host="red")]
    )
    assert BatchWidget(path, environ={"TASK_CONFIG_KEY": "blue"}).run()["host"] == "blue"
    assert BatchWidget(path, key="red", environ={"TASK_CONFIG_KEY": "blue"}).run()["host"] == "red"


def test_task_config_table_selects_the_table_and_the_argument_wins(tmp_path: Path) -> None:
    path = tmp_path / "tasks.json"
    write_tinydb(path, [document(host="staging")], table="staging")
    write_tinydb(path, [document(host="prod")], table="prod")
    assert BatchWidget(path, environ={"TASK_CONFIG_TABLE": "staging"}).run()["host"] == "staging"
    assert BatchWidget(path, table="prod", environ={"TASK_CONFIG_TABLE": "staging"}).run()["host"] == "prod"


def test_the_default_table_is_tinydbs() -> None:
    assert tinydb.TinyDB.default_table_name == TINYDB_DEFAULT_TABLE


@pytest.mark.parametrize("index", ["0", "1", "2"])
def test_an_array_child_reads_the_document_with_its_index(db: Path, index: str) -> None:
    result = BatchWidget(db, environ={"AWS_BATCH_JOB_ARRAY_INDEX": index}).run()
    assert result["host"] == f"child-{index}"


def test_without_an_array_index_the_document_without_one_is_read(db: Path) -> None:
    assert BatchWidget(db).run()["host"] == "db.internal"


def test_an_index_with_no_document_does_not_fall_back_to_the_unindexed_one(db: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        BatchWidget(db, environ={"AWS_BATCH_JOB_ARRAY_INDEX": "7"}).run()
    assert str(caught.value) == (
        f"TinyDB file {db}, table '_default', key 'widget', array index 7: "
        "no document with key 'widget' and array_index 7"
    )


@pytest.mark.parametrize("index", [True, 1.0, "1"])
def test_only_a_json_integer_is_an_array_index(tmp_path: Path, index: object) -> None:
    path = write_tinydb(tmp_path / "tasks.json", [document(index=index)])
    with pytest.raises(ConfigError, match="no document with key 'widget' and array_index 1"):
        BatchWidget(path, environ={"AWS_BATCH_JOB_ARRAY_INDEX": "1"}).run()


@pytest.mark.parametrize("index", ["", "one", "1.0", " 1"])
def test_an_index_that_is_not_an_integer_is_an_error(db: Path, index: str) -> None:
    expected = f"AWS_BATCH_JOB_ARRAY_INDEX must be an index from 0 to 9999, got {index!r}"
    with pytest.raises(ConfigError, match=expected):
        BatchWidget(db, environ={"AWS_BATCH_JOB_ARRAY_INDEX": index}).run()


def test_two_documents_for_the_same_key_are_an_error_naming_both(tmp_path: Path) -> None:
    path = write_tinydb(tmp_path / "tasks.json", [document(), {"task": "gadget"}, document(host="other")])
    two = r"2 documents with key 'widget' and no array_index \(ids 1, 3\); expected exactly one"
    with pytest.raises(ConfigError, match=two):
        BatchWidget(path).run()


def test_a_missing_key_is_an_error_naming_file_table_and_key(db: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        BatchWidget(db, key="sprocket").run()
    assert str(caught.value) == (
        f"TinyDB file {db}, table '_default', key 'sprocket': "
        "no document with key 'sprocket' and no array_index"
    )


@pytest.mark.parametrize(
    ("params", "got"), [(None, "null"), ([1], "an array"), ("host=h", "a string"), (SECRET, "a string")]
)
def test_a_document_whose_params_is_not_an_object_is_an_error(
    tmp_path: Path, params: object, got: str
) -> None:
    path = write_tinydb(tmp_path / "tasks.json", [{"task": "widget", "params": params}])
    with pytest.raises(ConfigError) as caught:
        BatchWidget(path).run()
    assert str(caught.value).endswith(f'the document\'s "params" must be an object, got {got}')
    assert SECRET not in str(caught.value)


def test_a_document_without_params_is_an_error(tmp_path: Path) -> None:
    path = write_tinydb(tmp_path / "tasks.json", [{"task": "widget", "host": "h"}])
    with pytest.raises(ConfigError, match=r"""key 'widget': the document has no "params"$"""):
        BatchWidget(path).run()


def test_a_document_with_bad_parameters_names_the_file_key_and_parameters(tmp_path: Path) -> None:
    path = write_tinydb(tmp_path / "tasks.json", [document(port="5432", password=None)])
    with pytest.raises(ConfigError) as caught:
        BatchWidget(path).run()
    assert str(caught.value) == (
        f"TinyDB file {path}, table '_default', key 'widget': 2 problems: "
        "port: expected an integer from 1 to 65535, got a string; "
        "password: expected a string (secret), got null"
    )


def test_the_file_is_parsed_once_per_run(db: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []
    real_decode = json.JSONDecoder.decode

    def counting_decode(decoder: json.JSONDecoder, text: str) -> object:
        calls.append(text)
        return real_decode(decoder, text)

    monkeypatch.setattr(json.JSONDecoder, "decode", counting_decode)
    BatchWidget(db).run()
    assert len(calls) == 1


# --------------------------------------------------------------------------
# The file is only ever read

BAD_FILES = {
    "corrupt": (b'{"_default": {"1": {"task": "widget",, }}}', "not valid JSON: Expecting property name"),
    "truncated": (
        b'{"_default": {"1": {"task": "widget", "params": {"password": "' + SECRET.encode(),
        "not valid JSON",
    ),
    "empty": (b"", "the file is empty"),
    "not-utf-8": (b'{"_default": {"1": {"task": "\xff"}}}', "not UTF-8 text"),
    "array": (b"[]", "not a TinyDB file: expected an object of tables, got an array"),
    "no-table": (b'{"other": {}}', "no table '_default' in the file"),
    "table-not-object": (b'{"_default": [1, 2]}', "table '_default' is not a TinyDB table"),
}


@pytest.mark.parametrize(("content", "explanation"), BAD_FILES.values(), ids=BAD_FILES.keys())
def test_a_bad_file_is_an_error_and_is_left_exactly_as_it_was(
    tmp_path: Path, content: bytes, explanation: str
) -> None:
    path = tmp_path / "tasks.json"
    path.write_bytes(content)
    before = fingerprint(path)
    with pytest.raises(ConfigError) as caught:
        BatchWidget(path).run()
    assert str(caught.value).startswith(f"TinyDB file {path}, table '_default', key 'widget': {explanation}")
    assert SECRET not in str(caught.value)
    assert fingerprint(path) == before


def test_a_missing_file_is_an_error_and_is_not_created(tmp_path: Path) -> None:
    path = tmp_path / "tasks.json"
    with pytest.raises(ConfigError, match=f"TinyDB file {path}, .*: No such file or directory"):
        BatchWidget(path).run()
    assert not path.exists()


def test_a_good_file_is_left_exactly_as_it_was(db: Path) -> None:
    before = fingerprint(db)
    BatchWidget(db).run()
    BatchWidget(db, environ={"AWS_BATCH_JOB_ARRAY_INDEX": "9"}).check()
    assert fingerprint(db) == before


def test_a_read_only_file_can_be_read(db: Path) -> None:
    db.chmod(0o444)
    assert BatchWidget(db).run()["runtime"] == "batch"


# --------------------------------------------------------------------------
# As the job container runs it: `python assignment.py` with AWS Batch's environment


def test_python_assignment_py_in_a_batch_job_reads_the_tinydb_document(db: Path) -> None:
    before = fingerprint(db)
    completed = run_assignment(env={**BATCH_ENVIRONMENT, "TASK_CONFIG_DB": str(db)})
    assert completed.returncode == 0, completed.stderr
    assert json.loads(completed.stdout) == {
        "runtime": "batch",
        **widget_params(password="***"),
        "connection": "app@db.internal:6543/widgets",
    }
    assert SECRET not in completed.stdout + completed.stderr
    assert fingerprint(db) == before


def test_an_array_job_child_reads_its_own_document(db: Path) -> None:
    environment = {**BATCH_ENVIRONMENT, "TASK_CONFIG_DB": str(db), "AWS_BATCH_JOB_ARRAY_INDEX": "2"}
    completed = run_assignment(env=environment)
    assert completed.returncode == 0, completed.stderr
    assert json.loads(completed.stdout)["host"] == "child-2"


def test_db_and_key_options_override_the_environment(db: Path, tmp_path: Path) -> None:
    other = write_tinydb(tmp_path / "other.json", [document("nightly", host="nightly")])
    environment = {**BATCH_ENVIRONMENT, "TASK_CONFIG_DB": str(db), "TASK_CONFIG_KEY": "widget"}
    completed = run_assignment("--db", str(other), "--key", "nightly", env=environment)
    assert completed.returncode == 0, completed.stderr
    assert json.loads(completed.stdout)["host"] == "nightly"


def test_runtime_batch_can_be_chosen_outside_aws_batch(db: Path) -> None:
    completed = run_assignment("--runtime", "batch", "--db", str(db))
    assert completed.returncode == 0, completed.stderr
    assert json.loads(completed.stdout)["runtime"] == "batch"


def test_a_configuration_error_in_a_batch_job_exits_2_with_one_line_and_no_change(db: Path) -> None:
    before = fingerprint(db)
    environment = {**BATCH_ENVIRONMENT, "TASK_CONFIG_DB": str(db), "AWS_BATCH_JOB_ARRAY_INDEX": "5"}
    completed = run_assignment(env=environment)
    assert completed.returncode == 2
    assert completed.stdout == ""
    (line,) = completed.stderr.splitlines()
    assert json.loads(line)["message"] == (
        f"widget: configuration error: TinyDB file {db}, table '_default', key 'widget', "
        "array index 5: no document with key 'widget' and array_index 5"
    )
    assert fingerprint(db) == before


def test_a_missing_file_in_a_batch_job_exits_2_and_creates_nothing(tmp_path: Path) -> None:
    path = tmp_path / "absent.json"
    completed = run_assignment(env={**BATCH_ENVIRONMENT, "TASK_CONFIG_DB": str(path)})
    assert completed.returncode == 2
    assert "No such file or directory" in completed.stderr
    assert not path.exists()


WAITING_TASK = """
import pathlib, sys, time
sys.path.insert(0, {project!r})
from task import Parameters
from task_cli import run_command_line

class WaiterParams(Parameters):
    marker: str

class Waiter:
    name = "waiter"
    parameters = WaiterParams

    def execute(self, params):
        marker = pathlib.Path(params.marker)
        marker.write_text("started")
        try:
            time.sleep(60)
        except Exception:
            marker.write_text("swallowed")
        finally:
            with marker.open("a") as file:
                file.write(", cleaned up")
        return {{"waited": True}}

sys.exit(run_command_line(Waiter))
"""


def test_sigterm_interrupts_the_task_runs_its_cleanup_and_exits_143(tmp_path: Path) -> None:
    marker = tmp_path / "marker"
    script = tmp_path / "waiter.py"
    script.write_text(textwrap.dedent(WAITING_TASK.format(project=str(PROJECT_DIR))))
    db = write_tinydb(tmp_path / "tasks.json", [{"task": "waiter", "params": {"marker": str(marker)}}])
    environment = {"PATH": os.environ["PATH"], **BATCH_ENVIRONMENT, "TASK_CONFIG_DB": str(db)}
    process = subprocess.Popen(
        [sys.executable, str(script)],
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 20
        while not marker.exists() and time.monotonic() < deadline and process.poll() is None:
            time.sleep(0.02)
        assert marker.exists(), "the task never started"
        sent = time.monotonic()
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=10)
        stopped_after = time.monotonic() - sent
    finally:
        process.kill()
    assert process.returncode == 143
    assert marker.read_text() == "started, cleaned up"
    assert out == ""
    assert "waiter: failed: stopped by SIGTERM" in err
    assert stopped_after < 5
