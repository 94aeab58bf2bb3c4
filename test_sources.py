"""Reading sources: what the local file and the TinyDB file may hold, and how a bad one is named."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from assignment import BatchWidget, LocalWidget
from conftest import widget_params, write_tinydb
from task import ConfigError


@pytest.mark.parametrize("runtime", ["local", "batch"])
@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity", "1e999"])
def test_nan_and_infinity_are_refused_naming_the_parameter(
    runtime: str, constant: str, tmp_path: Path
) -> None:
    params = widget_params(port=0)
    text = json.dumps(params).replace('"port": 0', f'"port": {constant}')
    if runtime == "batch":
        text = f'{{"_default": {{"1": {{"task": "widget", "params": {text}}}}}}}'
    path = tmp_path / "config.json"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        (LocalWidget(path) if runtime == "local" else BatchWidget(path)).run()
    assert caught.value.problems == (
        "port: expected an integer from 1 to 65535, got a number that is not finite",
    )


def test_a_bad_array_index_is_reported_before_the_file_is_read(tmp_path: Path) -> None:
    absent = tmp_path / "absent.json"
    with pytest.raises(ConfigError) as caught:
        BatchWidget(absent, environ={"AWS_BATCH_JOB_ARRAY_INDEX": "x"}).run()
    assert caught.value.problems == ("AWS_BATCH_JOB_ARRAY_INDEX must be an index from 0 to 9999, got 'x'",)


@pytest.mark.parametrize("index", [10_000, -1, 2**70])
def test_a_document_whose_array_index_aws_batch_never_sets_matches_no_child(
    index: int, tmp_path: Path
) -> None:
    path = write_tinydb(
        tmp_path / "tasks.json", [{"task": "widget", "array_index": index, "params": widget_params()}]
    )
    with pytest.raises(ConfigError, match="no document with key 'widget' and array_index 0"):
        BatchWidget(path, environ={"AWS_BATCH_JOB_ARRAY_INDEX": "0"}).run()


@pytest.mark.parametrize("runtime", ["local", "batch"])
def test_a_path_with_a_line_break_is_named_escaped(runtime: str, tmp_path: Path) -> None:
    path = tmp_path / "odd\nname.json"
    widget = LocalWidget(path) if runtime == "local" else BatchWidget(path)
    with pytest.raises(ConfigError) as caught:
        widget.run()
    assert "odd\\nname.json" in caught.value.source
    assert widget.describe_source().isprintable()
