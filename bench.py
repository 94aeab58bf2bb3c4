"""Measure the library's performance targets (docs/performance.md): one Markdown table row each.

Every figure is a ratio against a floor measured in the same run, the two
alternating so that a shared, noisy machine slows both alike: fresh processes
for start-up and Batch lookups, calls in this process for warm invocations.
`make bench` runs it; `--quick` is a smoke test. Exit status 1 when a target is missed.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import datetime
import hashlib
import json
import logging
import os
import platform
import py_compile
import statistics
import subprocess
import sys
import tempfile
import time
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Mapping

PROJECT_DIR = Path(__file__).resolve().parent

#: Widget's parameters, as a direct invoke, a queue message or a TinyDB document holds them.
PARAMS: dict[str, object] = {
    "host": "db.example.com",
    "port": 5432,
    "database": "widgets",
    "user": "widget_app",
    "password": "correct-horse-battery-staple",
}

#: What the library keeps off the Lambda path: the runtime client has not loaded them.
FORBIDDEN_ON_LAMBDA_PATH = ("typing", "dataclasses", "argparse", "tinydb", "base64")

#: The fields of the one record each unit of work logs (docs/logs.md).
LOG_FIELDS = ("task", "runtime", "outcome", "duration_ms", "source", "request_id")

#: Appended to every child's code: its peak resident memory in KiB, as its last line.
PEAK_MEMORY = "import resource; print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)"


# --------------------------------------------------------------------------
# The table


@dataclasses.dataclass(frozen=True)
class Row:
    """One line of the results table; `passed` is None for a figure shown for information."""

    measurement: str
    floor: str
    ours: str
    ratio: str
    target: str
    passed: bool | None

    HEADER = (
        "| measurement | floor | ours | ratio | target | result |\n| --- | ---: | ---: | ---: | ---: | --- |"
    )

    def __str__(self) -> str:
        result = {True: "PASS", False: "**MISS**", None: "info"}[self.passed]
        cells = (self.measurement, self.floor, self.ours, self.ratio, self.target, result)
        return "| " + " | ".join(cells) + " |"


def ratio_row(
    measurement: str, floor: float, ours: float, ratio: float, *, limit: float | None, unit: str
) -> Row:
    """A row whose target is a ratio under `limit` (None: for information only)."""
    decimals = 2 if unit == "µs" else 1
    return Row(
        measurement,
        f"{floor:.{decimals}f} {unit}",
        f"{ours:.{decimals}f} {unit}",
        f"{ratio:.3f}x",
        "—" if limit is None else f"< {limit:.2f}x",
        None if limit is None else ratio < limit,
    )


def median_ratio(pairs: list[tuple[float, float]]) -> float:
    """The median of (ours / floor) over pairs that ran back to back."""
    return statistics.median(ours / floor for floor, ours in pairs)


# --------------------------------------------------------------------------
# Fresh processes


@dataclasses.dataclass(frozen=True)
class Sample:
    """One child process: its wall time, its peak memory, and what it printed before that."""

    seconds: float
    peak_kib: int
    printed: list[str]


def child_environment(**variables: str) -> dict[str, str]:
    """This process's environment without anything the library reads, plus `variables`."""
    ours = ("TASK_", "AWS_BATCH_", "AWS_LAMBDA_", "WIDGET_", "JOB_COMPLETION_", "CLOUD_RUN_")
    environ = {name: value for name, value in os.environ.items() if not name.startswith(ours)}
    return {**environ, **variables}


def run_child(arguments: list[str], environ: Mapping[str, str]) -> tuple[float, str]:
    """Run `python ARGUMENTS` in a fresh process from the project directory: its wall time and output.

    The child is started by a shell that then waits for it: on Linux a process's
    ru_maxrss starts from its parent's peak when it forks, and the shell's is
    tiny where this script's is not.
    """
    started = time.perf_counter()
    completed = subprocess.run(
        ["/bin/sh", "-c", '"$@"; exit $?', "sh", sys.executable, *arguments],
        cwd=PROJECT_DIR,
        env=environ,
        capture_output=True,
        text=True,
        check=False,
    )
    seconds = time.perf_counter() - started
    if completed.returncode != 0:
        raise RuntimeError(f"python {' '.join(arguments)} exited {completed.returncode}:\n{completed.stderr}")
    return seconds, completed.stdout


