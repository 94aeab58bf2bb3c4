"""Hostile input through every source: generated values never break the library's promises.

Whatever a source holds, run() returns a result or raises ConfigError itself; no
secret reaches a result, a message or a log record; a message is printable,
lists at most 20 problems and stays short; the TinyDB file is only ever read.
"""

from __future__ import annotations

import base64
import json
import logging
import math
import os
import socket
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from tempfile import TemporaryDirectory
from unittest import mock

import pytest
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st

from assignment import BatchWidget, EnvWidget, LambdaWidget, LocalWidget, handler
from conftest import SECRET, widget_params, write_tinydb
from task import ConfigError, Secret
from task_testing import FakeLambdaContext

# --------------------------------------------------------------------------
# The environment every example runs in

#: Variables that hold the secret: one TASK_ENV_REFS lists, one it does not.
SECRET_VARIABLES = ("DB_PASSWORD", "OTHER_SECRET")
ENVIRON: dict[str, str] = {
    "DB_PASSWORD": SECRET,
    "OTHER_SECRET": SECRET,
    "DB_HOST": "db.internal",
    "DB_PORT": "6543",
    "EMPTY": "",
    "SURROGATE": "x\udc80y",  # os.environ holds undecodable bytes this way
    "TASK_ENV_REFS": "DB_PASSWORD, DB_HOST,DB_PORT,EMPTY,MISSING,SURROGATE,",
}
VARIABLE_NAMES = (*ENVIRON, "MISSING", "TASK_ENV_REFS", "")

#: Parts of the secret that nothing may show, whole or cut short.
SECRET_PARTS = (SECRET, SECRET[:8], SECRET[5:13], SECRET[11:19])
#: Starts every generated value that a message must never repeat (keys and variable names it may).
MARK = "V4LUE-"
#: A message names its source and lists 20 problems, each cut to 300 characters.
MESSAGE_LIMIT = 7_000
FIELDS = ("host", "port", "database", "user", "password")
PLAIN_FIELDS = ("host", "port", "database", "user")

#: Examples per test: 40 keeps the file under 20 s; HOSTILE_EXAMPLES=5000 makes a soak run.
PERFORMANCE = settings(
    max_examples=int(os.environ.get("HOSTILE_EXAMPLES", "40")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


# --------------------------------------------------------------------------
# JSON as someone wrote it: objects keep duplicated keys, numbers keep their text


@dataclass(frozen=True)
class Obj:
    """A JSON object as written: its pairs in order, a key possibly more than once."""

    pairs: tuple[tuple[str, Node], ...]


class Raw:
    """JSON text written as is (a 5,000-digit number, NaN, deep nesting), and what Python holds for it.

    Not a dataclass: Hypothesis would print a 100,000-deep value field by field.
    """

    __slots__ = ("text", "value")

    def __init__(self, text: str, value: object) -> None:
        self.text = text
        self.value = value

    def __repr__(self) -> str:
        return f"Raw({self.text[:24]!r}{'...' if len(self.text) > 24 else ''})"


#: A JSON value as written.
Node = None | bool | int | float | str | list["Node"] | Obj | Raw


def render(node: Node, *, ensure_ascii: bool = True) -> str:
    """The JSON text of a node, duplicated keys and raw numbers included."""
    if isinstance(node, Raw):
        return node.text
    if isinstance(node, Obj):
        members = (
            f"{json.dumps(key, ensure_ascii=ensure_ascii)}: {render(value, ensure_ascii=ensure_ascii)}"
            for key, value in node.pairs
        )
        return "{" + ", ".join(members) + "}"
    if isinstance(node, list):
        return "[" + ", ".join(render(item, ensure_ascii=ensure_ascii) for item in node) + "]"
    return json.dumps(node, ensure_ascii=ensure_ascii)


def to_python(node: Node) -> object:
    """What a node is once decoded by a lenient reader: the last of duplicated keys wins."""
    if isinstance(node, Raw):
        return node.value
    if isinstance(node, Obj):
        return {key: to_python(value) for key, value in node.pairs}
    if isinstance(node, list):
        return [to_python(item) for item in node]
    return node


def has_duplicate_keys(node: Node) -> bool:
    if isinstance(node, Obj):
        keys = [key for key, _ in node.pairs]
        return len(set(keys)) < len(keys) or any(has_duplicate_keys(value) for _, value in node.pairs)
    if isinstance(node, list):
        return any(has_duplicate_keys(item) for item in node)
    return False


def nested_lists(depth: int) -> object:
    """[[[...]]] `depth` deep, built without recursion."""
    value: list[object] = []
    for _ in range(depth - 1):
        value = [value]
    return value


def nested_objects(depth: int) -> object:
    """{"a": {"a": ... 0}} `depth` deep, built without recursion."""
    value: object = 0
    for _ in range(depth):
        value = {"a": value}
    return value


def ref(variable: Node) -> Obj:
    """A reference to an environment variable, {"$env": variable}."""
    return Obj((("$env", variable),))


def is_utf8(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def as_text_bytes(text: str) -> bytes:
    """UTF-8, except that lone surrogates become the bytes no UTF-8 decoder accepts."""
    return text.encode("utf-8", "surrogatepass")


# --------------------------------------------------------------------------
# Strategies

NASTY_CHARACTERS = (
    "\x00", "\n", "\r", "\t", "\x0b", "\x1b", "\x7f", "\x85", "\xa0", "\u2028", "\u2029",
    "\u202e", "\ufeff", "\ud800", "\udbff", "\udc80", "\udfff", '"', "'", "\\", "$", ";", "%",
)  # fmt: skip

#: Any code point, lone surrogates included, and more often the ones that break things.
hostile_characters = st.one_of(st.characters(exclude_categories=()), st.sampled_from(NASTY_CHARACTERS))
hostile_text = st.text(hostile_characters, max_size=30)
marked_text = hostile_text.map(lambda text: MARK + text)
#: Text a string parameter accepts: any code point but a lone surrogate.
valid_text = st.text(st.characters(codec="utf-8"), max_size=20)

RAW_TOKENS = (
    Raw("NaN", math.nan),
    Raw("Infinity", math.inf),
    Raw("-Infinity", -math.inf),
    Raw("1e400", math.inf),
    Raw("-1e400", -math.inf),
    Raw("1E-400", 0.0),
    Raw("-0", 0),
    Raw("5432.0", 5432.0),
    Raw("1" + "0" * 5000, 10**5000),
    Raw("-" + "9" * 4301, -(10**4301 - 1)),
    Raw("[" * 1000 + "]" * 1000, nested_lists(1000)),
    Raw('{"a":' * 1200 + "0" + "}" * 1200, nested_objects(1200)),
    Raw("[" * 100_000 + "]" * 100_000, nested_lists(100_000)),
)

#: Scalars whose text a message may repeat (as a variable name): no MARK.
unmarked_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(min_value=-(10**4200), max_value=10**4200),
    st.sampled_from([0, -1, 1, 65535, 65536, 2**63, -(2**63) - 1]),
    st.floats(),
    hostile_text,
    st.sampled_from(RAW_TOKENS),
)
scalars = st.one_of(unmarked_scalars, marked_text)
nodes: st.SearchStrategy[Node] = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.lists(st.tuples(hostile_text, children), max_size=4).map(lambda pairs: Obj(tuple(pairs))),
    ),
    max_leaves=12,
)
references = st.one_of(
    st.sampled_from(VARIABLE_NAMES).map(ref),
    st.sampled_from(SECRET_VARIABLES).map(ref),
    hostile_text.map(ref),
    unmarked_scalars.map(ref),
    st.sampled_from(VARIABLE_NAMES).map(lambda name: Obj((("$env", name), ("fallback", "x")))),
)
hostile_values = st.one_of(nodes, references)

