"""The Lambda Runtime API on loopback, and a function process that takes its invocations from it under
the real AWS Lambda runtime client (awslambdaric): how the test kit runs a handler as Lambda does.
task_testing re-exports these."""

from __future__ import annotations

import importlib.util
import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping
    from types import TracebackType

__all__ = ["RUNTIME_CLIENT", "FunctionError", "FunctionProcess", "Outcome", "RuntimeAPI"]

API_PREFIX = "/2018-06-01/runtime"
FUNCTION_NAME = "function"
REGION = "us-east-1"
ACCOUNT = "123456789012"

# What the runtime client reads to choose how it runs (concurrency, log descriptors, tracing) is
# Lambda's to set, not the function's environment's.
_RESERVED = (
    "_HANDLER",
    "_LAMBDA_TELEMETRY_LOG_FD",
    "_LAMBDA_TELEMETRY_LOG_FD_PROVIDER_SOCKET",
    "_X_AMZN_TRACE_ID",
    "AWS_LAMBDA_MAX_CONCURRENCY",
)
# Lambda sets this one too; a test may choose another runtime's to see how that one behaves.
AWS_EXECUTION_ENV = "AWS_EXECUTION_ENV"
ERROR_TYPE_HEADER = "Lambda-Runtime-Function-Error-Type"
#: The AWS Lambda runtime client: the extra "testing" installs it.
RUNTIME_CLIENT = "awslambdaric"


class FunctionError(RuntimeError):
    """The function cannot answer: its initialisation failed, or its process exited."""

    def __init__(self, error_type: str, error_message: str, output: str = "") -> None:
        #: As Lambda reports it: "Runtime.ImportModuleError", "Runtime.ExitError", ...
        self.error_type = error_type
        self.error_message = error_message
        #: The end of what the process printed, when it exited.
        self.output = output
        text = f"{error_type}: {error_message}"
        if output:
            text += f"\nThe function's last output:\n{output}"
        super().__init__(text)


class Outcome:
    """How one invocation ended: the handler's response, or the error Lambda reports."""

    def __init__(self, request_id: str, kind: str, payload: object) -> None:
        self.request_id = request_id
        #: "response" or "error".
        self.kind = kind
        #: The decoded response body, or {"errorType", "errorMessage", ...}.
        self.payload = payload

    def __repr__(self) -> str:
        return f"Outcome({self.request_id!r}, {self.kind!r})"


class RuntimeAPI:
    """The Lambda Runtime API endpoints a runtime client uses, served on 127.0.0.1.

    invoke() queues an event and waits for the function's answer; the `next`
    endpoint hands out one queued event at a time, with the headers Lambda
    sends. Once the function reports an initialisation error or its process
    exits, every waiting and later invoke() raises `FunctionError`, until a
    new `FunctionProcess` starts on this API.
    """

    def __init__(self, timeout_ms: int = 30_000) -> None:
        self.timeout_ms = timeout_ms
        self._events: queue.Queue[tuple[str, bytes]] = queue.Queue()
        self._changed = threading.Condition()
        self._answers: dict[str, Outcome | None] = {}  # pending request id -> its outcome, once known
        self._failure: FunctionError | None = None
        #: Counts the function processes started on this API: a request for the next event from a
        #: process that has been replaced since (it may still be waiting when it is stopped) gets none.
        self._generation = 0
        self._closing = threading.Event()
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
        """Send one request body as is; raise `FunctionError` as soon as the function cannot answer."""
        request_id = str(uuid.uuid4())
        with self._changed:
            self._raise_failure()
            self._answers[request_id] = None
        self._events.put((request_id, body))
        with self._changed:
            self._changed.wait_for(
                lambda: self._answers[request_id] is not None or self._failure is not None, timeout
            )
            outcome = self._answers.pop(request_id)
            if outcome is not None:
                return outcome
            self._raise_failure()
        raise TimeoutError(f"no answer to invocation {request_id} within {timeout} s")

    def fail(self, error: FunctionError) -> None:
        """Make every waiting and later invoke() raise `error`; the first failure is the one kept."""
        with self._changed:
            if self._failure is None:
                self._failure = error
            self._changed.notify_all()

    def reset(self) -> None:
        """Forget a failure: a new function process is starting."""
        with self._changed:
            self._failure = None
            self._generation += 1

    def _raise_failure(self) -> None:
        failure = self._failure
        if failure is not None:
            raise FunctionError(failure.error_type, failure.error_message, failure.output)

    def _next_event(self, generation: int) -> tuple[str, bytes] | None:
        """The next event someone still waits for; None once the API is closing, or once the process
        that asked (started as `generation`) has been replaced."""
        while not self._closing.is_set() and generation == self._generation:
            try:
                request_id, body = self._events.get(timeout=0.1)
            except queue.Empty:
                continue
            with self._changed:
                if generation != self._generation:  # for the process that replaced the one asking
                    self._events.put((request_id, body))
                    return None
                if request_id in self._answers:
                    return request_id, body
        return None

    def _record(self, request_id: str, kind: str, payload: object) -> bool:
        with self._changed:
            if request_id not in self._answers or self._answers[request_id] is not None:
                return False
            self._answers[request_id] = Outcome(request_id, kind, payload)
            self._changed.notify_all()
        return True

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        api = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # Headers and body leave in two writes: with Nagle's algorithm each answer waits for a
            # delayed ACK, 40 ms on Linux, twice per invocation.
            disable_nagle_algorithm = True

            def do_GET(self) -> None:
                if self.path != f"{API_PREFIX}/invocation/next":
                    self._reply(404, {"errorMessage": "unknown endpoint"})
                    return
                event = api._next_event(api._generation)
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
                self.send_header("Lambda-Runtime-Invoked-Function-Arn", _function_arn())
                self.send_header("Lambda-Runtime-Trace-Id", f"Root=1-{request_id[:8]};Sampled=0")
                self.end_headers()
                self.wfile.write(body)

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                payload = _decode(self.rfile.read(length))
                parts = self.path.removeprefix(API_PREFIX).strip("/").split("/")
                if parts == ["init", "error"]:
                    error_type = self.headers.get(ERROR_TYPE_HEADER, "Runtime.Unknown")
                    message = payload.get("errorMessage") if isinstance(payload, dict) else payload
                    api.fail(FunctionError(error_type, str(message)))
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


