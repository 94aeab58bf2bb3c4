"""Invoke a handler under the real AWS Lambda runtime client, on this machine.

AWS runs Python functions with `awslambdaric`, which takes each invocation
from the Lambda Runtime API over HTTP. This module serves the few endpoints it
uses on 127.0.0.1, starts `python -m awslambdaric HANDLER` against them, and
sends it events one after another, as a warm Lambda container would get them:

    python lambda_local.py fixtures/lambda_event.json [more events...]

prints one JSON line per invocation, {"response": ...} or {"error": ...}.
Nothing leaves loopback, and every wait is bounded.
"""

from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence
    from types import TracebackType

__all__ = ["FunctionProcess", "Outcome", "RuntimeAPI", "lambda_environment", "main"]

PROJECT_DIR = Path(__file__).resolve().parent
API_PREFIX = "/2018-06-01/runtime"
FUNCTION_NAME = "widget"
FUNCTION_ARN = f"arn:aws:lambda:us-east-1:123456789012:function:{FUNCTION_NAME}"


class Outcome:
    """How one invocation ended: the handler's response, or the error Lambda reports."""

    def __init__(self, request_id: str, kind: str, payload: object) -> None:
        self.request_id = request_id
        #: "response" or "error".
        self.kind = kind
        #: The decoded response body, or {"errorType", "errorMessage", ...}.
        self.payload = payload

    def as_json(self) -> str:
        return json.dumps({self.kind: self.payload})

    def __repr__(self) -> str:
        return f"Outcome({self.request_id!r}, {self.kind!r})"


class RuntimeAPI:
    """The Lambda Runtime API endpoints a runtime client uses, served on loopback.

    invoke() queues an event and waits for the function's answer. The
    `next` endpoint hands out one queued event at a time, with the request
    id, deadline, function ARN and trace headers that Lambda sends.
    """

    def __init__(self, timeout_ms: int = 30_000) -> None:
        self.timeout_ms = timeout_ms
        self._events: queue.Queue[tuple[str, bytes]] = queue.Queue()
        self._outcomes: dict[str, queue.Queue[Outcome]] = {}
        self._lock = threading.Lock()
        self._closing = threading.Event()
        #: Errors the client reported before it could take invocations.
        self.init_errors: list[object] = []
        self._server = _QuietServer(("127.0.0.1", 0), self._handler_class())
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def address(self) -> str:
        """host:port, the value of AWS_LAMBDA_RUNTIME_API."""
        host, port = self._server.server_address[:2]
        return f"{host!s}:{port}"

    def __enter__(self) -> RuntimeAPI:
        self._thread.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._closing.set()
        self._server.shutdown()
        self._server.server_close()

    def invoke(self, event: object, timeout: float = 20.0) -> Outcome:
        """Send one event to the function and wait for its response or error."""
        return self.invoke_raw(json.dumps(event).encode(), timeout)

    def invoke_raw(self, body: bytes, timeout: float = 20.0) -> Outcome:
        request_id = str(uuid.uuid4())
        answer: queue.Queue[Outcome] = queue.Queue(maxsize=1)
        with self._lock:
            self._outcomes[request_id] = answer
        self._events.put((request_id, body))
        try:
            return answer.get(timeout=timeout)
        except queue.Empty:
            raise TimeoutError(f"no answer to invocation {request_id} within {timeout} s") from None

    def _next_event(self) -> tuple[str, bytes] | None:
        """The next queued event; None once the API is closing."""
        while not self._closing.is_set():
            try:
                return self._events.get(timeout=0.1)
            except queue.Empty:
                continue
        return None

    def _record(self, request_id: str, kind: str, payload: object) -> bool:
        with self._lock:
            answer = self._outcomes.pop(request_id, None)
        if answer is None:
            return False
        answer.put(Outcome(request_id, kind, payload))
        return True

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        api = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                if self.path != f"{API_PREFIX}/invocation/next":
                    self._reply(404, {"errorMessage": "unknown endpoint"})
                    return
                event = api._next_event()
                if event is None:
                    self._reply(410, {"errorMessage": "the runtime API is shutting down"})
                    return
                request_id, body = event
                deadline_ms = int(time.time() * 1000) + api.timeout_ms
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Lambda-Runtime-Aws-Request-Id", request_id)
                self.send_header("Lambda-Runtime-Deadline-Ms", str(deadline_ms))
                self.send_header("Lambda-Runtime-Invoked-Function-Arn", FUNCTION_ARN)
                self.send_header("Lambda-Runtime-Trace-Id", f"Root=1-{request_id[:8]};Sampled=0")
                self.end_headers()
                self.wfile.write(body)

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                payload = _decode(self.rfile.read(length))
                parts = self.path.removeprefix(API_PREFIX).strip("/").split("/")
                if parts == ["init", "error"]:
                    api.init_errors.append(payload)
                    self._reply(202, {"status": "OK"})
                elif len(parts) == 3 and parts[0] == "invocation" and parts[2] in ("response", "error"):
                    known = api._record(parts[1], parts[2], payload)
                    self._reply(202 if known else 400, {"status": "OK" if known else "unknown request id"})
                else:
                    self._reply(404, {"errorMessage": "unknown endpoint"})

            def _reply(self, status: int, body: object) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: object) -> None:
                """Keep the API quiet: the function's own logs are what matter."""

        return Handler