VALID_VALUES: dict[str, st.SearchStrategy[Node]] = {
    "host": st.one_of(valid_text, marked_text.filter(is_utf8)),
    "port": st.integers(min_value=1, max_value=65535),
    "database": valid_text,
    # A reference in a plain field is valid in a file, and an error in an event.
    "user": st.sampled_from([0, 0, 0, 1]).flatmap(
        lambda pick: st.just(ref("DB_HOST")) if pick else valid_text
    ),
    "password": st.one_of(
        st.just(SECRET), st.just(ref("DB_PASSWORD")), valid_text, st.just(ref("OTHER_SECRET"))
    ),
}


@st.composite
def parameter_documents(draw: st.DrawFn) -> Obj:
    """Widget's parameters: a third of them valid, the others with spoiled values, hostile extra
    keys, more than 20 unknown keys, a duplicated key, in any order."""
    spoiling = draw(st.integers(min_value=0, max_value=2)) > 0
    spoiled = draw(st.sets(st.sampled_from(FIELDS), max_size=3)) if spoiling else set()
    pairs: list[tuple[str, Node]] = []
    for name in FIELDS:
        if name not in spoiled:
            pairs.append((name, draw(VALID_VALUES[name])))
            continue
        if draw(st.booleans()):  # else left out
            pairs.append((name, draw(hostile_values)))
    if spoiling and draw(st.booleans()):
        pairs += draw(st.lists(st.tuples(hostile_text, nodes), min_size=1, max_size=3))
    if spoiling and draw(st.integers(min_value=0, max_value=5)) == 0:
        pairs += [(f"unknown_{number}", number) for number in range(draw(st.integers(21, 45)))]
    if spoiling and pairs and draw(st.integers(min_value=0, max_value=4)) == 0:
        key = draw(st.sampled_from([key for key, _ in pairs]))
        pairs.append((key, draw(st.one_of(hostile_values, VALID_VALUES.get(key, nodes)))))
    return Obj(tuple(draw(st.permutations(pairs))))


documents: st.SearchStrategy[Node] = st.one_of(parameter_documents(), parameter_documents(), nodes)


def valid_document(**changes: Node) -> Obj:
    params: dict[str, Node] = {
        "host": "db.internal",
        "port": 6543,
        "database": "widgets",
        "user": "app",
        "password": ref("DB_PASSWORD"),
    }
    params.update(changes)
    return Obj(tuple(params.items()))


#: The nasty cases the brief names, for every test that takes a document.
NASTY_DOCUMENTS = (
    Obj((*valid_document().pairs, ("\ud800", 1))),
    Obj((*valid_document().pairs, ("a\nb\x1b[31m", 1))),
    valid_document(host=RAW_TOKENS[10]),  # 1,000 deep
    valid_document(port=RAW_TOKENS[8]),  # 10**5000 as text
    valid_document(port=RAW_TOKENS[0]),  # NaN
    valid_document(host="\ud800"),
    valid_document(host=ref("OTHER_SECRET")),
    valid_document(host=ref("DB_PASSWORD"), port=0),
    valid_document(port=ref("DB_PASSWORD")),
    valid_document(password=ref("OTHER_SECRET")),
    Obj((*valid_document().pairs, ("port", 1))),
)


