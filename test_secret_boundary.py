"""The secret boundary: whatever the business logic raises, and however it writes the secret, no form of
it reaches a result, a record, a message, a traceback or standard output and error; and whatever it
raises, the warm Lambda process, the queue batch and the command line go on as the contract says."""

from __future__ import annotations

import builtins
import dataclasses
import functools
import io
import json
import logging
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
import traceback
import urllib.error
import urllib.parse
from collections.abc import Callable, Iterator, Mapping
from contextlib import redirect_stderr, redirect_stdout
from email.message import Message
from pathlib import Path
from typing import Any, ClassVar

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import PROJECT_DIR
from task import LambdaTask, LocalTask, Parameters, Secret, runnable
from task_cli import run_command_line
from task_lambda import handle_event
from task_logging import JsonLogFormatter, TextLogFormatter
from task_testing import FakeLambdaContext, FunctionProcess, RuntimeAPI, dynamodb_event, kinesis_event
from test_lambda import needs_runtime_client
from test_triggers import decoded, sqs_batch, with_text

SECRET = "s3cr\u00e9t 'pa\"ss' /+&="  # quotes, a non-ASCII letter and URL-special characters
GROUPS = hasattr(builtins, "BaseExceptionGroup")
needs_groups = pytest.mark.skipif(not GROUPS, reason="exception groups are new in Python 3.11")


# --------------------------------------------------------------------------
# Exceptions of every shape, each with the secret in it somewhere


@dataclasses.dataclass(frozen=True)
class FrozenDataclassError(Exception):
    """A frozen dataclass: none of its attributes can be set."""

    detail: str

    def __str__(self) -> str:
        return f"refused: {self.detail}"


class ReadOnlyArgsError(Exception):
    """An exception whose args is a read-only property."""

    def __init__(self, text: str) -> None:
        self.text = text

    @property
    def args(self) -> tuple[str, ...]:  # type: ignore[override]
        return (self.text,)

    def __str__(self) -> str:
        return f"cannot log in with {self.text}"


class FinalError(Exception):
    """A class that refuses subclasses."""

    def __init_subclass__(cls, **kwargs: object) -> None:
        raise TypeError("final")

    def __str__(self) -> str:
        return f"final answer {self.args[0]}"


class StrRaisesError(Exception):
    def __str__(self) -> str:
        raise ValueError(f"no message for {self.args[0]}")


class StrNotTextError(Exception):
    def __str__(self) -> Any:
        return self.args  # not a str: str() raises TypeError


def _chained(token: str) -> BaseException:
    try:
        try:
            raise OSError(13, f"refused {token}", f"/tmp/{token}")
        except OSError as context:
            raise ConnectionError(f"context {token}") from context
    except ConnectionError as cause:
        error = RuntimeError(f"cannot connect with {token}")
        error.__cause__ = cause
        return error


def _with_notes(notes: Callable[[str], object]) -> Callable[[str], BaseException]:
    def make(token: str) -> BaseException:
        error = ValueError("bad")
        error.__notes__ = notes(token)  # type: ignore[attr-defined]
        return error

    return make


class ProxyError(Exception):
    """An API client's error, which reads its attributes from the response it keeps."""

    def __init__(self, response: dict[str, object]) -> None:
        super().__init__(response)
        self.response = response

    def __getattr__(self, name: str) -> object:
        try:
            return self.response[name]
        except KeyError:
            raise AttributeError(name) from None

    def __str__(self) -> str:
        return f"API error {self.status}: {self.detail}"


class ArgsRaiseError(Exception):
    """An exception whose args cannot even be read: reading them ends a generator."""

    @property
    def args(self) -> Any:  # type: ignore[override]
        raise GeneratorExit

    def __str__(self) -> str:
        raise SystemExit("no message")


def _http_error(token: str) -> BaseException:
    return urllib.error.HTTPError("https://api.example.com/", 401, f"token {token} rejected", Message(), None)