def run_code(code: str, environ: Mapping[str, str]) -> Sample:
    """Run `python -c CODE` in a fresh process; time it and read its peak memory."""
    seconds, stdout = run_child(["-c", f"{code}\n{PEAK_MEMORY}"], environ)
    *printed, peak = stdout.splitlines()
    return Sample(seconds, int(peak), printed)


def alternate(
    floor: Callable[[], Sample], ours: Callable[[], Sample], runs: int
) -> list[tuple[Sample, Sample]]:
    """Run the floor and ours alternately, `runs` times each, after one warm-up of each."""
    floor()
    ours()
    return [(floor(), ours()) for _ in range(runs)]


def compile_project() -> dict[str, int | None]:
    """Write every library module's bytecode, as an installed package or the Lambda zip ships it,
    and return each source's modification time.

    Otherwise each fresh process (PYTHONDONTWRITEBYTECODE is often set) would
    compile the modules again and the figures would measure the compiler.
    """
    modules = [*sorted(PROJECT_DIR.glob("task*.py")), PROJECT_DIR / "assignment.py"]
    for module in modules:
        py_compile.compile(str(module), doraise=True)
    return {module.name: modified_ns(module) for module in modules}


def modified_ns(path: Path) -> int | None:
    """A file's modification time, or None once it is gone."""
    try:
        return path.stat().st_mtime_ns
    except FileNotFoundError:
        return None


# --------------------------------------------------------------------------
# 1. Lambda cold start, and what the Lambda path loads


def cold_start(runs: int) -> list[Row]:
    """The runtime client's start-up with `import assignment` added, against the runtime client's alone.

    The floor is the wall time of a fresh process that imports
    `awslambdaric.bootstrap`; what `assignment` adds is timed inside fresh
    processes that import it after the runtime client, so that process
    start-up noise, which is larger than the import, never lands on one side
    only. The two kinds of process alternate; each figure is a median. The
    children run with AWS_LAMBDA_LOG_FORMAT=JSON, as the function is deployed.
    """
    environ = child_environment(AWS_LAMBDA_LOG_FORMAT="JSON", AWS_LAMBDA_LOG_LEVEL="INFO")
    timed = "import awslambdaric.bootstrap, time\nstarted = time.perf_counter()\nimport assignment\n"
    timed += "print((time.perf_counter() - started) * 1000)"
    pairs = alternate(
        lambda: run_code("import awslambdaric.bootstrap", environ), lambda: run_code(timed, environ), runs
    )
    floor_ms = statistics.median(floor.seconds for floor, _ in pairs) * 1000
    added_ms = statistics.median(float(ours.printed[-1]) for _, ours in pairs)
    row = ratio_row(
        "Lambda cold start: `import awslambdaric.bootstrap` + `import assignment`",
        floor_ms,
        floor_ms + added_ms,
        (floor_ms + added_ms) / floor_ms,
        limit=1.05,
        unit="ms",
    )
    return [dataclasses.replace(row, ratio=f"{row.ratio} (import: +{added_ms:.2f} ms)")]


#: Run in a fresh process: the modules each step of the Lambda path adds, as JSON.
MODULES_CODE = """
import json, sys, time
import awslambdaric.bootstrap as bootstrap
from awslambdaric.lambda_runtime_log_utils import LogFormat
class Sink:
    def log(self, msg, frame_type=None): pass
    def log_error(self, message_lines): pass
bootstrap._setup_logging(LogFormat.JSON, "INFO", Sink())
class Context:
    aws_request_id = "c6af9ac6-7b61-11e6-9a41-93e812345678"
steps, seen, started = {}, set(sys.modules), time.perf_counter()
def step(name):
    global seen, started
    steps[name] = [(time.perf_counter() - started) * 1000, sorted(set(sys.modules) - seen)]
    seen, started = set(sys.modules), time.perf_counter()
import assignment
step("`import assignment`")
assignment.handler(PARAMS, Context())
step("the first direct invocation")
assignment.handler(SQS_EVENT, Context())
step("the first SQS batch")
print(json.dumps(steps))
"""


@dataclasses.dataclass(frozen=True)
class Step:
    """One step of a Lambda function's life in a fresh process: what it took once, what it loaded."""

    name: str
    milliseconds: float
    modules: list[str]

    def __str__(self) -> str:
        modules = ", ".join(f"`{module}`" for module in self.modules) or "nothing"
        return f"- {self.name}: {self.milliseconds:.2f} ms (one sample); loads {modules}"