def with_nasty_examples(**others: object) -> Callable[[Callable[..., None]], Callable[..., None]]:
    """Add each of NASTY_DOCUMENTS as an explicit example, with `others` for the other arguments."""

    def add(test: Callable[..., None]) -> Callable[..., None]:
        for document in NASTY_DOCUMENTS:
            test = example(document=document, **others)(test)
        return test

    return add


# --------------------------------------------------------------------------
# The promises


def assert_shows_no_secret(text: str, where: str) -> None:
    for part in SECRET_PARTS:
        assert part not in text, f"the secret (or part of it) shows in {where}: {text[:2000]!r}"


def assert_a_readable_config_error(error: object) -> ConfigError:
    """ConfigError itself, printable, bounded, at most 20 problems listed, no secret, no value."""
    assert type(error) is ConfigError, f"{type(error).__name__}: {error!r:.2000}"
    message = str(error)
    assert message.isprintable(), repr(message[:2000])
    message.encode("utf-8")
    assert len(message) <= MESSAGE_LIMIT, f"a message of {len(message)} characters"
    assert error.problems
    assert error.source.isprintable()
    assert all(problem.isprintable() for problem in error.problems), error.problems
    if len(error.problems) > ConfigError.LISTED:
        assert message.endswith(f"; and {len(error.problems) - ConfigError.LISTED} more"), message[-200:]
    shown = [
        message,
        repr(error),
        error.source,
        *error.problems,
        "".join(traceback.format_exception(type(error), error, error.__traceback__)),
    ]
    for text in shown:
        assert_shows_no_secret(text, "the error")
        assert MARK not in text, f"a value shows in the error: {text[:2000]!r}"
    return error


def assert_a_json_ready_result(result: object, runtime: str, *, echoed: frozenset[str] = frozenset()) -> None:
    """A flat dict that encodes as UTF-8 JSON, finite numbers, the secret as ***.

    `echoed` names plain parameters that a file legitimately set from a secret's variable.
    """
    assert isinstance(result, dict)
    assert result["runtime"] == runtime
    assert result["password"] == "***"
    json.dumps(result, ensure_ascii=False, allow_nan=False).encode("utf-8")
    for value in result.values():
        assert not isinstance(value, float) or math.isfinite(value)
    shown = {key: value for key, value in result.items() if key not in echoed}
    if echoed:
        shown.pop("connection")
    assert_shows_no_secret(json.dumps(shown, ensure_ascii=False), "the result")


def assert_logs_hold_no_secret(records: list[logging.LogRecord], units: int = 1) -> None:
    """No record shows the secret or a value; one record per unit of work, printable unless it failed."""
    formatter = logging.Formatter()
    for record in records:
        texts = [record.getMessage(), *(repr(value) for value in vars(record).values())]
        if record.exc_info:
            texts.append(formatter.formatException(record.exc_info))
        for text in texts:
            assert_shows_no_secret(text, f"the log record {record.getMessage()[:200]!r}")
            assert MARK not in text, f"a value shows in a log record: {text[:2000]!r}"
    ends = [record for record in records if hasattr(record, "outcome")]
    assert len(ends) == units, [record.getMessage() for record in records]
    for record in ends:
        assert record.outcome in ("ok", "config_error"), record.getMessage()
        assert record.getMessage().isprintable(), record.getMessage()[:2000]
        assert record.levelno == (logging.INFO if record.outcome == "ok" else logging.ERROR)


class _Collect(logging.Handler):
    def __init__(self, records: list[logging.LogRecord]) -> None:
        super().__init__(logging.DEBUG)
        self.records = records

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@contextmanager
def log_records() -> Iterator[list[logging.LogRecord]]:
    """Every record of every logger, from DEBUG up, while the block runs (caplog, per example)."""
    records: list[logging.LogRecord] = []
    collect = _Collect(records)
    root = logging.getLogger()
    level = root.level
    root.addHandler(collect)
    root.setLevel(logging.DEBUG)
    try:
        yield records
    finally:
        root.removeHandler(collect)
        root.setLevel(level)


def outcome_of(run: Callable[[], object]) -> object:
    """The result, or the ConfigError; any other exception fails the test as it is."""
    try:
        return run()
    except ConfigError as error:
        return error


@contextmanager
def file_left_untouched(path: Path) -> Iterator[None]:
    """The file's bytes and mtime, and its directory's entries, are the same after the block."""
    before = (path.read_bytes(), path.stat().st_mtime_ns, sorted(os.listdir(path.parent)))
    yield
    assert (path.read_bytes(), path.stat().st_mtime_ns, sorted(os.listdir(path.parent))) == before


def echoed_secrets(params: object) -> frozenset[str]:
    """Plain parameters a deployer's file set from a variable that holds the secret."""
    if not isinstance(params, dict):
        return frozenset()
    return frozenset(
        name
        for name in PLAIN_FIELDS
        if params.get(name) in [{"$env": variable} for variable in SECRET_VARIABLES]
    )


def check_run(run: Callable[[], object], runtime: str, *, echoed: frozenset[str] = frozenset()) -> object:
    """Run once and check every promise; return the result or the ConfigError for more checks."""
    with log_records() as records:
        outcome = outcome_of(run)
    event(f"outcome: {type(outcome).__name__}")
    if isinstance(outcome, BaseException):
        assert_a_readable_config_error(outcome)
    else:
        assert_a_json_ready_result(outcome, runtime, echoed=echoed)
    assert_logs_hold_no_secret(records)
    return outcome


def decoded(text: str) -> object:
    """What a lenient JSON reader makes of text (the last duplicate wins), or None if it cannot."""
    try:
        return json.loads(text)
    except (ValueError, RecursionError):
        return None