def _long_chain(token: str) -> BaseException:
    error = RuntimeError(f"connect {token}")
    for attempt in range(600):
        retry = RuntimeError(f"retry {attempt}")
        retry.__cause__ = error
        error = retry
    return error


def _group_showing_state(token: str) -> BaseException:
    group: Any = getattr(builtins, "ExceptionGroup")  # noqa: B009

    class SyncError(group):  # type: ignore[misc]
        def __str__(self) -> str:
            return f"{self.message} at {self.where}"

    error = SyncError("sync failed", [ValueError("one")])
    error.where = token
    outer: BaseException = error
    return outer


def _group(token: str) -> BaseException:
    base_group: Any = getattr(builtins, "BaseExceptionGroup")  # noqa: B009 (not a name mypy knows for 3.10)
    group: Any = getattr(builtins, "ExceptionGroup")  # noqa: B009
    inner = group(f"inner {token}", [ValueError(token), FrozenDataclassError(token)])
    outer: BaseException = base_group(f"outer {token}", [KeyboardInterrupt(token), inner])
    return outer


#: Exceptions the business logic may raise: name -> how it raises one with the secret in it.
SHAPES: dict[str, Callable[[str], BaseException]] = {
    "plain": lambda token: RuntimeError(f"login {token} refused"),
    "import": lambda token: ImportError(f"no module named {token}", name=token),
    "module-not-found": lambda token: ModuleNotFoundError(f"no module named {token!r}", name=token),
    "unicode-decode": lambda token: UnicodeDecodeError("utf-8", b"\xff", 0, 1, f"bad byte near {token}"),
    "frozen-dataclass": FrozenDataclassError,
    "read-only-args": ReadOnlyArgsError,
    "refuses-subclasses": FinalError,
    "str-raises": StrRaisesError,
    "str-not-text": StrNotTextError,
    "chained": _chained,
    "notes-list": _with_notes(lambda token: [f"while logging in as {token}"]),
    "notes-tuple": _with_notes(lambda token: (f"while logging in as {token}",)),
    "url-encoded": lambda token: RuntimeError(f"postgresql://u:{urllib.parse.quote(token, safe='')}@h/db"),
    "url-path": lambda token: RuntimeError(f"https://h/{urllib.parse.quote(token)}"),
    "form-encoded": lambda token: RuntimeError(f"password={urllib.parse.quote_plus(token)}"),
    "repr": lambda token: RuntimeError(f"token was {token!r}"),
    "ascii": lambda token: RuntimeError(f"token was {token!a}"),
    "bytes": lambda token: RuntimeError(f"sent {token.encode()!r}"),
    "json": lambda token: RuntimeError(json.dumps({"password": token})),
    "json-unicode": lambda token: RuntimeError(json.dumps({"password": token}, ensure_ascii=False)),
    "sys-exit-text": lambda token: SystemExit(f"giving up on {token}"),
    "sys-exit-2": lambda token: SystemExit(2),
    "keyboard-interrupt": lambda token: KeyboardInterrupt(f"stop {token}"),
    "generator-exit": GeneratorExit,
}
SHAPES |= {
    "attribute-proxy": lambda token: ProxyError({"status": 401, "detail": f"token {token} expired"}),
    "http-error": _http_error,
    "args-raise": ArgsRaiseError,
    "chain-of-600": _long_chain,
}
if GROUPS:
    SHAPES |= {"nested-groups": _group, "group-showing-state": _group_showing_state}
#: What is not an Exception: Python would end a process with it.
BASE_SHAPES = ["sys-exit-text", "sys-exit-2", "keyboard-interrupt", "generator-exit"] + (
    ["nested-groups"] if GROUPS else []
)


class FailingParams(Parameters):
    shape: str
    token: Secret


