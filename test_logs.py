"""One log record per unit of work, in every runtime, with the fields an operator searches by."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest

from conftest import SECRET, Failing, build_widget, widget_params, write_tinydb
from task import BatchTask, ConfigError, runnable

COMMON_FIELDS = ("task", "runtime", "outcome", "duration_ms", "source")


def task_records(caplog: pytest.LogCaptureFixture) -> list[Any]:
    """The library's records; typed Any, since their fields are `extra` attributes."""
    return [record for record in caplog.records if record.name == "task"]


def test_a_run_logs_one_info_record_with_the_common_fields(
    any_runtime: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="task")
    widget = build_widget(any_runtime, widget_params(), tmp_path)
    widget.run()
    (record,) = task_records(caplog)
    assert record.levelno == logging.INFO
    assert {field: getattr(record, field) for field in COMMON_FIELDS[:3]} == {
        "task": "widget",
        "runtime": any_runtime,
        "outcome": "ok",
    }
    assert isinstance(record.duration_ms, float)
    assert record.source == widget.describe_source()


def test_a_configuration_error_logs_one_error_record_carrying_the_config_error(
    any_runtime: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with pytest.raises(ConfigError) as caught:
        build_widget(any_runtime, widget_params(port="x"), tmp_path).run()
    (record,) = task_records(caplog)
    assert (record.levelno, record.outcome) == (logging.ERROR, "config_error")
    assert record.exc_info[1] is caught.value  # so Lambda's JSON log format gives its errorType
    assert str(caught.value) in record.getMessage()


def test_a_failure_logs_one_error_record_with_its_scrubbed_message_and_traceback(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    class LeakyFailing(Failing):
        def execute(self, params: object) -> dict[str, object]:
            raise RuntimeError(f"refused password {SECRET}")

    failing = runnable(LeakyFailing, BatchTask)(
        write_tinydb(tmp_path / "tasks.json", [{"task": "failing", "params": widget_params()}]), environ={}
    )
    with pytest.raises(RuntimeError):
        failing.run()
    (record,) = task_records(caplog)
    assert (record.levelno, record.outcome) == (logging.ERROR, "failed")
    assert record.getMessage() == "failing: failed: refused password ***"
    assert record.exc_info is not None
    assert SECRET not in caplog.text


def test_a_batch_record_carries_the_job_id_array_index_and_attempt(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="task")
    environ = {
        "AWS_BATCH_JOB_ID": "8f1c-job:3",
        "AWS_BATCH_JOB_ARRAY_INDEX": "3",
        "AWS_BATCH_JOB_ATTEMPT": "2",
    }
    path = write_tinydb(
        tmp_path / "tasks.json", [{"task": "widget", "array_index": 3, "params": widget_params()}]
    )
    from assignment import BatchWidget

    BatchWidget(path, environ=environ).run()
    (record,) = task_records(caplog)
    assert (record.job_id, record.array_index, record.attempt) == ("8f1c-job:3", 3, 2)


def test_a_lambda_record_carries_the_request_id(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="task")
    widget = build_widget("lambda", widget_params(), tmp_path)
    widget.run()
    (record,) = task_records(caplog)
    assert record.request_id == widget.context.aws_request_id  # type: ignore[attr-defined]


def test_the_library_adds_no_handler_but_a_null_handler_and_sets_no_level() -> None:
    library_logger = logging.getLogger("task")
    assert [type(handler) for handler in library_logger.handlers] == [logging.NullHandler]
    assert library_logger.level == logging.NOTSET