# --------------------------------------------------------------------------
# Files: the local JSON file and the TinyDB file


@PERFORMANCE
@with_nasty_examples(ensure_ascii=False)
@given(document=documents, ensure_ascii=st.booleans())
def test_a_local_file_gives_a_result_or_a_readable_config_error_and_never_the_secret(
    document: Node, ensure_ascii: bool
) -> None:
    text = render(document, ensure_ascii=ensure_ascii)
    with TemporaryDirectory() as directory:
        path = Path(directory) / "widget.json"
        path.write_bytes(as_text_bytes(text))
        params = decoded(text)
        outcome = check_run(
            lambda: LocalWidget(path, environ=ENVIRON).run(), "local", echoed=echoed_secrets(params)
        )
    if params is not None and has_duplicate_keys(document) and is_utf8(text):
        assert isinstance(outcome, ConfigError)
        # The parser stops at the first of the two refusals it meets.
        assert "appears more than once" in str(outcome) or "is not JSON" in str(outcome)


@PERFORMANCE
@with_nasty_examples()
@given(document=documents)
def test_a_tinydb_file_written_by_tinydb_is_read_only_and_gives_a_result_or_a_readable_config_error(
    document: Node,
) -> None:
    params = to_python(document)
    with TemporaryDirectory() as directory:
        path = Path(directory) / "tasks.json"
        try:
            write_tinydb(path, [{"task": "widget", "params": params}, {"task": "other", "params": params}])
        except (ValueError, RecursionError):  # TinyDB cannot write it: 10**5000, deep nesting
            return
        with file_left_untouched(path):
            check_run(
                lambda: BatchWidget(path, environ=ENVIRON).run(), "batch", echoed=echoed_secrets(params)
            )


@PERFORMANCE
@with_nasty_examples(ensure_ascii=False)
@given(document=documents, ensure_ascii=st.booleans())
def test_a_raw_tinydb_file_is_read_only_the_last_duplicate_wins_and_nothing_else_escapes(
    document: Node, ensure_ascii: bool
) -> None:
    params_text = render(document, ensure_ascii=ensure_ascii)
    text = f'{{"_default": {{"1": {{"task": "widget", "params": {params_text}}}}}}}'
    with TemporaryDirectory() as directory:
        path = Path(directory) / "tasks.json"
        path.write_bytes(as_text_bytes(text))
        with file_left_untouched(path):
            outcome = check_run(
                lambda: BatchWidget(path, environ=ENVIRON).run(),
                "batch",
                echoed=echoed_secrets(decoded(params_text)),
            )
    assert not (isinstance(outcome, ConfigError) and "more than once" in str(outcome))


@PERFORMANCE
@given(
    structure=st.one_of(
        nodes.map(render),
        hostile_text,
        st.binary(max_size=40).map(lambda data: data.decode("latin-1")),
        st.sampled_from(
            ["", " ", "\ufeff{}", "{}", "[]", "null", '{"_default": []}', '{"_default": {"1": 5}}']
        ),
    ),
    table=st.none() | hostile_text,
    key=st.none() | hostile_text,
)
def test_any_tinydb_file_structure_and_location_is_a_result_or_a_readable_config_error(
    structure: str, table: str | None, key: str | None
) -> None:
    with TemporaryDirectory() as directory:
        path = Path(directory) / "tasks.json"
        path.write_bytes(as_text_bytes(structure))
        with file_left_untouched(path):
            check_run(lambda: BatchWidget(path, key=key, table=table, environ=ENVIRON).run(), "batch")


ARRAY_INDEX_TEXTS = (
    "",
    "0",
    "1",
    "-1",
    "+1",
    "01",
    "9999",
    "10000",
    "1" * 5000,
    "\u0661",
    "\xb2",
    " 1",
    "1\n",
)


#: The engines' index variables: one is set in an indexed job's container.
INDEX_VARIABLES = ("AWS_BATCH_JOB_ARRAY_INDEX", "JOB_COMPLETION_INDEX", "CLOUD_RUN_TASK_INDEX")


@PERFORMANCE
@example(index="9" * 5000, key=None, table=None, attempt="1", variables=["AWS_BATCH_JOB_ARRAY_INDEX"])
@example(index="\u0663", key="\ud800", table="\n", attempt="9" * 5000, variables=["CLOUD_RUN_TASK_INDEX"])
@example(
    index="1", key=None, table=None, attempt="0", variables=["JOB_COMPLETION_INDEX", "CLOUD_RUN_TASK_INDEX"]
)
@given(
    index=st.none() | st.sampled_from(ARRAY_INDEX_TEXTS) | hostile_text,
    key=st.none() | st.sampled_from(["widget", "other"]) | hostile_text,
    table=st.none() | st.sampled_from(["_default", "jobs"]) | hostile_text,
    attempt=st.none() | st.sampled_from(["0", "1", "10", "9" * 40]) | hostile_text,
    variables=st.lists(st.sampled_from(INDEX_VARIABLES), min_size=1, max_size=2, unique=True),
)
def test_hostile_batch_variables_give_a_result_or_a_readable_config_error_with_integer_log_fields(
    index: str | None, key: str | None, table: str | None, attempt: str | None, variables: list[str]
) -> None:
    environ = {
        **ENVIRON,
        "AWS_BATCH_JOB_ID": "job\n\ud800",
        "CLOUD_RUN_EXECUTION": "execution\x1b[31m",
        "TASK_CONFIG_KEY": key or "",
        "TASK_CONFIG_TABLE": table or "",
    }
    if index is not None:
        environ.update(dict.fromkeys(variables, index))  # two set: an error, whatever they say
    if attempt is not None:
        environ.update({"AWS_BATCH_JOB_ATTEMPT": attempt, "CLOUD_RUN_TASK_ATTEMPT": attempt})
    with TemporaryDirectory() as directory:
        path = write_tinydb(
            Path(directory) / "tasks.json",
            [
                {"task": "widget", "params": widget_params(password={"$env": "DB_PASSWORD"})},
                *(
                    {"task": "widget", "array_index": i, "params": widget_params(port=i + 1)}
                    for i in range(3)
                ),
            ],
        )
        with file_left_untouched(path), log_records() as records:
            outcome = outcome_of(BatchWidget(path, environ=environ).run)
    if isinstance(outcome, BaseException):
        assert_a_readable_config_error(outcome)
    else:
        assert_a_json_ready_result(outcome, "batch")
    assert_logs_hold_no_secret(records)
    for record in records:
        for field in ("array_index", "attempt"):
            assert type(getattr(record, field, 0)) is int