class Failing:
    """Raises the exception `shape` names, with its secret token in it; "none" succeeds."""

    name: ClassVar[str] = "failing"
    parameters: ClassVar[type[Parameters]] = FailingParams
    ran: ClassVar[list[str]] = []

    def execute(self, params: FailingParams) -> dict[str, object]:
        self.ran.append(params.shape)
        if params.shape == "none":
            return {"done": True}
        raise SHAPES[params.shape](params.token.reveal())


def handler(event: object, context: object) -> object:
    """The Lambda entry point of Failing, for the real runtime client."""
    return handle_event(runnable(Failing, LambdaTask), event, context)


def forms_of(secret: str) -> set[str]:
    """The secret as the contract says it may be written (not as the library computes it)."""
    quote = urllib.parse.quote
    return {
        secret,
        repr(secret)[1:-1],
        ascii(secret)[1:-1],
        json.dumps(secret)[1:-1],
        json.dumps(secret, ensure_ascii=False)[1:-1],
        quote(secret),
        quote(secret, safe=""),
        urllib.parse.quote_plus(secret),
        repr(secret.encode())[2:-1],
    }


def assert_shows_no_secret(text: str, secret: str = SECRET) -> None:
    shown = [form for form in forms_of(secret) if form in text]
    assert not shown, f"a written form of the secret shows: {shown}"


def raised_by(call: Callable[[], object]) -> BaseException:
    try:
        call()
    except BaseException as error:
        return error
    raise AssertionError("nothing was raised")


def everything_about(error: BaseException) -> str:
    """All a log, a terminal or an invoker could be shown of an exception."""
    return "".join(traceback.format_exception(type(error), error, error.__traceback__)) + repr(error)


@pytest.fixture
def records() -> Iterator[list[logging.LogRecord]]:
    """Every record under logger "task", as it is formatted both ways."""
    collected: list[logging.LogRecord] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            collected.append(record)

    handler, library = Collect(), logging.getLogger("task")
    library.addHandler(handler)
    level = library.level
    library.setLevel(logging.DEBUG)
    try:
        yield collected
    finally:
        library.setLevel(level)
        library.removeHandler(handler)


def formatted(records: list[logging.LogRecord]) -> str:
    return "\n".join(f.format(r) for r in records for f in (JsonLogFormatter(), TextLogFormatter()))


def sqs_event(*params: Mapping[str, object]) -> dict[str, Any]:
    return sqs_batch(*(json.dumps(p) for p in params))


def http_event(params: Mapping[str, object]) -> dict[str, Any]:
    return with_text("http_api", json.dumps(params))


#: The stream triggers: each builds an event of one record per parameters object.
STREAMS: dict[str, Callable[..., dict[str, Any]]] = {"kinesis": kinesis_event, "dynamodb": dynamodb_event}


def first_failed(event: dict[str, Any], position: int) -> dict[str, object]:
    """A stream's answer: the record at `position`, from which Lambda delivers the batch again."""
    record = event["Records"][position]
    number = (
        record["kinesis"]["sequenceNumber"] if "kinesis" in record else record["dynamodb"]["SequenceNumber"]
    )
    return {"batchItemFailures": [{"itemIdentifier": number}]}


# --------------------------------------------------------------------------
# In this process: direct invokes, queue records and requests


@pytest.mark.parametrize("shape", SHAPES)
def test_a_direct_invoke_raises_an_exception_with_the_original_type_name_and_no_secret(
    shape: str, records: list[logging.LogRecord]
) -> None:
    failure = raised_by(lambda: handler({"shape": shape, "token": SECRET}, FakeLambdaContext()))
    assert isinstance(failure, Exception)  # what the runtime client reports, not what ends its process
    assert type(failure).__name__ == type(SHAPES[shape]("x")).__name__
    assert_shows_no_secret(everything_about(failure) + formatted(records))
    (record,) = records
    assert record.outcome == "failed"  # type: ignore[attr-defined]