def lambda_path_modules() -> list[Step]:
    """What `import assignment`, then a first direct invocation, then a first SQS batch each add
    to what the runtime client has loaded (its logging set up for JSON), in one fresh process."""
    code = MODULES_CODE.replace("SQS_EVENT", repr(sqs_event(10))).replace("PARAMS", repr(PARAMS))
    _, stdout = run_child(["-c", code], child_environment(AWS_LAMBDA_LOG_FORMAT="JSON"))
    return [Step(name, ms, modules) for name, (ms, modules) in json.loads(stdout).items()]


def forbidden_modules(steps: list[Step]) -> list[Row]:
    """Whether the Lambda path loads any module the library keeps off it."""
    found = sorted(
        {
            module
            for step in steps
            for module in step.modules
            if module.partition(".")[0] in FORBIDDEN_ON_LAMBDA_PATH
        }
    )
    forbidden = ", ".join(f"`{name}`" for name in FORBIDDEN_ON_LAMBDA_PATH)
    return [
        Row(
            f"Lambda path (import, direct invocation, SQS batch) loads none of {forbidden}",
            "—",
            ", ".join(f"`{name}`" for name in found) or "none",
            "—",
            "none",
            not found,
        )
    ]


# --------------------------------------------------------------------------
# 2. Warm invocation


class NullSink:
    """The runtime client's log sink, writing nowhere: the bootstrap's handler calls `log()` per record."""

    def __init__(self) -> None:
        self.last: str | None = None

    def log(self, msg: str, frame_type: bytes | None = None) -> None:
        self.last = msg

    def log_error(self, message_lines: list[str]) -> None:
        pass


@contextlib.contextmanager
def lambda_json_logging(sink: NullSink) -> Iterator[None]:
    """Logging as the runtime client sets it up for AWS_LAMBDA_LOG_FORMAT=JSON and AWS_LAMBDA_LOG_LEVEL=INFO.

    That is awslambdaric's own `bootstrap._setup_logging`: its JsonFormatter on
    its handler (which calls the sink per record), with its request-id filter,
    on the root logger at INFO. Undone on exit.
    """
    from awslambdaric import bootstrap
    from awslambdaric.lambda_runtime_log_utils import LogFormat

    root = logging.getLogger()
    handlers, level, converter = list(root.handlers), root.level, logging.Formatter.converter
    bootstrap._setup_logging(LogFormat.JSON, "INFO", sink)
    bootstrap._GLOBAL_AWS_REQUEST_ID = "c6af9ac6-7b61-11e6-9a41-93e812345678"
    try:
        yield
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)
        logging.Formatter.converter = converter
        bootstrap._GLOBAL_AWS_REQUEST_ID = None


@dataclasses.dataclass(frozen=True)
class ReferenceParams:
    host: str
    port: int
    database: str
    user: str
    password: str


reference_logger = logging.getLogger("reference")


def reference_handler(event: dict[str, object], context: object) -> dict[str, object]:
    """The floor: check Widget's five fields' types, build a frozen dataclass, log one record."""
    started = time.perf_counter()
    host, port, database, user, password = (
        event.get(name) for name in ("host", "port", "database", "user", "password")
    )
    if not (
        isinstance(host, str)
        and type(port) is int
        and isinstance(database, str)
        and isinstance(user, str)
        and isinstance(password, str)
    ):
        raise ValueError("bad event")
    params = ReferenceParams(host, port, database, user, password)
    result: dict[str, object] = {
        "runtime": "lambda",
        "host": params.host,
        "port": params.port,
        "database": params.database,
        "user": params.user,
        "password": "***",
        "connection": f"{params.user}@{params.host}:{params.port}/{params.database}",
    }
    fields = {
        "task": "widget",
        "runtime": "lambda",
        "outcome": "ok",
        "duration_ms": round((time.perf_counter() - started) * 1000, 3),
        "source": "Lambda event",
        "request_id": getattr(context, "aws_request_id", None),
    }
    reference_logger.info("%s: done", "widget", extra=fields)
    return result