# --------------------------------------------------------------------------
# The environment


PREFIXED_NAMES = tuple(f"WIDGET_{name.upper()}" for name in FIELDS)
ENV_TEXTS = (
    "",
    "0",
    "5432",
    "65535",
    "65536",
    "+1",
    "-1",
    " 1",
    "1" * 5000,
    "\uff11",
    "nan",
    "1e400",
    "x\udc80",
)


@PERFORMANCE
@example(variables={"WIDGET_\ud800": "1", "WIDGET_A\nB": "x"}, prefix=None, with_secret=True)
@example(variables={"WIDGET_PORT": "1" * 5000, "WIDGET_HOST": "\udc80"}, prefix=None, with_secret=True)
@example(variables={}, prefix="", with_secret=True)
@given(
    variables=st.dictionaries(
        st.one_of(
            st.sampled_from(PREFIXED_NAMES), hostile_text.map(lambda text: "WIDGET_" + text), hostile_text
        ),
        st.one_of(st.sampled_from(ENV_TEXTS), valid_text, marked_text),
        max_size=8,
    ),
    prefix=st.none() | st.sampled_from(["", "DB_", "W", "WIDGET_PASS"]) | hostile_text,
    with_secret=st.booleans(),
)
def test_hostile_environment_variables_give_a_result_or_a_readable_config_error(
    variables: dict[str, str], prefix: str | None, with_secret: bool
) -> None:
    environ = {**ENVIRON, **variables}
    if with_secret:
        environ["WIDGET_PASSWORD"] = SECRET
    check_run(lambda: EnvWidget(prefix, environ=environ).run(), "env")


# --------------------------------------------------------------------------
# AWS Lambda: a direct invoke, an HTTP API request, SQS messages


PYTHON_ODDITIES = (b"bytes", (1, 2), frozenset({1}), 1j, Secret(SECRET), object())


@st.composite
def odd_documents(draw: st.DrawFn) -> Obj:
    """Parameters with a Python object no JSON holds, as an in-process caller may pass."""
    document = draw(parameter_documents())
    field = draw(st.sampled_from(FIELDS))
    return Obj((*document.pairs, (field, draw(st.sampled_from(PYTHON_ODDITIES)))))  # type: ignore[arg-type]


@PERFORMANCE
@with_nasty_examples()
@example(document=valid_document(host=Raw("[" * 100_000 + "]" * 100_000, nested_lists(100_000))))
@given(document=st.one_of(documents, odd_documents()))
@pytest.mark.parametrize("entry", ["handler", "LambdaWidget"])
def test_a_lambda_event_gives_a_result_or_a_readable_config_error_and_honours_only_listed_secret_references(
    entry: str, document: Node
) -> None:
    lambda_event = to_python(document)
    if (
        entry == "handler"
        and isinstance(lambda_event, dict)
        and {"Records", "requestContext", "detail"} & set(lambda_event)
    ):
        return  # another trigger's shape: the tests below feed those

    def run() -> object:
        if entry == "LambdaWidget":
            return LambdaWidget(lambda_event, FakeLambdaContext(), environ=ENVIRON).run()
        with mock.patch.dict(os.environ, ENVIRON):
            return handler(lambda_event, FakeLambdaContext())

    outcome = check_run(run, "lambda")
    if isinstance(lambda_event, dict):
        plain_references = [
            name
            for name in PLAIN_FIELDS
            if isinstance(lambda_event.get(name), dict) and "$env" in lambda_event[name]
        ]
        unlisted = lambda_event.get("password") == {"$env": "OTHER_SECRET"}
        if plain_references or unlisted:
            assert isinstance(outcome, ConfigError)


def http_api_event(body: object, *, base64_encoded: bool) -> dict[str, object]:
    """An API Gateway HTTP API (payload 2.0) request, as a function URL sends it too."""
    return {
        "version": "2.0",
        "routeKey": "POST /widget",
        "rawPath": "/widget",
        "rawQueryString": "",
        "headers": {"content-type": "application/json"},
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "api",
            "http": {"method": "POST", "path": "/widget", "protocol": "HTTP/1.1", "sourceIp": "192.0.2.1"},
            "requestId": "request",
            "routeKey": "POST /widget",
            "stage": "$default",
        },
        "body": body,
        "isBase64Encoded": base64_encoded,
    }