@pytest.mark.parametrize("shape", SHAPES)
def test_run_raises_the_failure_with_its_type_name_and_traceback_and_without_the_secret(
    shape: str, tmp_path: Path
) -> None:
    failure = raised_by(runnable(Failing, LocalTask)(write_params(tmp_path, shape)).run)
    assert type(failure).__name__ == type(SHAPES[shape]("x")).__name__
    assert traceback.extract_tb(failure.__traceback__)[-1].name == "execute"  # where the business raised it
    exit_code = repr(getattr(failure, "code", None))  # what Python prints when a SystemExit ends it
    assert_shows_no_secret(everything_about(failure) + exit_code)


@pytest.mark.parametrize("shape", SHAPES)
def test_an_sqs_batch_lists_the_failed_record_and_goes_on_with_the_next(
    shape: str, records: list[logging.LogRecord]
) -> None:
    Failing.ran.clear()
    event = sqs_event({"shape": shape, "token": SECRET}, {"shape": "none", "token": SECRET})
    answer = handler(event, FakeLambdaContext())
    assert answer == {"batchItemFailures": [{"itemIdentifier": "m1"}]}
    assert Failing.ran == [shape, "none"]
    assert [record.outcome for record in records] == ["failed", "ok"]  # type: ignore[attr-defined]
    assert_shows_no_secret(json.dumps(answer) + formatted(records))


@pytest.mark.parametrize("stream", STREAMS)
@pytest.mark.parametrize("shape", SHAPES)
def test_a_stream_batch_lists_the_failed_record_and_runs_nothing_after_it(
    shape: str, stream: str, records: list[logging.LogRecord]
) -> None:
    Failing.ran.clear()
    good = {"shape": "none", "token": SECRET}
    event = STREAMS[stream](good, {"shape": shape, "token": SECRET}, good)
    answer = handler(event, FakeLambdaContext())
    assert answer == first_failed(event, 1)
    assert Failing.ran == ["none", shape]
    assert [record.outcome for record in records] == ["ok", "failed"]  # type: ignore[attr-defined]
    assert_shows_no_secret(json.dumps(answer) + formatted(records))


@pytest.mark.parametrize("shape", SHAPES)
def test_an_http_request_gets_a_500_that_says_nothing_of_the_exception(
    shape: str, records: list[logging.LogRecord]
) -> None:
    answer = handler(http_event({"shape": shape, "token": SECRET}), FakeLambdaContext())
    assert decoded(answer)["statusCode"] == 500
    assert_shows_no_secret(json.dumps(answer) + formatted(records))


#: "§" keeps a secret out of the words of a traceback; no lone surrogate, which no JSON source delivers.
ANY_SECRET = st.text(st.characters(exclude_categories=["Cs"]), min_size=3, max_size=12).map("\u00a7".__add__)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    secret=ANY_SECRET,
    shape=st.sampled_from(sorted(SHAPES)),
    trigger=st.sampled_from(["direct", "sqs", "http", *STREAMS]),
)
def test_no_written_form_of_any_secret_escapes_any_shape_of_failure_in_any_trigger(
    secret: str, shape: str, trigger: str, records: list[logging.LogRecord]
) -> None:
    records.clear()
    params: dict[str, object] = {"shape": shape, "token": secret}
    events = {"direct": params, "sqs": sqs_event(params), "http": http_event(params)}
    event = STREAMS[trigger](params) if trigger in STREAMS else events[trigger]
    try:
        shown = json.dumps(handler(event, FakeLambdaContext()))
    except Exception as error:
        shown = everything_about(error)
    assert_shows_no_secret(shown + formatted(records), secret)


