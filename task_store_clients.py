"""Asking AWS Secrets Manager and Parameter Store for one value: over the Parameters and Secrets
Lambda Extension's HTTP protocol (in Lambda, or the Secrets Manager Agent as a sidecar), else botocore.

task_stores decides what to ask and keeps the answers; a client asks once.
fetch() returns the secret's SecretString or the parameter's Value; raises
ValueError for a refusal (not found, not allowed, a bad request, a binary
secret: the store's error code, never a value) and task.StoreUnavailable
when the store does not answer (no connection, no answer in time, 429, 5xx).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
from abc import ABC, abstractmethod

from task import ConfigError, StoreUnavailable, shown
from task_fields import decimal

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping
    from typing import Any

__all__ = ["BotocoreClient", "Client", "ExtensionClient", "client_for"]

# The environment variables that choose and reach a store.
AWS_LAMBDA_FUNCTION_NAME = "AWS_LAMBDA_FUNCTION_NAME"
PARAMETERS_SECRETS_EXTENSION_HTTP_PORT = "PARAMETERS_SECRETS_EXTENSION_HTTP_PORT"
AWS_TOKEN = "AWS_TOKEN"
AWS_SESSION_TOKEN = "AWS_SESSION_TOKEN"

#: The extension's port unless PARAMETERS_SECRETS_EXTENSION_HTTP_PORT says otherwise.
DEFAULT_PORT = 2773
#: Where the extension listens: localhost, which the AWS Secrets Manager Agent binds as 127.0.0.1.
LOOPBACK = "127.0.0.1"
#: The header that carries the token to the extension (and to the agent).
TOKEN_HEADER = "X-Aws-Parameters-Secrets-Token"
#: More than a secret (64 KiB) or a parameter (8 KiB) and their JSON around them can need.
MAX_ANSWER_BYTES = 1024 * 1024
#: An answer's Content-Length header, in any case, as HTTP allows.
_CONTENT_LENGTH = re.compile(rb"\r\ncontent-length:[ \t]*(\d{1,9})[ \t]*(?:\r\n|$)", re.IGNORECASE)
#: The stores, as messages name them, by the reference kind each serves.
STORES = {"$secret": "AWS Secrets Manager", "$ssm": "AWS Systems Manager Parameter Store"}
#: The error codes that mean "ask again later" whatever the HTTP status says.
THROTTLED = frozenset(
    {"ThrottlingException", "Throttling", "TooManyRequestsException", "RequestLimitExceeded"}
)
#: Which refusals a message names in words; any other is named by its code.
REFUSALS = {
    "ResourceNotFoundException": "not found",
    "ParameterNotFound": "not found",
    "ParameterVersionNotFound": "not found",
    "AccessDeniedException": "not allowed",
    "DecryptionFailure": "cannot be decrypted",
}


class Client(ABC):
    """Asks one store for one reference's value; see the module's docstring for what fetch() raises."""

    def store_name(self, kind: str) -> str:
        """The store as messages name it."""
        return STORES[kind]

    @abstractmethod
    def fetch(self, kind: str, ident: str, timeout: float) -> str:
        """The text of a "$secret" or "$ssm" reference's id, asked within `timeout` seconds."""


def client_for(environ: Mapping[str, str]) -> Client:
    """The extension's HTTP client where it serves (Lambda, or the agent with AWS_TOKEN), else botocore."""
    in_lambda = bool(environ.get(AWS_LAMBDA_FUNCTION_NAME))
    agent = bool(environ.get(AWS_TOKEN)) and not in_lambda
    if in_lambda or agent or environ.get(PARAMETERS_SECRETS_EXTENSION_HTTP_PORT):
        return ExtensionClient(_port(environ), _token(environ), agent=agent)
    return BotocoreClient()


def _port(environ: Mapping[str, str]) -> int:
    text = environ.get(PARAMETERS_SECRETS_EXTENSION_HTTP_PORT, "")
    port = decimal(text, max_digits=5) if text else DEFAULT_PORT
    if not port or port > 65535:
        raise ConfigError(
            PARAMETERS_SECRETS_EXTENSION_HTTP_PORT, [f"expected a port from 1 to 65535, got '{shown(text)}'"]
        )
    return port