class _QuietServer(ThreadingHTTPServer):
    """Says nothing when the function's process goes away mid-request, as it
    does when it is stopped while waiting for its next event."""

    daemon_threads = True

    def handle_error(self, request: object, client_address: object) -> None:
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)  # type: ignore[arg-type]


def _decode(body: bytes) -> object:
    try:
        return json.loads(body) if body else None
    except ValueError:
        return body.decode(errors="replace")


def lambda_environment(api_address: str, base: Mapping[str, str]) -> dict[str, str]:
    """`base` plus the variables Lambda reserves for a Python function, pointed at api_address."""
    environment = {"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8"}
    environment.update(base)
    environment.update(
        {
            "TZ": ":UTC",
            "AWS_LAMBDA_RUNTIME_API": api_address,
            "AWS_LAMBDA_FUNCTION_NAME": FUNCTION_NAME,
            "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "128",
            "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{FUNCTION_NAME}",
            "AWS_LAMBDA_LOG_STREAM_NAME": "2026/01/01/[$LATEST]0123456789abcdef",
            "AWS_REGION": "us-east-1",
            "AWS_DEFAULT_REGION": "us-east-1",
            "LAMBDA_TASK_ROOT": str(PROJECT_DIR),
            "LAMBDA_RUNTIME_DIR": str(Path(sys.executable).parent),
            "PYTHONPATH": str(PROJECT_DIR),
            "_HANDLER": "assignment.handler",
        }
    )
    return environment


class FunctionProcess:
    """`python -m awslambdaric HANDLER` in a child process, stopped on exit.

    It takes its invocations from `api`; its environment is `environment` plus
    the variables Lambda reserves.
    """

    def __init__(
        self, api: RuntimeAPI, environment: Mapping[str, str], handler: str = "assignment.handler"
    ) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "awslambdaric", handler],
            cwd=PROJECT_DIR,
            env=lambda_environment(api.address, environment),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        self.output = ""

    def __enter__(self) -> FunctionProcess:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def stop(self) -> None:
        """End the process and keep what it printed in `output`."""
        if self.process.poll() is None:
            self.process.terminate()
        try:
            out, _ = self.process.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            out, _ = self.process.communicate(timeout=10)
        self.output = out.decode(errors="replace")


def main(argv: Sequence[str] | None = None) -> int:
    """Invoke assignment.handler once per event file; exit 1 if any invocation failed."""
    paths = list(sys.argv[1:] if argv is None else argv)
    if not paths:
        print(__doc__, file=sys.stderr)
        return 2
    failed = 0
    with (
        RuntimeAPI() as api,
        FunctionProcess(api, os.environ) as function,
    ):
        for path in paths:
            outcome = api.invoke_raw(Path(path).read_bytes())
            print(outcome.as_json())
            failed += outcome.kind != "response"
    print(function.output, end="", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