def powertools_handler(sink: NullSink) -> Callable[[dict[str, object], object], dict[str, object]]:
    """The same work as AWS Lambda Powertools users write it: a pydantic model and Powertools' Logger,
    which writes its JSON lines to a stream of its own (here one that hands each line to `sink`).

    Imported here: bench-only dependencies (requirements-bench.txt).
    """
    import io

    from aws_lambda_powertools import Logger
    from pydantic import BaseModel, ConfigDict, SecretStr

    class WidgetModel(BaseModel):
        model_config = ConfigDict(strict=True, frozen=True, extra="forbid")

        host: str
        port: int
        database: str
        user: str
        password: SecretStr

    class SinkStream(io.StringIO):
        def write(self, text: str) -> int:
            if text.strip():
                sink.log(text)
            return len(text)

    logger = Logger(service="widget", level="INFO", stream=SinkStream())

    def handler(event: dict[str, object], context: object) -> dict[str, object]:
        started = time.perf_counter()
        params = WidgetModel.model_validate(event)
        result: dict[str, object] = {
            "runtime": "lambda",
            **params.model_dump(),
            "password": "***",
            "connection": f"{params.user}@{params.host}:{params.port}/{params.database}",
        }
        fields = {
            "task": "widget",
            "runtime": "lambda",
            "outcome": "ok",
            "duration_ms": round((time.perf_counter() - started) * 1000, 3),
            "source": "Lambda event",
            "request_id": getattr(context, "aws_request_id", None),
        }
        logger.info("widget: done", extra=fields)
        return result

    return handler


def per_call_us(call: Callable[[], object], number: int) -> float:
    """Microseconds per call of `call`, over `number` calls (the garbage collector on, as in Lambda)."""
    started = time.perf_counter()
    for _ in range(number):
        call()
    return (time.perf_counter() - started) / number * 1e6