def rest_api_event(body: object, *, base64_encoded: bool) -> dict[str, object]:
    """An API Gateway REST API (payload 1.0) request."""
    return {
        "resource": "/widget",
        "path": "/widget",
        "httpMethod": "POST",
        "headers": {"Content-Type": "application/json"},
        "requestContext": {"resourcePath": "/widget", "httpMethod": "POST", "requestId": "request"},
        "body": body,
        "isBase64Encoded": base64_encoded,
    }


def alb_event(body: object, *, base64_encoded: bool) -> dict[str, object]:
    """An Application Load Balancer request."""
    return {
        "requestContext": {"elb": {"targetGroupArn": "arn:aws:elasticloadbalancing:us-east-1:1:tg/widget"}},
        "httpMethod": "POST",
        "path": "/widget",
        "headers": {"content-type": "application/json"},
        "body": body,
        "isBase64Encoded": base64_encoded,
    }


HTTP_EVENTS = {"HTTP API": http_api_event, "REST API": rest_api_event, "ALB": alb_event}


bodies = st.one_of(
    st.tuples(documents, st.booleans()).map(lambda pair: render(pair[0], ensure_ascii=pair[1])),
    hostile_text,
    st.sampled_from(["", "null", "[]", "{}", '{"a": 1, "a": 2}', "\ufeff{}", "{" * 5000]),
)


@PERFORMANCE
@example(body='{"\\ud800": 1}', base64_encoded=False)
@example(body="[" * 1000 + "]" * 1000, base64_encoded=True)
@example(body='{"port": ' + "1" * 5000 + "}", base64_encoded=False)
@example(body=render(valid_document(port=Raw("NaN", math.nan))), base64_encoded=True)
@example(body=render(valid_document(host=ref("DB_PASSWORD"))), base64_encoded=False)
@example(body="not base64 \ud800", base64_encoded=True)
@given(body=st.one_of(bodies, st.none(), st.integers(), st.just({"host": "x"})), base64_encoded=st.booleans())
@pytest.mark.parametrize("shape", HTTP_EVENTS)
def test_an_http_request_gets_200_or_400_and_never_the_secret(
    shape: str, body: object, base64_encoded: bool
) -> None:
    if base64_encoded and isinstance(body, str) and not body.startswith("not base64"):
        body = base64.b64encode(as_text_bytes(body)).decode("ascii")
    request = HTTP_EVENTS[shape](body, base64_encoded=base64_encoded)
    with mock.patch.dict(os.environ, ENVIRON), log_records() as records:
        response = handler(request, FakeLambdaContext())
    assert isinstance(response, dict)
    assert response["statusCode"] in (200, 400), response
    event(f"status: {response['statusCode']}")
    assert response["headers"] == {"Content-Type": "application/json"}
    if shape == "ALB":
        assert (
            response["statusDescription"] == {200: "200 OK", 400: "400 Bad Request"}[response["statusCode"]]
        )
    assert response["isBase64Encoded"] is False
    answer = json.loads(response["body"])
    if response["statusCode"] == 200:
        assert_a_json_ready_result(answer, "lambda")
    else:
        assert answer["errorType"] == "ConfigError"
        message = answer["errorMessage"]
        assert message.isprintable()
        assert len(message) <= MESSAGE_LIMIT
        assert MARK not in message
    assert_shows_no_secret(response["body"], "the HTTP response")
    assert_logs_hold_no_secret(records)


@st.composite
def sqs_events(draw: st.DrawFn) -> tuple[dict[str, list[object]], list[str]]:
    """An SQS event of up to 5 records, and the message id each record carries ("" for none)."""
    fifo = draw(st.booleans())
    records: list[object] = []
    ids: list[str] = []
    for position in range(draw(st.integers(min_value=1, max_value=5))):
        message_id = draw(
            st.one_of(st.just(f"msg-{position}"), st.just(f"msg-{position}"), hostile_text, st.none())
        )
        body = draw(st.one_of(bodies, bodies, st.none(), st.integers()))
        record: dict[str, object] = {
            "messageId": message_id,
            "receiptHandle": "handle",
            "body": body,
            "attributes": {},
            "messageAttributes": {},
            "eventSource": "aws:sqs",
            "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:widgets" + (".fifo" if fifo else ""),
            "awsRegion": "us-east-1",
        }
        if message_id is None:
            del record["messageId"]
        # The first is always a record, so that the handler recognises an SQS event.
        records.append(record if position == 0 else draw(st.sampled_from([record, record, "not a record"])))
        readable = isinstance(records[-1], dict) and isinstance(message_id, str) and message_id.isprintable()
        ids.append(message_id if readable and isinstance(message_id, str) else "")
    return {"Records": records}, ids


@PERFORMANCE
@example(
    sqs=(
        {
            "Records": [
                {"messageId": "a", "eventSource": "aws:sqs", "body": render(valid_document())},
                {"messageId": "b\n\ud800", "eventSource": "aws:sqs", "body": '{"a": 1, "a": 2}'},
                {"messageId": "c", "eventSource": "aws:sqs", "body": "[" * 1000 + "]" * 1000},
            ]
        },
        ["a", "", "c"],
    )
)
@given(sqs=sqs_events())
def test_sqs_records_that_fail_are_listed_in_order_and_nothing_raises_or_shows_the_secret(
    sqs: tuple[dict[str, list[object]], list[str]],
) -> None:
    sqs_event, ids = sqs
    with mock.patch.dict(os.environ, ENVIRON), log_records() as records:
        response = handler(sqs_event, FakeLambdaContext())
    assert isinstance(response, dict)
    assert set(response) == {"batchItemFailures"}
    listed = [failure["itemIdentifier"] for failure in response["batchItemFailures"]]
    event(f"{len(listed)} of {len(ids)} records listed")
    ends = [record for record in records if hasattr(record, "outcome")]
    failed = [getattr(record, "message_id", "") for record in ends if record.outcome != "ok"]
    assert_shows_no_secret(json.dumps(response), "the SQS response")
    fifo = any(
        isinstance(record, dict) and str(record.get("eventSourceARN")).endswith(".fifo")
        for record in sqs_event["Records"]
    )
    if fifo and failed:
        # Records run in order up to the first failure; it and every record after it are listed.
        assert [record.outcome for record in ends[:-1]] == ["ok"] * (len(ends) - 1)
        assert listed == ids[len(ends) - 1 :]
    else:
        assert listed == failed
        assert len(ends) == len(ids)
    assert_logs_hold_no_secret(records, units=len(ends))


