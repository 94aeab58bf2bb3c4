"""Test helpers, a stand-in Lambda context and a loopback Lambda Runtime API that runs any handler under
the real runtime client, and no test cases (those live in test_*.py).

The event builders (task_events) and run_everywhere() (task_everywhere) are importable from here too;
task_pytest turns these helpers into pytest fixtures.
"""

from __future__ import annotations

import json
import os
import sys
import time
import uuid
from pathlib import Path

from task_events import (
    alb_event,
    dynamodb_event,
    eventbridge_event,
    http_api_event,
    kinesis_event,
    rest_api_event,
    sns_event,
    sqs_event,
)
from task_everywhere import run_everywhere
from task_runtime_api import ACCOUNT, REGION, FunctionError, FunctionProcess, Outcome, RuntimeAPI
from task_testing_stores import secrets_extension

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence

__all__ = [
    "FakeLambdaContext",
    "FunctionError",
    "FunctionProcess",
    "Outcome",
    "RuntimeAPI",
    "alb_event",
    "dynamodb_event",
    "eventbridge_event",
    "http_api_event",
    "kinesis_event",
    "main",
    "rest_api_event",
    "run_everywhere",
    "secrets_extension",
    "sns_event",
    "sqs_event",
]

USAGE = """\
usage: python -m task_testing HANDLER EVENT_FILE [EVENT_FILE ...]
Invokes HANDLER (module.function, in the current directory) once per event file under the real runtime
client; prints {"response": ...} or {"error": ...} per invocation, then the function's log on stderr.
The function logs JSON at INFO, as deploy/template.yaml sets it, unless AWS_LAMBDA_LOG_FORMAT or
AWS_LAMBDA_LOG_LEVEL say otherwise.
"""


class FakeLambdaContext:
    """A stand-in for the context AWS Lambda passes a handler, for tests.

    Each instance has a fresh request id and a deadline `timeout_ms` from now.
    """

    def __init__(
        self, function_name: str = "task", timeout_ms: int = 30_000, memory_limit_in_mb: int = 128
    ) -> None:
        self._deadline = time.monotonic() + timeout_ms / 1000
        self.aws_request_id = str(uuid.uuid4())
        self.function_name = function_name
        self.function_version = "$LATEST"
        self.invoked_function_arn = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{function_name}"
        self.memory_limit_in_mb = str(memory_limit_in_mb)
        self.log_group_name = f"/aws/lambda/{function_name}"
        self.log_stream_name = f"2026/01/01/[$LATEST]{self.aws_request_id.replace('-', '')}"
        self.identity = None
        self.client_context = None

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m task_testing HANDLER EVENT_FILE...`: exit 0, 1 if any invocation failed, 2 for usage."""
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) < 2:
        print(USAGE, end="", file=sys.stderr)
        return 2
    handler, paths = args[0], args[1:]
    try:
        events = [Path(path).read_bytes() for path in paths]
    except OSError as exc:
        print(f"task_testing: cannot read the event file: {exc}", file=sys.stderr)
        return 2
    # As deploy/template.yaml configures the function, unless the environment says otherwise.
    environment = {"AWS_LAMBDA_LOG_FORMAT": "JSON", "AWS_LAMBDA_LOG_LEVEL": "INFO", **os.environ}
    failed = False
    with RuntimeAPI() as api:
        try:
            function = FunctionProcess(api, environment, handler)
        except ModuleNotFoundError as exc:
            print(f"task_testing: {exc}", file=sys.stderr)
            return 2
        with function:
            failed = _invoke_each(api, events)
    print(function.output, end="", file=sys.stderr)
    return 1 if failed else 0


def _invoke_each(api: RuntimeAPI, events: list[bytes]) -> bool:
    """Send each event in turn and print its outcome as one line of JSON; True when any failed."""
    failed = False
    for event in events:
        try:
            outcome = api.invoke_raw(event)
            kind, payload = outcome.kind, outcome.payload
        except FunctionError as exc:
            kind, payload = "error", {"errorType": exc.error_type, "errorMessage": exc.error_message}
        print(json.dumps({kind: payload}), flush=True)
        failed = failed or kind != "response"
    return failed


if __name__ == "__main__":
    sys.exit(main())