def alternate_calls(
    floor: Callable[[], object], ours: Callable[[], object], rounds: int, number: int
) -> list[tuple[float, float]]:
    """µs per call of the floor and of ours, `rounds` times each, in turn, after one warm-up round."""
    per_call_us(floor, number // 10)
    per_call_us(ours, number // 10)
    return [(per_call_us(floor, number), per_call_us(ours, number)) for _ in range(rounds)]


def calls_row(measurement: str, pairs: list[tuple[float, float]], *, limit: float | None) -> Row:
    """A row of per-call figures: each side's fastest round, and their ratio.

    The work is the same in every round and a busy machine only ever adds time,
    so each side's fastest round is the closest to its own cost (as timeit
    advises); a median moves with whatever else the machine did meanwhile.
    """
    floor = min(floor for floor, _ in pairs)
    ours = min(ours for _, ours in pairs)
    return ratio_row(measurement, floor, ours, ours / floor, limit=limit, unit="µs")


def assert_same_work(sink: NullSink, floor: Callable[[], object], ours: Callable[[], object]) -> None:
    """The comparison holds only if both return the same and each logs its one record, every field in it."""
    results = []
    for call in (floor, ours):
        sink.last = None
        results.append(call())
        record = json.loads(sink.last or "{}")
        assert all(name in record for name in LOG_FIELDS), sink.last
    assert results[0] == results[1], results


def warm_invocation(rounds: int, number: int) -> list[Row]:
    """`assignment.handler` per direct invoke against the reference handler, both logging one record
    through the runtime client's JSON logging; and Powertools with pydantic, for information."""
    import assignment
    from task_testing import FakeLambdaContext

    context = FakeLambdaContext("widget")
    sink = NullSink()

    def reference() -> object:
        return reference_handler(PARAMS, context)

    def ours() -> object:
        return assignment.handler(PARAMS, context)

    with lambda_json_logging(sink):
        assert_same_work(sink, reference, ours)
        against_ours = alternate_calls(reference, ours, rounds, number)
    with lambda_json_logging(sink):
        # Created once the runtime client has set logging up, as in Lambda: Powertools then filters its
        # records out of the root logger's handler (its SuppressFilter), so each is formatted once.
        powertools_handle = powertools_handler(sink)

        def powertools() -> object:
            return powertools_handle(PARAMS, context)

        assert_same_work(sink, reference, powertools)
        against_powertools = alternate_calls(reference, powertools, rounds, number)
    return [
        calls_row("Warm invocation: `assignment.handler` vs the reference handler", against_ours, limit=1.2),
        calls_row(
            "Warm invocation: Powertools `Logger` + pydantic vs the reference handler",
            against_powertools,
            limit=None,
        ),
    ]


# --------------------------------------------------------------------------
# 3. SQS


def sqs_event(count: int) -> dict[str, object]:
    """An SQS event of `count` records, as Lambda delivers a standard queue's batch; each body is PARAMS."""
    body = json.dumps(PARAMS)
    records = [
        {
            "messageId": f"{number:08x}-87a3-44ab-83d2-661975830a7d",
            "receiptHandle": f"AQEBad1ec427a8d9acb4c00f9bd75212d5f3ae7d59a9{number:04d}...",
            "body": body,
            "attributes": {
                "ApproximateReceiveCount": "1",
                "SentTimestamp": str(1768212917135 + number),
                "SenderId": "AIDAIENQZJOLO23YVJ4VO",
                "ApproximateFirstReceiveTimestamp": str(1768212917137 + number),
            },
            "messageAttributes": {},
            "md5OfBody": hashlib.md5(body.encode()).hexdigest(),
            "eventSource": "aws:sqs",
            "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:widget-tasks",
            "awsRegion": "us-east-1",
        }
        for number in range(1, count + 1)
    ]
    return {"Records": records}


def sqs_batch(rounds: int, number: int) -> list[Row]:
    """`assignment.handler` on an SQS batch of 10 records against ten direct invocations of the same
    parameters, with the runtime client's JSON logging: what the batch layer and body decoding add."""
    pairs = batch_against_direct(sqs_event(10), rounds, number)
    return [calls_row("SQS: a batch of 10 records vs 10 direct invocations", pairs, limit=1.3)]


def stream_batches(rounds: int, number: int) -> list[Row]:
    """`assignment.handler` on a Kinesis and on a DynamoDB Streams batch of 10 records against ten
    direct invocations, as sqs_batch() measures: what the stream layer and record decoding add."""
    from task_testing import dynamodb_event, kinesis_event

    events = {"Kinesis": kinesis_event(*[PARAMS] * 10), "DynamoDB": dynamodb_event(*[PARAMS] * 10)}
    return [
        calls_row(
            f"{name}: a batch of 10 records vs 10 direct invocations",
            batch_against_direct(event, rounds, number),
            limit=1.3,
        )
        for name, event in events.items()
    ]


def batch_against_direct(event: object, rounds: int, number: int) -> list[tuple[float, float]]:
    """µs per call of ten direct invocations and of one batch `event`, in turn, with JSON logging."""
    import assignment
    from task_testing import FakeLambdaContext

    context = FakeLambdaContext("widget")

    def ten_direct() -> None:
        for _ in range(10):
            assignment.handler(PARAMS, context)

    def batch() -> object:
        return assignment.handler(event, context)

    with lambda_json_logging(NullSink()):
        assert batch() == {"batchItemFailures": []}
        return alternate_calls(ten_direct, batch, rounds, number // 10)


# --------------------------------------------------------------------------
# Secrets by reference


#: What a function's environment holds for its password to come from $env or from $secret.
SECRET_ID = "widget/db-password"
SECRETS_ENVIRONMENT = {
    "AWS_LAMBDA_FUNCTION_NAME": "widget",
    "DB_PASSWORD": str(PARAMS["password"]),
    "TASK_ENV_REFS": "DB_PASSWORD",
    "TASK_SECRET_REFS": f"secret:{SECRET_ID}",
}


@contextlib.contextmanager
def environment_set(variables: Mapping[str, str]) -> Iterator[None]:
    """os.environ holds `variables` for the length of the block, as a function's environment would."""
    before = dict(os.environ)
    os.environ.update(variables)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(before)


def warm_secret(rounds: int, number: int) -> list[Row]:
    """A warm direct invocation whose password is a $secret, served from the in-process cache, against
    the same invocation with $env, both through the runtime client's JSON logging."""
    import assignment
    from task_stores import forget_cached_values
    from task_testing import FakeLambdaContext, secrets_extension

    forget_cached_values()
    context = FakeLambdaContext("widget")
    from_env = {**PARAMS, "password": {"$env": "DB_PASSWORD"}}
    from_secret = {**PARAMS, "password": {"$secret": SECRET_ID}}
    with secrets_extension({f"secret:{SECRET_ID}": str(PARAMS["password"])}) as extension:
        with environment_set({**SECRETS_ENVIRONMENT, **extension}), lambda_json_logging(NullSink()):
            assert assignment.handler(from_env, context) == assignment.handler(from_secret, context)
            pairs = alternate_calls(
                lambda: assignment.handler(from_env, context),
                lambda: assignment.handler(from_secret, context),
                rounds,
                number,
            )
        assert len(extension.requests) == 1, extension.requests  # every other call was served from the cache
    return [calls_row("Secrets: warm invocation, `$secret` from the cache vs `$env`", pairs, limit=1.1)]


#: Run in a fresh Lambda-like process: what `import assignment` leaves unloaded, then the milliseconds
#: of the first invocation whose password is a $secret (its imports plus one request to the stand-in).
FIRST_SECRET_CODE = """
import json, sys, time
import awslambdaric.bootstrap
class Context:
    aws_request_id = "c6af9ac6-7b61-11e6-9a41-93e812345678"
import assignment
print(json.dumps([name for name in ("botocore", "boto3", "http.client") if name in sys.modules]))
started = time.perf_counter()
assignment.handler(EVENT, Context())
print((time.perf_counter() - started) * 1000)
"""


def first_secret(runs: int) -> list[Row]:
    """The first resolution of a $secret in fresh processes, and what `import assignment` loads of the
    store clients (none of botocore, boto3 or `http.client`)."""
    from task_testing import secrets_extension

    event = {**PARAMS, "password": {"$secret": SECRET_ID}}
    code = FIRST_SECRET_CODE.replace("EVENT", repr(event))
    with secrets_extension({f"secret:{SECRET_ID}": str(PARAMS["password"])}) as extension:
        environ = child_environment(**SECRETS_ENVIRONMENT, **extension)
        samples = [run_code(code, environ) for _ in range(runs)]
        assert len(extension.requests) == runs, extension.requests
    loaded = sorted({name for sample in samples for name in json.loads(sample.printed[0])})
    first_ms = [float(sample.printed[1]) for sample in samples]
    return [
        Row(
            "Secrets: after `import assignment`, none of `botocore`, `boto3`, `http.client` is loaded",
            "—",
            ", ".join(f"`{name}`" for name in loaded) or "none",
            "—",
            "none",
            not loaded,
        ),
        Row(
            "Secrets: first `$secret` in a fresh process (imports + one request to the local stand-in)",
            "—",
            f"{statistics.median(first_ms):.1f} ms (fastest {min(first_ms):.1f} ms)",
            "—",
            "< 25 ms",
            statistics.median(first_ms) < 25,
        ),
    ]


# --------------------------------------------------------------------------
# 4. Batch lookup


def write_tinydb_file(path: Path, documents: int) -> None:
    """A TinyDB file of `documents` documents, Widget's among them (halfway), as TinyDB writes it."""
    table = {}
    for number in range(1, documents + 1):
        key = "widget" if number == documents // 2 + 1 else f"task-{number}"
        table[str(number)] = {"task": key, "params": {**PARAMS, "host": f"db-{number}.example.com"}}
    path.write_text(json.dumps({"_default": table}), encoding="utf-8")


def batch_lookup(sizes: list[int], runs: int, targeted: int) -> list[Row]:
    """`BatchWidget(path).run()` in a fresh process against one that imports tinydb and logging,
    json.loads the same file and scans it for the document: time and peak memory.

    Files of `targeted` documents and more have the target; smaller ones are for information.
    """
    rows = []
    environ = child_environment()
    with tempfile.TemporaryDirectory() as directory:
        for size in sizes:
            path = Path(directory) / f"tasks-{size}.json"
            write_tinydb_file(path, size)
            floor = (
                "import json, logging, tinydb\n"
                f"with open({str(path)!r}, encoding='utf-8') as file: tables = json.load(file)\n"
                "found = [doc for doc in tables['_default'].values() if doc.get('task') == 'widget']\n"
                "assert len(found) == 1"
            )
            ours = f"from assignment import BatchWidget\nBatchWidget({str(path)!r}).run()"
            pairs = alternate(partial(run_code, floor, environ), partial(run_code, ours, environ), runs)
            limit = 1.05 if size >= targeted else None
            label = f"Batch lookup, {size:,} documents ({path.stat().st_size / 2**20:.1f} MiB)"
            rows.append(
                ratio_row(
                    f"{label}: time",
                    statistics.median(floor.seconds for floor, _ in pairs) * 1000,
                    statistics.median(ours.seconds for _, ours in pairs) * 1000,
                    median_ratio([(floor.seconds, ours.seconds) for floor, ours in pairs]),
                    limit=limit,
                    unit="ms",
                )
            )
            rows.append(
                ratio_row(
                    f"{label}: peak memory",
                    statistics.median(floor.peak_kib for floor, _ in pairs) / 1024,
                    statistics.median(ours.peak_kib for _, ours in pairs) / 1024,
                    median_ratio([(floor.peak_kib, ours.peak_kib) for floor, ours in pairs]),
                    limit=limit,
                    unit="MiB",
                )
            )
    return rows


# --------------------------------------------------------------------------
# 5. --check --all


def check_all(children: int, runs: int) -> list[Row]:
    """`python assignment.py --runtime batch --db FILE --check --all` on an array job's TinyDB file
    against one child of the same file running: the milliseconds that checking every child adds."""
    table = {
        str(index + 1): {"task": "widget", "array_index": index, "params": {**PARAMS, "host": f"db-{index}"}}
        for index in range(children)
    }
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "array.json"
        path.write_text(json.dumps({"_default": table}), encoding="utf-8")
        command = ["assignment.py", "--runtime", "batch", "--db", str(path)]
        one_child = child_environment(AWS_BATCH_JOB_ARRAY_INDEX="0")
        every_child = child_environment()
        pairs = [
            (run_child(command, one_child)[0], run_child([*command, "--check", "--all"], every_child)[0])
            for _ in range(runs + 1)
        ][1:]
    floor_ms = statistics.median(floor for floor, _ in pairs) * 1000
    ours_ms = statistics.median(ours for _, ours in pairs) * 1000
    extra_ms = statistics.median(ours - floor for floor, ours in pairs) * 1000
    return [
        Row(
            f"`--check --all`, {children:,} array children vs running one child",
            f"{floor_ms:.1f} ms",
            f"{ours_ms:.1f} ms",
            f"+{extra_ms:.1f} ms",
            "well under +1,000 ms",
            extra_ms < 1000,
        )
    ]


# --------------------------------------------------------------------------


def main() -> int:
    """Print the machine, then one table row per measurement as it completes, then notes."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=30, help="fresh processes per side and measurement")
    parser.add_argument("--quick", action="store_true", help="few runs and small files: a smoke test")
    args = parser.parse_args()
    runs = 3 if args.quick else args.runs
    sizes = [10, 1_000] if args.quick else [10, 1_000, 10_000, 100_000]
    rounds, number = (3, 1_000) if args.quick else (60, 2_500)  # many short rounds: some run undisturbed
    compiled = compile_project()

    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    machine = f"Python {platform.python_version()} on {platform.system()} {platform.machine()}"
    print(f"{now}; {machine}, {os.cpu_count()} CPUs.")
    print(f"Fresh processes per side: {runs} ({3 * runs} for the cold start); in-process rounds: {rounds}.")
    print()
    print(Row.HEADER)
    steps = lambda_path_modules()
    measurements: list[Callable[[], list[Row]]] = [
        lambda: cold_start(3 * runs),  # short children and a tight target: more pairs
        lambda: forbidden_modules(steps),
        lambda: warm_invocation(rounds, number),
        lambda: sqs_batch(rounds, number),
        lambda: warm_secret(rounds, number),
        lambda: first_secret(runs),
        lambda: stream_batches(rounds, number),
        lambda: batch_lookup(sizes, runs, targeted=10_000),
        lambda: check_all(1_000 if args.quick else 10_000, runs),
    ]
    missed = []
    for measure in measurements:
        for row in measure():
            print(row, flush=True)
            if row.passed is False:
                missed.append(row.measurement)
    print()
    print("The Lambda path in a fresh process, beyond what the runtime client loads:")
    print("\n".join(str(step) for step in steps))
    print()
    print(f"Missed: {'; '.join(missed)}." if missed else "Every target met.")
    changed = sorted(name for name, mtime in compiled.items() if modified_ns(PROJECT_DIR / name) != mtime)
    if changed:
        print(f"Warning: {', '.join(changed)} changed during the run; stale bytecode skews the figures.")
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
