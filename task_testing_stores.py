"""Test kit: a stand-in of the AWS Parameters and Secrets Lambda Extension, speaking its documented
HTTP protocol on loopback, for tests of tasks that use `$secret` or `$ssm` in Lambda.

The real extension runs only inside Lambda; this one answers as it does: the
token header checked (403 without it), `GetSecretValue`'s and `GetParameter`'s
JSON, and the store's own error (HTTP 400, `ResourceNotFoundException` or
`ParameterNotFound`) for what it does not hold. task_testing re-exports it.
"""

from __future__ import annotations

import base64
import contextlib
import json
import secrets
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from task_stores import forget_cached_values

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping

__all__ = ["ExtensionEnvironment", "secrets_extension"]

TOKEN_HEADER = "X-Aws-Parameters-Secrets-Token"
REGION = "us-east-1"
ACCOUNT = "123456789012"


class ExtensionEnvironment(dict[str, str]):
    """The environment variables a task needs to reach the stand-in; `requests` lists the paths
    (with their queries) it was asked for, in order, token or not."""

    def __init__(self, variables: Mapping[str, str]) -> None:
        super().__init__(variables)
        self.requests: list[str] = []


@contextlib.contextmanager
def secrets_extension(
    values: Mapping[str, str | bytes], *, status: int | None = None, delay: float = 0.0
) -> Iterator[ExtensionEnvironment]:
    """Serve the extension's two paths on 127.0.0.1 from `values`, keyed "secret:ID" or "ssm:NAME"
    (bytes: a binary secret), for the length of the block.

    Yields PARAMETERS_SECRETS_EXTENSION_HTTP_PORT and AWS_SESSION_TOKEN (the
    token it checks) for the task's environment. `status` answers every
    request that has the token with that HTTP status and the store's
    `InternalFailure` (an outage: 500, 503, 429); `delay` waits that many
    seconds before answering (a store that does not answer in time). The
    values this process keeps from a store are forgotten as the block starts
    and ends: each stand-in is a store of its own.
    """
    token = secrets.token_urlsafe(16)
    closing = threading.Event()
    server = _QuietServer(("127.0.0.1", 0), BaseHTTPRequestHandler)
    environment = ExtensionEnvironment(
        {"PARAMETERS_SECRETS_EXTENSION_HTTP_PORT": str(server.server_address[1]), "AWS_SESSION_TOKEN": token}
    )

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            environment.requests.append(self.path)
            if self.headers.get(TOKEN_HEADER) != token:
                self._answer(403, b"Bad Token")
                return
            if delay and closing.wait(delay):  # shut down while waiting: answer nothing
                return
            answer = _failure(status) if status is not None else _answer(self.path, values)
            self._answer(*answer)

        def _answer(self, code: int, body: bytes) -> None:
            self.send_response(code)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            """Say nothing: a test's output is its own."""

    server.RequestHandlerClass = Handler
    # A short poll, so that leaving the block does not wait out serve_forever's default half second.
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    forget_cached_values()
    try:
        yield environment
    finally:
        forget_cached_values()
        closing.set()
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: object, client_address: object) -> None:
        """A client that gave up waiting (a timeout test) is no error of the stand-in's."""


def _answer(path: str, values: Mapping[str, str | bytes]) -> tuple[int, bytes]:
    """The extension's answer to a GET of `path` that carries the token."""
    url = urlsplit(path)
    query = {name: found[0] for name, found in parse_qs(url.query).items()}
    if url.path == "/secretsmanager/get" and "secretId" in query:
        return _secret(query["secretId"], values)
    if url.path == "/systemsmanager/parameters/get" and "name" in query:
        return _parameter(query["name"], values)
    if url.path in ("/secretsmanager/get", "/systemsmanager/parameters/get"):
        return _error(400, "ValidationException", "a required query parameter is missing")
    return 404, b"Not found"


def _secret(secret_id: str, values: Mapping[str, str | bytes]) -> tuple[int, bytes]:
    """GetSecretValue's JSON, as the extension passes it on."""
    value = values.get(f"secret:{secret_id}")
    if value is None:
        return _error(400, "ResourceNotFoundException", "Secrets Manager can't find the specified secret.")
    name = secret_id.rpartition(":secret:")[2] or secret_id
    answer: dict[str, object] = {
        "ARN": f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:{name}",
        "Name": name,
        "VersionId": "00000000-0000-4000-8000-000000000001",
        "VersionStages": ["AWSCURRENT"],
        "CreatedDate": "2026-01-01T00:00:00.000Z",
    }
    if isinstance(value, bytes):
        answer["SecretBinary"] = base64.b64encode(value).decode()
    else:
        answer["SecretString"] = value
    return 200, json.dumps(answer).encode()


def _parameter(name: str, values: Mapping[str, str | bytes]) -> tuple[int, bytes]:
    """GetParameter's JSON (decrypted), as the extension passes it on."""
    value = values.get(f"ssm:{name}")
    if not isinstance(value, str):
        return _error(400, "ParameterNotFound", "")
    parameter = {
        "Name": name,
        "Type": "SecureString",
        "Value": value,
        "Version": 1,
        "LastModifiedDate": "2026-01-01T00:00:00.000Z",
        "ARN": f"arn:aws:ssm:{REGION}:{ACCOUNT}:parameter/{name.lstrip('/')}",
        "DataType": "text",
    }
    return 200, json.dumps({"Parameter": parameter, "ResultMetadata": {}}).encode()


def _failure(status: int) -> tuple[int, bytes]:
    return _error(status, "InternalFailure", "")


def _error(status: int, code: str, message: str) -> tuple[int, bytes]:
    """An error as the extension passes the store's on: its status, {"__type": CODE, "message": ...}."""
    body: dict[str, str] = {"__type": code}
    if message:
        body["message"] = message
    return status, json.dumps(body).encode()