@settings(max_examples=40, deadline=None)
@given(secret=ANY_SECRET, shape=st.sampled_from(sorted(SHAPES)), log_format=st.sampled_from(["json", "text"]))
def test_no_written_form_of_any_secret_escapes_the_command_line(
    secret: str, shape: str, log_format: str
) -> None:
    out, err = io.StringIO(), io.StringIO()
    with tempfile.TemporaryDirectory() as directory, redirect_stdout(out), redirect_stderr(err):
        path = Path(directory, "params.json")
        path.write_text(json.dumps({"shape": shape, "token": secret}))
        status = run_command_line(Failing, ["--config", str(path)], environ={"TASK_LOG_FORMAT": log_format})
    assert status == 1
    assert_shows_no_secret(out.getvalue() + err.getvalue(), secret)


@pytest.mark.parametrize(
    ("secret", "message", "shown"),
    [
        pytest.param("nect", "cannot connect", "cannot con***", id="four-characters-masked"),
        pytest.param("nec", "cannot connect", "cannot connect", id="three-characters-left-alone"),
    ],
)
def test_secrets_shorter_than_four_characters_are_not_searched_for(
    secret: str, message: str, shown: str
) -> None:
    class Connecting(Failing):
        def execute(self, params: FailingParams) -> dict[str, object]:
            raise RuntimeError(message)

    with pytest.raises(RuntimeError) as caught:
        runnable(Connecting, LambdaTask)({"shape": "plain", "token": secret}).run()
    assert str(caught.value) == shown


# --------------------------------------------------------------------------
# Under the real runtime client: the warm process goes on


@pytest.fixture(scope="module", params=["JSON", "Text"])
def failing_function(request: pytest.FixtureRequest) -> Iterator[tuple[RuntimeAPI, FunctionProcess]]:
    """A warm function, logging in each of Lambda's formats (Text prints tracebacks)."""
    log_settings = {"AWS_LAMBDA_LOG_FORMAT": request.param, "AWS_LAMBDA_LOG_LEVEL": "INFO"}
    environment = {"PATH": os.environ["PATH"], **log_settings}
    with (
        RuntimeAPI() as api,
        FunctionProcess(api, environment, "test_secret_boundary.handler", root=PROJECT_DIR) as function,
    ):
        yield api, function


def assert_still_serving(api: RuntimeAPI, function: FunctionProcess) -> None:
    outcome = api.invoke({"shape": "none", "token": SECRET})
    assert (outcome.kind, outcome.payload) == ("response", {"done": True})
    assert function.process.poll() is None, "the function process died"


#: A sample for the real runtime client: every shape Python would end a process with, and those
#: hardest on a replacement.
RUNTIME_CLIENT_SHAPES = [*BASE_SHAPES, "str-raises", "refuses-subclasses", "attribute-proxy", "chain-of-600"]


@needs_runtime_client
@pytest.mark.parametrize("shape", RUNTIME_CLIENT_SHAPES)
@pytest.mark.parametrize("trigger", ["direct", "sqs", "http", "kinesis"])
def test_under_the_runtime_client_any_failure_fails_its_unit_and_the_process_goes_on(
    failing_function: tuple[RuntimeAPI, FunctionProcess], shape: str, trigger: str
) -> None:
    api, function = failing_function
    params = {"shape": shape, "token": SECRET}
    if trigger == "direct":
        outcome = api.invoke(params)
        assert outcome.kind == "error"
        assert isinstance(outcome.payload, dict)
        assert outcome.payload["errorType"] == type(SHAPES[shape]("x")).__name__
    elif trigger == "sqs":
        outcome = api.invoke(sqs_event(params, {"shape": "none", "token": SECRET}))
        assert (outcome.kind, outcome.payload) == (
            "response",
            {"batchItemFailures": [{"itemIdentifier": "m1"}]},
        )
    elif trigger == "http":
        outcome = api.invoke(http_event(params))
        assert outcome.kind == "response"
        assert decoded(outcome.payload)["statusCode"] == 500
    else:
        event = kinesis_event(params, {"shape": "none", "token": SECRET})
        outcome = api.invoke(event)
        assert (outcome.kind, outcome.payload) == ("response", first_failed(event, 0))
    assert_still_serving(api, function)
    assert_shows_no_secret(json.dumps(outcome.payload) + function.output)


