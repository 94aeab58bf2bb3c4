"""Shared test helpers: one Widget configuration, put where each runtime reads it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import ClassVar

import pytest
from tinydb import TinyDB

from assignment import BatchWidget, EnvWidget, LambdaWidget, LocalWidget, WidgetParams
from task import Parameters, Task
from task_testing import FakeLambdaContext

PROJECT_DIR = Path(__file__).resolve().parent

# The test kit's fixtures (lambda_context, lambda_runtime): the installed distribution registers the
# plugin itself; the checkout's tests name it.
pytest_plugins = ["task_pytest"]

#: A password no test output may ever contain.
SECRET = "pa55-Never-Shown-7d1f"

#: The runtimes whose source is JSON (a file, a TinyDB document, an event).
JSON_RUNTIMES = ("local", "batch", "lambda")
ALL_RUNTIMES = (*JSON_RUNTIMES, "env")


def shipped_result(runtime: str) -> dict[str, object]:
    """What Widget returns, run in `runtime`, for the parameters every shipped fixture holds."""
    return {
        "runtime": runtime,
        "host": "db.example.com",
        "port": 5432,
        "database": "widgets",
        "user": "widget_app",
        "password": "***",
        "connection": "widget_app@db.example.com:5432/widgets",
    }


#: Marks a parameter to leave out in widget_params().
DROP = object()


def widget_params(**changes: object) -> dict[str, object]:
    """A valid Widget configuration, with changes (DROP removes a parameter)."""
    params: dict[str, object] = {
        "host": "db.internal",
        "port": 6543,
        "database": "widgets",
        "user": "app",
        "password": SECRET,
    }
    params.update(changes)
    return {name: value for name, value in params.items() if value is not DROP}


def write_tinydb(path: Path, documents: list[dict[str, object]], table: str | None = None) -> Path:
    """Write documents with TinyDB itself, so the file has TinyDB's real format."""
    with TinyDB(path) as db:
        (db.table(table) if table else db).insert_multiple(documents)
    return path


def _as_text(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def build_widget(
    runtime: str, params: object, directory: Path, environ: dict[str, str] | None = None
) -> Task:
    """Put params where `runtime` reads them (in `directory`) and return its Widget."""
    environ = dict(environ or {})
    if runtime == "local":
        path = directory / "widget.json"
        path.write_text(json.dumps(params), encoding="utf-8")
        return LocalWidget(path, environ=environ)
    if runtime == "batch":
        path = write_tinydb(directory / "tasks.json", [{"task": "widget", "params": params}])
        return BatchWidget(path, environ=environ)
    if runtime == "lambda":
        return LambdaWidget(json.loads(json.dumps(params)), FakeLambdaContext("widget"), environ=environ)
    if runtime == "env":
        assert isinstance(params, dict)
        environ.update({f"WIDGET_{name.upper()}": _as_text(value) for name, value in params.items()})
        return EnvWidget(environ=environ)
    raise AssertionError(f"unknown runtime {runtime}")


class Failing:
    """A business task whose logic fails."""

    name: ClassVar[str] = "failing"
    parameters: ClassVar[type[Parameters]] = WidgetParams

    def execute(self, params: WidgetParams) -> dict[str, object]:
        raise RuntimeError("the database refused the connection")


@pytest.fixture(params=JSON_RUNTIMES)
def json_runtime(request: pytest.FixtureRequest) -> str:
    """Each runtime whose parameters arrive as JSON."""
    return str(request.param)


@pytest.fixture(params=ALL_RUNTIMES)
def any_runtime(request: pytest.FixtureRequest) -> str:
    """Each runtime."""
    return str(request.param)


#: Variables the library reads: a test that wants one sets it itself.
_LIBRARY_VARIABLES = ("TASK_", "AWS_BATCH_", "AWS_LAMBDA_", "WIDGET_", "DB_", "JOB_COMPLETION_", "CLOUD_RUN_")


@pytest.fixture(autouse=True)
def _environment_of_the_tests_own(monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep the developer's or CI's environment out of every test."""
    import os

    for variable in list(os.environ):
        if variable.startswith(_LIBRARY_VARIABLES):
            monkeypatch.delenv(variable)


def run_assignment(
    *args: str, env: dict[str, str] | None = None, timeout: float = 30
) -> subprocess.CompletedProcess[str]:
    """`python assignment.py ARGS` in a fresh process, with only PATH and `env` set."""
    import os

    environment = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8", **(env or {})}
    return subprocess.run(
        [sys.executable, str(PROJECT_DIR / "assignment.py"), *args],
        cwd=PROJECT_DIR,
        env=environment,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


#: A task of a user's own: another name, other parameters, two secrets.
REPORT_TASK = """\
from task import ConfigError, LambdaTask, Parameters, Secret
from task_lambda import handle_event


class ReportParams(Parameters):
    bucket: str
    api_token: Secret
    signing_key: Secret
    retries: int = 3


class ReportSync:
    name = "report_sync"
    parameters = ReportParams

    def execute(self, params):
        if params.bucket == "missing":
            raise ConfigError(f"no bucket named {params.bucket}")
        return {"bucket": params.bucket, "retries": params.retries, "token": str(params.api_token)}


class LambdaReportSync(ReportSync, LambdaTask):
    pass


def handler(event, context=None):
    return handle_event(LambdaReportSync, event, context)
"""
REPORT_EVENT = {"bucket": "b", "api_token": "t", "signing_key": "k"}