def _function_arn() -> str:
    return f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{FUNCTION_NAME}"


def _python_version(python: str) -> str:
    """The version of the interpreter at `python`, as Lambda's runtime names write it: 3.11.

    Raises ModuleNotFoundError, naming the extra that installs it, when that
    interpreter cannot import the runtime client: the function could never start.
    """
    if python == sys.executable:
        version = f"{sys.version_info.major}.{sys.version_info.minor}"
        found = importlib.util.find_spec(RUNTIME_CLIENT) is not None
    else:
        code = (
            "import importlib.util, sys; "
            f"print('%d.%d' % sys.version_info[:2], bool(importlib.util.find_spec({RUNTIME_CLIENT!r})))"
        )
        version, found_text = subprocess.check_output([python, "-c", code], text=True, timeout=30).split()
        found = found_text == "True"
    if not found:
        raise ModuleNotFoundError(
            f"{python} cannot import the AWS Lambda runtime client ({RUNTIME_CLIENT}), which runs the "
            "function: install the extra testing, pip install 'task-runtimes[testing]' (Linux wheels only)",
            name=RUNTIME_CLIENT,
        )
    return version


class FunctionProcess:
    """`python -m awslambdaric HANDLER` in a child process that takes its invocations from `api`.

    Its environment is `environment` plus what Lambda sets for a Python function;
    `AWS_EXECUTION_ENV` (default: the interpreter's version, as Lambda names it),
    `AWS_LAMBDA_LOG_FORMAT` and `AWS_LAMBDA_LOG_LEVEL` come from `environment`
    when it sets them. `root` (default: the current directory) is the function's
    code: LAMBDA_TASK_ROOT, the working directory and PYTHONPATH. `python` is
    the interpreter: one that cannot import the runtime client raises
    ModuleNotFoundError at once. A thread keeps draining the process's output
    into `output`.
    """

    #: How much of the end of the function's output `output` keeps, in bytes.
    output_limit = 8 * 2**20

    def __init__(
        self,
        api: RuntimeAPI,
        environment: Mapping[str, str],
        handler: str = "assignment.handler",
        *,
        root: str | os.PathLike[str] | None = None,
        python: str = sys.executable,
    ) -> None:
        self._api = api
        self._output = bytearray()
        self._dropped = 0
        self._lock = threading.Lock()
        task_root = str(Path(os.getcwd() if root is None else root).resolve())
        child_environment = {"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8"}
        child_environment.update((name, environment[name]) for name in environment if name not in _RESERVED)
        child_environment.setdefault(AWS_EXECUTION_ENV, f"AWS_Lambda_python{_python_version(python)}")
        child_environment.update(
            {
                "TZ": ":UTC",
                "_HANDLER": handler,
                "AWS_LAMBDA_RUNTIME_API": api.address,
                "AWS_LAMBDA_FUNCTION_NAME": FUNCTION_NAME,
                "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
                "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "128",
                "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
                "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{FUNCTION_NAME}",
                "AWS_LAMBDA_LOG_STREAM_NAME": "2026/01/01/[$LATEST]0123456789abcdef",
                "AWS_REGION": REGION,
                "AWS_DEFAULT_REGION": REGION,
                "LAMBDA_TASK_ROOT": task_root,
                "LAMBDA_RUNTIME_DIR": str(Path(python).parent),
                "PYTHONPATH": task_root,
            }
        )
        api.reset()
        self.process = subprocess.Popen(
            [python, "-m", RUNTIME_CLIENT, handler],
            cwd=task_root,
            env=child_environment,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            bufsize=0,
        )
        self._reader = threading.Thread(target=self._drain, daemon=True)
        self._reader.start()

    @property
    def output(self) -> str:
        """What the process printed so far (standard output and error), or the end of it."""
        with self._lock:
            text = self._output.decode(errors="replace")
            dropped = self._dropped
        return f"[... {dropped} earlier bytes not kept ...]\n{text}" if dropped else text

    def __enter__(self) -> FunctionProcess:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def stop(self) -> None:
        """End the process, and wait until `output` holds all it printed."""
        if self.process.poll() is None:
            self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)
        self._reader.join(timeout=10)

    def _drain(self) -> None:
        """Read the output until the process closes it; then tell the API the function is gone."""
        stream = self.process.stdout
        assert stream is not None  # stdout=PIPE
        with stream:
            while chunk := stream.read(65536):
                with self._lock:
                    self._output += chunk
                    excess = len(self._output) - self.output_limit
                    if excess > 0:
                        del self._output[:excess]
                        self._dropped += excess
        status = self.process.wait()  # stop() ends the process, so this wait ends with it
        how = f"exit status {status}" if status >= 0 else f"signal: {signal.strsignal(-status) or -status}"
        message = f"Runtime exited with error: {how}"
        self._api.fail(FunctionError("Runtime.ExitError", message, self.output[-4000:]))