# --------------------------------------------------------------------------
# Specific promises about files, by example


def outcome_within(run: Callable[[], object], seconds: float = 5) -> object:
    """The outcome of run(), which must come back within `seconds` (a FIFO must not block it)."""
    box: list[object] = []
    thread = threading.Thread(target=lambda: box.append(_catching(run)), daemon=True)
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), f"still running after {seconds} s: it blocked"
    return box[0]


def _catching(run: Callable[[], object]) -> object:
    try:
        return run()
    except BaseException as error:
        return error


def widget_on(kind: str, path: Path, environ: dict[str, str] | None = None) -> Callable[[], object]:
    environ = {**ENVIRON, **(environ or {})}
    if kind == "local":
        return LocalWidget(path, environ=environ).run
    return BatchWidget(path, environ=environ).run


@pytest.fixture(params=["local", "batch"])
def file_kind(request: pytest.FixtureRequest) -> str:
    """The local JSON file, and the TinyDB file."""
    return str(request.param)


@pytest.mark.parametrize("special", ["fifo", "/dev/zero", "directory", "socket"])
def test_a_fifo_a_device_a_socket_or_a_directory_is_refused_at_once_without_reading(
    file_kind: str, special: str, tmp_path: Path
) -> None:
    path = {"/dev/zero": Path("/dev/zero"), "directory": tmp_path}.get(special, tmp_path / "widget.json")
    with socket.socket(socket.AF_UNIX) as listening:
        if special == "fifo":
            os.mkfifo(path)
        elif special == "socket":
            listening.bind(str(path))
            listening.listen()
        started = time.monotonic()
        error = assert_a_readable_config_error(outcome_within(widget_on(file_kind, path)))
        assert time.monotonic() - started < 2
    assert any(why in str(error) for why in ("not a regular file", "Is a directory", "No such device"))


def test_a_file_over_the_size_limit_is_refused_naming_the_limit(file_kind: str, tmp_path: Path) -> None:
    path = tmp_path / "widget.json"
    path.write_text("x" * 1001, encoding="utf-8")  # not JSON either: it must not be read to find that out
    error = outcome_of(widget_on(file_kind, path, {"TASK_CONFIG_MAX_BYTES": "1000"}))
    assert "TASK_CONFIG_MAX_BYTES (1000 bytes)" in str(assert_a_readable_config_error(error))
    assert "not valid JSON" not in str(error)


def test_a_file_at_the_size_limit_is_read(file_kind: str, tmp_path: Path) -> None:
    path = tmp_path / "widget.json"
    text = render(valid_document())
    if file_kind == "batch":
        text = f'{{"_default": {{"1": {{"task": "widget", "params": {text}}}}}}}'
    path.write_text(text, encoding="utf-8")
    limit = str(len(text.encode("utf-8")))
    assert isinstance(outcome_of(widget_on(file_kind, path, {"TASK_CONFIG_MAX_BYTES": limit})), dict)


def in_file(kind: str, params_text: str) -> str:
    """The text of a file of `kind` holding params_text on its second line."""
    if kind == "local":
        return "\n" + params_text
    return '{"_default": {"1": {"task": "widget",\n "params": ' + params_text + "}}}"


def test_json_nested_too_deeply_is_an_error_naming_the_line_and_column(
    file_kind: str, tmp_path: Path
) -> None:
    path = tmp_path / "widget.json"
    # Python 3.13 reads 5,000 levels; no Python reads 100,000.
    path.write_text(in_file(file_kind, '{"host": ' + "[" * 100_000 + "]" * 100_000 + "}"), encoding="utf-8")
    error = assert_a_readable_config_error(outcome_of(widget_on(file_kind, path)))
    assert "nested too deeply" in str(error)
    assert "line 2, column" in str(error)


def test_an_integer_of_5000_digits_is_an_error_naming_the_line_and_column(
    file_kind: str, tmp_path: Path
) -> None:
    path = tmp_path / "widget.json"
    params_text = '{"port": ' + "1" * 5000 + "}"
    path.write_text(in_file(file_kind, params_text), encoding="utf-8")
    column = in_file(file_kind, params_text).split("\n")[1].index("1") + 1
    error = assert_a_readable_config_error(outcome_of(widget_on(file_kind, path)))
    assert f"an integer of more than 4,300 digits at line 2, column {column}" in str(error)


def test_a_duplicated_key_in_the_local_file_is_an_error_naming_the_key(tmp_path: Path) -> None:
    path = tmp_path / "widget.json"
    path.write_text(render(Obj((*valid_document().pairs, ("port", 7)))), encoding="utf-8")
    error = assert_a_readable_config_error(outcome_of(widget_on("local", path)))
    assert "the key 'port' appears more than once" in str(error)


