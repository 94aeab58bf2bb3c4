"""The pytest plugin of the test kit: the fixtures lambda_context and lambda_runtime.

The installed distribution registers it (entry point group pytest11), so a
user's tests get both fixtures without a conftest.py. The one library module
that imports pytest.
"""

from __future__ import annotations

import importlib.util
import os
import sys

import pytest

from task_runtime_api import RUNTIME_CLIENT, FunctionError, FunctionProcess, RuntimeAPI
from task_testing import FakeLambdaContext

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Mapping
    from typing import Any

    #: lambda_runtime(handler, event, *, environ=None) -> the response payload.
    LambdaRuntime = Callable[..., Any]

__all__ = ["lambda_context", "lambda_runtime"]

#: Why a test that needs the real runtime client is skipped where it is not installed.
SKIP_REASON = (
    f"the AWS Lambda runtime client ({RUNTIME_CLIENT}) is not installed: "
    "pip install 'task-runtimes[testing]' (it has Linux wheels only)"
)
#: How the function logs unless a test's `environ` says otherwise: as deploy/template.yaml sets it.
LOG_SETTINGS = {"AWS_LAMBDA_LOG_FORMAT": "JSON", "AWS_LAMBDA_LOG_LEVEL": "INFO"}


@pytest.fixture
def lambda_context() -> FakeLambdaContext:
    """A stand-in for the context AWS Lambda passes a handler, with a fresh request id."""
    return FakeLambdaContext()


@pytest.fixture
def lambda_runtime() -> Iterator[LambdaRuntime]:
    """Call lambda_runtime("MODULE.FUNCTION", event, environ=None) to invoke that handler under the real
    AWS Lambda runtime client and get its answer as Lambda's Invoke API returns it: the result, or
    for a function error the {"errorType": ..., "errorMessage": ...} object.

    The handler's module is found in the current directory, as Lambda finds it in
    the function's code. The function's environment is PATH plus `environ`;
    it logs JSON at INFO unless `environ` says otherwise. Calls with the same
    handler and environment reuse one warm process, as Lambda does. Skipped
    where the runtime client is not installed.
    """
    if importlib.util.find_spec(RUNTIME_CLIENT) is None:
        pytest.skip(SKIP_REASON)
    with RuntimeAPI() as api, _Functions(api) as functions:
        yield functions.invoke


class _Functions:
    """The function process of one test: kept warm while the handler and environment stay the same."""

    def __init__(self, api: RuntimeAPI) -> None:
        self._api = api
        self._key: tuple[str, frozenset[tuple[str, str]]] | None = None
        self._function: FunctionProcess | None = None

    def __enter__(self) -> _Functions:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop()

    def invoke(self, handler: str, event: object, *, environ: Mapping[str, str] | None = None) -> Any:
        """What lambda_runtime(handler, event, environ=...) does: see the fixture."""
        environment = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), **LOG_SETTINGS, **(environ or {})}
        key = (handler, frozenset(environment.items()))
        if self._function is None or key != self._key:  # one process at a time takes the API's events
            self._stop()
            self._key, self._function = key, FunctionProcess(self._api, environment, handler)
        try:
            return self._api.invoke(event).payload
        except FunctionError as error:  # it could not start, or it exited: what Lambda's Invoke says
            self._stop()
            return {"errorType": error.error_type, "errorMessage": error.error_message}

    def _stop(self) -> None:
        """Stop the process; what it printed goes to standard error, for pytest to show on a failure."""
        if self._function is not None:
            self._function.stop()
            print(self._function.output, end="", file=sys.stderr)
        self._key = self._function = None