# --------------------------------------------------------------------------
# The command line


def write_params(tmp_path: Path, shape: str) -> str:
    path = tmp_path / "params.json"
    path.write_text(json.dumps({"shape": shape, "token": SECRET}))
    return str(path)


@pytest.mark.parametrize("log_format", ["json", "text"])
@pytest.mark.parametrize("shape", SHAPES)
def test_on_the_command_line_any_failure_of_the_business_logic_is_exit_1_with_one_scrubbed_record(
    shape: str, log_format: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status = run_command_line(
        Failing, ["--config", write_params(tmp_path, shape)], environ={"TASK_LOG_FORMAT": log_format}
    )
    assert status == 1  # a task's own sys.exit(2) must not read as a configuration error
    captured = capsys.readouterr()
    assert captured.out == ""
    assert_shows_no_secret(captured.out + captured.err)
    if log_format == "json":
        (line,) = captured.err.splitlines()
        assert json.loads(line)["outcome"] == "failed"


def test_a_text_log_escapes_the_traceback_and_quotes_a_value_that_could_forge_a_field(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    forged_id = "m1, outcome=ok, request_id=forged"

    class Drawing(Failing):
        def execute(self, params: FailingParams) -> dict[str, object]:
            logging.getLogger("drawing").warning(
                "title %s", "\x1b]0;owned\x07"
            )  # its own record's first line
            raise RuntimeError("\x1b[2K\r\x07failing: done")

    event = sqs_batch(json.dumps({"shape": "x", "token": SECRET}))
    event["Records"][0]["messageId"] = forged_id
    path = tmp_path / "event.json"
    path.write_text(json.dumps(event))
    assert run_command_line(Drawing, ["--event", str(path)], environ={"TASK_LOG_FORMAT": "text"}) == 1
    err = capsys.readouterr().err
    assert not any(char in err for char in "\x1b\x07\r")
    assert "\\x1b[2K\\r\\x07failing: done" in err
    assert "title \\x1b]0;owned\\x07" in err
    assert f'message_id="{forged_id}"' in err
    unquoted = re.sub(r'"(?:[^"\\]|\\.)*"', "", err)
    assert "request_id=forged" not in unquoted
    assert "outcome=ok" not in unquoted


STOPPABLE = """\
import sys, time
sys.path.insert(0, {project!r})
from task import Parameters
from task_cli import run_command_line

class P(Parameters):
    marker: str

class Stoppable:
    name = "stoppable"
    parameters = P

    def execute(self, params):
        open(params.marker, "w").write("started")
        try:
            time.sleep(30)
        finally:
            open(params.marker, "a").write(", cleaned up")
        return {{}}

sys.exit(run_command_line(Stoppable))
"""


@pytest.mark.parametrize("log_format", ["json", "text"])
def test_sigint_stops_the_run_after_its_finally_blocks_with_exit_130_and_one_line(
    log_format: str, tmp_path: Path
) -> None:
    marker, script, config = tmp_path / "marker", tmp_path / "stoppable.py", tmp_path / "params.json"
    script.write_text(STOPPABLE.format(project=str(PROJECT_DIR)))
    config.write_text(json.dumps({"marker": str(marker)}))
    environment = {"PATH": os.environ["PATH"], "TASK_LOG_FORMAT": log_format}
    with subprocess.Popen(
        [sys.executable, str(script), "--config", str(config)],
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    ) as process:
        deadline = time.monotonic() + 20
        while not marker.exists() and time.monotonic() < deadline:
            time.sleep(0.02)
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=10)
    assert process.returncode == 130
    assert marker.read_text() == "started, cleaned up"
    assert out == ""
    (line,) = err.splitlines()
    assert "stoppable: failed: stopped by SIGINT" in line
    assert "Traceback" not in err
    if log_format == "json":
        assert json.loads(line)["errorType"] == "Interrupted"


def closing_descriptor_1() -> None:
    os.close(1)


@pytest.mark.parametrize(
    ("stdout", "reason"),
    [
        pytest.param("/dev/full", "No space left on device", id="full"),
        pytest.param("closed-pipe", "the reader has gone (broken pipe)", id="closed-pipe"),
        pytest.param("closed", "standard output is closed", id="closed"),
    ],
)
@pytest.mark.parametrize("options", [[], ["--check"]], ids=["result", "report"])
def test_output_that_cannot_be_written_is_exit_1_with_one_line_and_no_traceback(
    stdout: str, reason: str, options: list[str]
) -> None:
    command = [sys.executable, "assignment.py", "--config", "fixtures/widget.json", *options]
    environment = {"PATH": os.environ["PATH"], "TASK_LOG_FORMAT": "json"}
    run = functools.partial(
        subprocess.run,
        command,
        cwd=PROJECT_DIR,
        env=environment,
        stderr=subprocess.PIPE,
        text=True,
        timeout=60,
    )
    if stdout == "closed-pipe":
        reader, writer = os.pipe()
        os.close(reader)
        with os.fdopen(writer, "wb") as pipe:
            done = run(stdout=pipe)
    elif stdout == "closed":
        done = run(preexec_fn=closing_descriptor_1)
    else:
        with open(stdout, "wb") as full:
            done = run(stdout=full)
    assert done.returncode == 1, done.stderr
    lines = [json.loads(line) for line in done.stderr.splitlines()]
    assert "Traceback" not in done.stderr
    assert any(reason in line["message"] and "could not be written" in line["message"] for line in lines)
    assert lines[-1]["level"] == "ERROR"


# --------------------------------------------------------------------------
# A result JSON cannot send


class Explosive(dict[str, object]):
    """A mapping whose encoding raises what no JSON encoder expects."""

    def items(self) -> Any:
        raise LookupError("no items today")


class Interrupting(dict[str, object]):
    """A mapping whose encoding raises what is no Exception at all."""

    def items(self) -> Any:
        raise KeyboardInterrupt


@pytest.mark.parametrize(
    "result",
    [
        pytest.param({1: "a", "1": "b"}, id="keys-that-collide"),
        pytest.param({"nested": {True: 1, "true": 2}}, id="nested-keys-that-collide"),
        pytest.param(Explosive(a=1), id="encoding-raises"),
        pytest.param(Interrupting(a=1), id="encoding-raises-a-base-exception"),
        pytest.param({"x": float("nan")}, id="nan"),
    ],
)
def test_a_result_json_cannot_send_is_a_500_after_an_error_record_and_exit_1_with_event(
    result: dict[object, object], records: list[logging.LogRecord], tmp_path: Path
) -> None:
    class Returning(Failing):
        def execute(self, params: FailingParams) -> dict[str, object]:
            return result  # type: ignore[return-value]

    lambda_class = runnable(Returning, LambdaTask)
    answer = handle_event(lambda_class, http_event({"shape": "x", "token": SECRET}), FakeLambdaContext())
    assert isinstance(answer, dict)
    assert answer["statusCode"] == 500
    outcomes = [(r.name, r.levelname, r.outcome) for r in records]  # type: ignore[attr-defined]
    assert outcomes == [("task", "INFO", "ok"), ("task.lambda", "ERROR", "failed")]
    records.clear()
    event_file = tmp_path / "event.json"  # a direct invoke with --event: the same two records, exit 1
    event_file.write_text(json.dumps({"shape": "x", "token": SECRET}))
    assert run_command_line(Returning, ["--event", str(event_file)], environ={}) == 1
    assert [(r.name, r.levelname, r.outcome) for r in records] == outcomes  # type: ignore[attr-defined]