def _token(environ: Mapping[str, str]) -> str:
    """AWS_TOKEN (its value, or the file that file://PATH names), else AWS_SESSION_TOKEN."""
    token = environ.get(AWS_TOKEN, "")
    if token.startswith("file://"):
        path = token.removeprefix("file://")
        try:
            with open(path, encoding="utf-8") as token_file:
                token = token_file.read(64 * 1024).strip()
        except (OSError, ValueError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else type(exc).__name__
            raise ConfigError(
                AWS_TOKEN, [f"the file {shown(path, limit=200)} cannot be read: {reason}"]
            ) from None
    token = token or environ.get(AWS_SESSION_TOKEN, "")
    if not token or not token.isprintable():
        raise ConfigError(
            AWS_SESSION_TOKEN, [f"no token for the secrets extension: set {AWS_SESSION_TOKEN} or {AWS_TOKEN}"]
        )
    return token


class ExtensionClient(Client):
    """The AWS Parameters and Secrets Lambda Extension's HTTP protocol on localhost, standard library only.

    The open-source AWS Secrets Manager Agent speaks it too (agent=True), but serves no $ssm.
    """

    def __init__(self, port: int, token: str, *, agent: bool) -> None:
        self.port = port
        self.agent = agent
        self._token = token

    def store_name(self, kind: str) -> str:
        via = "the AWS Secrets Manager Agent" if self.agent else "the Parameters and Secrets extension"
        return f"{STORES[kind]} (through {via} at localhost:{self.port})"

    def fetch(self, kind: str, ident: str, timeout: float) -> str:
        from urllib.parse import quote

        if kind == "$secret":
            path = f"/secretsmanager/get?secretId={quote(ident, safe='')}"
        elif self.agent:
            raise ValueError(
                f"the AWS Secrets Manager Agent ({AWS_TOKEN} is set, {AWS_LAMBDA_FUNCTION_NAME} is not) "
                "serves no $ssm references, so none was asked"
            )
        else:
            path = f"/systemsmanager/parameters/get?name={quote(ident, safe='')}&withDecryption=true"
        status, body = self._get(path, timeout)
        if status != 200:
            code = _error_code(body)
            if status == 429 or status >= 500 or code in THROTTLED:
                raise StoreUnavailable(f"answered HTTP {status}")
            if status == 403 and not code:  # the extension's own refusal: the token
                raise ValueError(f"the extension at localhost:{self.port} refused the token (HTTP 403)")
            raise ValueError(_refusal(code, f"HTTP {status}"))
        try:
            answer = json.loads(body)
        except (ValueError, RecursionError):
            answer = None
        return _text_in(kind, answer)

    def _get(self, path: str, timeout: float) -> tuple[int, bytes]:
        """One GET to the extension: its status and body, all of it within `timeout` seconds.

        HTTP/1.0 over a socket of its own, not http.client: that one bounds each
        read, not the whole answer (an answer that trickles in would outlast
        TASK_SECRETS_TIMEOUT_MS), and importing it costs about 15 ms of a first
        call. A 1.0 request gets its body whole, ended by the connection's close
        or by the length its Content-Length header gives.
        """
        import socket
        import time

        request = (
            f"GET {path} HTTP/1.0\r\nHost: localhost:{self.port}\r\n{TOKEN_HEADER}: {self._token}\r\n\r\n"
        )
        deadline = time.monotonic() + timeout
        answer = bytearray()
        try:
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as connection:
                connection.settimeout(timeout)
                connection.connect((LOOPBACK, self.port))
                connection.sendall(request.encode("ascii"))
                while len(answer) <= MAX_ANSWER_BYTES:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        raise TimeoutError
                    connection.settimeout(remaining)
                    chunk = connection.recv(64 * 1024)
                    if not chunk:
                        break
                    answer += chunk
                    if _body_length(bytes(answer)) is not None:  # all of it: no need to wait for the close
                        break
        except TimeoutError:
            raise StoreUnavailable("no answer in time") from None
        except OSError as exc:
            raise StoreUnavailable(f"no answer ({exc.strerror or type(exc).__name__})") from None
        return _status_and_body(bytes(answer))


def _body_length(answer: bytes) -> int | None:
    """The body's length that the answer's Content-Length gives, once the answer holds all of it."""
    head, separator, body = answer.partition(b"\r\n\r\n")
    announced = _CONTENT_LENGTH.search(head) if separator else None
    if announced is None or len(body) < int(announced.group(1)):
        return None
    return int(announced.group(1))


def _status_and_body(answer: bytes) -> tuple[int, bytes]:
    """An HTTP/1.x answer's status and body; StoreUnavailable for one that is not HTTP, or too long."""
    head, separator, body = answer.partition(b"\r\n\r\n")
    status_line = head.split(b"\r\n", 1)[0].split(b" ", 2)
    if (
        not separator
        or len(status_line) < 2
        or not status_line[0].startswith(b"HTTP/1.")
        or not (status_line[1].isdigit() and len(status_line[1]) == 3)
        or len(body) > MAX_ANSWER_BYTES
        or b"\r\ntransfer-encoding:" in head.lower()  # a 1.0 request may not be answered in chunks
    ):
        raise StoreUnavailable("an answer that is not HTTP, or larger than any secret")
    length = _body_length(answer)
    return int(status_line[1]), body if length is None else body[:length]


def _text_in(kind: str, answer: object) -> str:
    """The secret's SecretString or the parameter's Value in the extension's answer (the store's JSON)."""
    if kind == "$secret" and isinstance(answer, dict):
        text = answer.get("SecretString")
        if text is None and "SecretBinary" in answer:
            raise ValueError("the secret is binary, not text")
    else:
        parameter = answer.get("Parameter") if isinstance(answer, dict) else None
        text = parameter.get("Value") if isinstance(parameter, dict) else None
    if not isinstance(text, str):
        raise ValueError("the extension's answer is not the store's JSON")
    return text


def _error_code(body: bytes) -> str:
    """The AWS error code an error's body names ({"__type": "...#ResourceNotFoundException"}), or ""."""
    try:
        answer = json.loads(body)
    except (ValueError, RecursionError):
        return ""
    code = answer.get("__type") if isinstance(answer, dict) else None
    return code.rpartition("#")[2] if isinstance(code, str) else ""


def _refusal(code: str, status: str) -> str:
    """A refusal in words, with the code and status the store gave, never its message."""
    code = shown(code)
    verdict = REFUSALS.get(code, "refused")
    return f"{verdict} ({status}, {code})" if code else f"{verdict} ({status})"


class BotocoreClient(Client):
    """botocore's secretsmanager and ssm clients, configured as botocore always is (the process's
    AWS variables, AWS_ENDPOINT_URL included); each fetch is one attempt within `timeout`."""

    def __init__(self) -> None:
        try:
            import botocore.session  # type: ignore[import-untyped]
        except ImportError:
            raise ValueError(
                "reading it outside AWS Lambda needs botocore: install the extra aws "
                "(pip install 'task-runtimes[aws]')"
            ) from None
        # A session per run, not per process: a session keeps the credentials it first found.
        with _store_answers_unlogged():  # it logs at DEBUG from the start
            self._session: Any = botocore.session.get_session()

    def fetch(self, kind: str, ident: str, timeout: float) -> str:
        from botocore.config import Config  # type: ignore[import-untyped]
        from botocore.exceptions import (  # type: ignore[import-untyped]
            BotoCoreError,
            ClientError,
            NoCredentialsError,
            NoRegionError,
            ParamValidationError,
            PartialCredentialsError,
        )

        config = Config(connect_timeout=timeout, read_timeout=timeout, retries={"total_max_attempts": 1})
        try:
            with _store_answers_unlogged():
                # botocore reads AWS_DEFAULT_REGION; Lambda, ECS and EKS set AWS_REGION, as newer SDKs read.
                region = self._session.get_config_variable("region") or os.environ.get("AWS_REGION") or None
                if kind == "$secret":
                    client = self._session.create_client("secretsmanager", region, config=config)
                    answer = client.get_secret_value(SecretId=ident)
                    if "SecretString" not in answer:
                        raise ValueError("the secret is binary, not text")
                    return str(answer["SecretString"])
                client = self._session.create_client("ssm", region, config=config)
                return str(client.get_parameter(Name=ident, WithDecryption=True)["Parameter"]["Value"])
        except NoRegionError:
            raise ValueError("no AWS region: set AWS_REGION or AWS_DEFAULT_REGION") from None
        except (NoCredentialsError, PartialCredentialsError):
            raise ValueError("no AWS credentials found (botocore looked where it always does)") from None
        except ParamValidationError:
            raise ValueError(_refusal("ParamValidationError", "bad request")) from None
        except ClientError as exc:
            code = str(exc.response.get("Error", {}).get("Code", ""))
            status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0))
            if status == 429 or status >= 500 or code in THROTTLED:
                raise StoreUnavailable(f"answered HTTP {status} ({shown(code)})") from None
            raise ValueError(_refusal(code, f"HTTP {status}")) from None
        except BotoCoreError as exc:  # no connection, no answer in time, a broken answer
            raise StoreUnavailable(f"no answer ({type(exc).__name__})") from None


#: The loggers that would show a store's answer: botocore logs whole response bodies at DEBUG.
_REVEALING_LOGGERS = ("botocore", "urllib3")


@contextlib.contextmanager
def _store_answers_unlogged() -> Iterator[None]:
    """botocore's and urllib3's DEBUG records are dropped for the length of the block, whatever the
    application's level (TASK_LOG_LEVEL=DEBUG on the command line included); their levels after are
    as they were."""
    loggers = [logging.getLogger(name) for name in _REVEALING_LOGGERS]
    levels = [each.level for each in loggers]
    for each in loggers:
        if each.getEffectiveLevel() < logging.INFO:
            each.setLevel(logging.INFO)
    try:
        yield
    finally:
        for each, level in zip(loggers, levels, strict=True):
            each.setLevel(level)