def test_a_duplicated_key_in_the_tinydb_file_is_read_as_tinydb_reads_it_the_last_one_wins(
    tmp_path: Path,
) -> None:
    path = tmp_path / "tasks.json"
    path.write_text(in_file("batch", render(Obj((*valid_document().pairs, ("port", 7))))), encoding="utf-8")
    result = outcome_of(widget_on("batch", path))
    assert isinstance(result, dict)
    assert result["port"] == 7


def test_an_array_index_of_5000_digits_is_a_config_error(tmp_path: Path) -> None:
    path = write_tinydb(
        tmp_path / "tasks.json", [{"task": "widget", "array_index": 1, "params": widget_params()}]
    )
    error = outcome_of(widget_on("batch", path, {"AWS_BATCH_JOB_ARRAY_INDEX": "1" * 5000}))
    assert "AWS_BATCH_JOB_ARRAY_INDEX" in str(assert_a_readable_config_error(error))


# --------------------------------------------------------------------------
# Where a long integer is, and how much it costs to say so (defects these tests found, now fixed)


def strictly_decodes(text: str) -> bool:
    """Whether text is JSON that even the strict reader accepts: no duplicated key."""

    def unique(pairs: list[tuple[str, object]]) -> dict[str, object]:
        if len({key for key, _ in pairs}) < len(pairs):
            raise ValueError("a duplicated key")
        return dict(pairs)

    try:
        json.loads(text, object_pairs_hook=unique)
    except (ValueError, RecursionError):
        return False
    return True


def line_and_column(text: str, offset: int) -> str:
    line = text.count("\n", 0, offset) + 1
    return f"line {line}, column {offset - text.rfind(chr(10), 0, offset)}"


#: JSON a parser accepts, full of digits that are not a long integer.
DIGIT_DECOYS = (
    '"' + "2" * 5000 + '"',
    '"\\"' + "2" * 5000 + '"',
    "0." + "3" * 5000,
    "1e" + "0" * 5000,
    "-1.5E-" + "0" * 4999 + "1",
    '{"' + "4" * 4301 + '": 0}',
)


@PERFORMANCE
@example(before=list(DIGIT_DECOYS), separator=",\n ", sign="-", digits=4301, after="]")
@given(
    before=st.lists(st.one_of(st.sampled_from(DIGIT_DECOYS), nodes.map(render)), max_size=4).filter(
        lambda texts: all(strictly_decodes(text) for text in texts)
    ),
    separator=st.sampled_from([", ", ",\n", ",\r\n  ", ",\t"]),
    sign=st.sampled_from(["", "-"]),
    digits=st.integers(min_value=4301, max_value=6000),
    after=st.one_of(
        st.just("]"), valid_text.map(lambda text: "," + text), valid_text.map(lambda text: "]" + text)
    ),
)
def test_a_long_integer_is_an_error_naming_where_it_starts(
    before: list[str], separator: str, sign: str, digits: int, after: str
) -> None:
    prefix = "[" + "".join(text + separator for text in before)
    text = prefix + sign + "7" * digits + after
    expected = f"an integer of more than 4,300 digits at {line_and_column(text, len(prefix))}"
    with TemporaryDirectory() as directory:
        path = Path(directory) / "widget.json"
        path.write_text(text, encoding="utf-8")
        error = assert_a_readable_config_error(outcome_of(widget_on("local", path)))
    assert str(error).endswith(expected)


@pytest.mark.parametrize("source", ["local file", "HTTP body"])
def test_text_with_many_4300_digit_numbers_is_refused_about_as_fast_as_it_is_parsed(
    source: str, tmp_path: Path
) -> None:
    # 300 KB: json.loads refuses it in about 6 ms; a scan from every digit took 3 s (10 s per MB).
    text = "[" + ("1" * 4300 + ",") * 70 + "1" * 4301 + "]"
    path = tmp_path / "widget.json"
    path.write_text(text, encoding="utf-8")
    started = time.monotonic()
    if source == "local file":
        assert_a_readable_config_error(outcome_of(widget_on("local", path)))
    else:
        with mock.patch.dict(os.environ, ENVIRON):
            response = handler(http_api_event(text, base64_encoded=False), FakeLambdaContext())
        assert isinstance(response, dict)
        assert response["statusCode"] == 400
    assert time.monotonic() - started < 1


def test_a_large_size_limit_still_reads_a_small_file(tmp_path: Path) -> None:
    # It once allocated the whole limit up front: MemoryError.
    path = tmp_path / "widget.json"
    path.write_text(render(valid_document()), encoding="utf-8")
    result = outcome_of(widget_on("local", path, {"TASK_CONFIG_MAX_BYTES": "9" * 18}))
    assert isinstance(result, dict)


def test_an_event_with_a_key_that_has_no_repr_is_a_config_error() -> None:
    # repr() of a 5,000-digit int raises ValueError: that once escaped as itself.
    event: dict[object, object] = {10**5000: 1}
    event.update(widget_params())
    error = outcome_of(LambdaWidget(event, environ=ENVIRON).run)
    assert "unknown parameter" in str(assert_a_readable_config_error(error))


def test_a_key_with_a_line_break_is_shown_escaped_once(tmp_path: Path) -> None:
    # {shown(key)!r} once escaped it twice: a line break showed as \\n.
    path = tmp_path / "widget.json"
    path.write_text('{"a\\nb": 1, "a\\nb": 2}', encoding="utf-8")
    error = outcome_of(widget_on("local", path))
    assert r"the key 'a\nb' appears more than once" in str(error)
