"""Measure what the library costs a Lambda cold start, a warm invocation and a Batch job.

Every figure is a ratio against a floor measured in the same run, alternating
the two so that a shared, noisy machine slows both alike. `make bench` runs it
and prints Markdown tables for the README's Performance section.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import py_compile
import statistics
import subprocess
import sys
import tempfile
import time
import timeit
from dataclasses import dataclass
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parent

#: Printed by each child as its last line: peak resident memory in KiB.
PEAK_MEMORY = "import resource; print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)"

EVENT = {
    "host": "db.example.com",
    "port": 5432,
    "database": "widgets",
    "user": "widget_app",
    "password": "pw",
}


@dataclass(frozen=True)
class Sample:
    seconds: float
    peak_kib: int


def run_child(code: str) -> Sample:
    """Run `python -c code` in a fresh process; time it and read its peak memory.

    The child is started by a shell that then waits for it: on Linux a process's
    ru_maxrss starts from its parent's peak when it forks, and the shell's is
    tiny where this script's is not.
    """
    started = time.perf_counter()
    completed = subprocess.run(
        ["/bin/sh", "-c", '"$@"; exit $?', "sh", sys.executable, "-c", f"{code}\n{PEAK_MEMORY}"],
        cwd=PROJECT_DIR,
        capture_output=True,
        text=True,
        check=True,
    )
    seconds = time.perf_counter() - started
    return Sample(seconds, int(completed.stdout.split()[-1]))


@dataclass(frozen=True)
class Comparison:
    floor: list[Sample]
    ours: list[Sample]

    def median_ms(self, samples: list[Sample]) -> float:
        return statistics.median(sample.seconds for sample in samples) * 1000

    def median_mib(self, samples: list[Sample]) -> float:
        return statistics.median(sample.peak_kib for sample in samples) / 1024

    @property
    def time_ratio(self) -> float:
        """The median of the pair-by-pair ratios: each pair ran back to back."""
        return statistics.median(o.seconds / f.seconds for f, o in zip(self.floor, self.ours, strict=True))

    @property
    def memory_ratio(self) -> float:
        return statistics.median(o.peak_kib / f.peak_kib for f, o in zip(self.floor, self.ours, strict=True))


def compare(floor_code: str, our_code: str, runs: int) -> Comparison:
    """Run the two alternately, `runs` times each, after one warm-up of each."""
    run_child(floor_code)
    run_child(our_code)
    floor, ours = [], []
    for _ in range(runs):
        floor.append(run_child(floor_code))
        ours.append(run_child(our_code))
    return Comparison(floor, ours)


def cold_start(runs: int) -> list[str]:
    client = "import awslambdaric.bootstrap"
    lambda_start = compare(client, f"{client}\nimport assignment", runs)
    command = (
        "import sys, runpy; sys.argv = ['assignment.py', '--config', 'fixtures/widget.json'];\n"
        "import contextlib, io\n"
        "with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):\n"
        "    try: runpy.run_path('assignment.py', run_name='__main__')\n"
        "    except SystemExit: pass"
    )
    command_line = compare("pass", command, runs)
    return [
        "| start-up | floor | ours | time ratio | floor peak | our peak | memory ratio |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
        _row("Lambda cold start: runtime client + `import assignment`", lambda_start, "target < 1.30"),
        _row("`python assignment.py --config fixtures/widget.json` vs `python -c pass`", command_line, ""),
    ]


def _row(label: str, comparison: Comparison, target: str) -> str:
    floor, ours = comparison.floor, comparison.ours
    target = f" ({target})" if target else ""
    cells = [
        label,
        f"{comparison.median_ms(floor):.1f} ms",
        f"{comparison.median_ms(ours):.1f} ms",
        f"{comparison.time_ratio:.2f}x{target}",
        f"{comparison.median_mib(floor):.1f} MiB",
        f"{comparison.median_mib(ours):.1f} MiB",
        f"{comparison.memory_ratio:.2f}x",
    ]
    return "| " + " | ".join(cells) + " |"


@dataclass(frozen=True)
class MinimalParams:
    host: str
    port: int
    database: str
    user: str
    password: str


def minimal_handler(event: dict[str, object], context: object) -> dict[str, object]:
    """The least a handler can do with the event: type-check five fields, build a frozen dataclass."""
    host, port, database, user, password = (
        event.get(k) for k in ("host", "port", "database", "user", "password")
    )
    if not (
        isinstance(host, str)
        and type(port) is int
        and isinstance(database, str)
        and isinstance(user, str)
        and isinstance(password, str)
    ):
        raise ValueError("bad event")
    params = MinimalParams(host, port, database, user, password)
    return {
        "runtime": "lambda",
        "host": params.host,
        "port": params.port,
        "database": params.database,
        "user": params.user,
        "password": "***",
        "connection": f"{params.user}@{params.host}:{params.port}/{params.database}",
    }


def bare_handler(event: dict[str, object], context: object) -> dict[str, object]:
    return event


def warm_invocation(repeats: int) -> list[str]:
    import logging

    import assignment
    from task import FakeLambdaContext

    logging.getLogger().setLevel(logging.WARNING)
    context = FakeLambdaContext("widget")
    assert assignment.handler(dict(EVENT), context) == minimal_handler(dict(EVENT), context)
    handlers = {"bare": bare_handler, "minimal": minimal_handler, "ours": assignment.handler}
    per_call: dict[str, list[float]] = {name: [] for name in handlers}
    number = 20_000
    for _ in range(repeats):  # alternate, so drift hits all three alike
        for name, handler in handlers.items():
            seconds = timeit.timeit(lambda h=handler: h(EVENT, context), number=number)  # type: ignore[misc]
            per_call[name].append(seconds / number * 1e6)
    median = {name: statistics.median(values) for name, values in per_call.items()}

    def ratio(name: str) -> float:
        pairs = zip(per_call[name], per_call["minimal"], strict=True)
        return statistics.median(ours / minimal for ours, minimal in pairs)

    return [
        "| per warm invocation | µs per call | ratio to the minimal handler |",
        "| --- | ---: | ---: |",
        f"| a bare handler (returns the event) | {median['bare']:.2f} | {ratio('bare'):.2f}x |",
        f"| the minimal handler (type checks, a frozen dataclass) | {median['minimal']:.2f} | 1.00x |",
        f"| `assignment.handler` | {median['ours']:.2f} | {ratio('ours'):.2f}x (target <= 1.50) |",
    ]


def write_tinydb_file(path: Path, documents: int) -> None:
    """A TinyDB file of `documents` documents, Widget's among them, as TinyDB writes it."""
    table = {}
    for number in range(1, documents + 1):
        key = "widget" if number == documents // 2 + 1 else f"task-{number}"
        table[str(number)] = {"task": key, "params": {**EVENT, "host": f"db-{number}.example.com"}}
    path.write_text(json.dumps({"_default": table}))


def batch_lookup(sizes: list[int], runs: int) -> list[str]:
    columns = ["documents", "file", "floor time", "our time", "time ratio", "added"]
    columns += ["floor peak", "our peak", "memory ratio"]
    lines = ["| " + " | ".join(columns) + " |", "|" + " ---: |" * len(columns)]
    with tempfile.TemporaryDirectory() as directory:
        for size in sizes:
            path = Path(directory) / f"tasks-{size}.json"
            write_tinydb_file(path, size)
            floor = (
                f"import json\nwith open({str(path)!r}) as f: tables = json.load(f)\n"
                "found = [d for d in tables['_default'].values() if d.get('task') == 'widget']\n"
                "assert len(found) == 1"
            )
            ours = f"from assignment import BatchWidget\nBatchWidget({str(path)!r}).run()"
            comparison = compare(floor, ours, runs if size < 100_000 else max(3, runs // 3))
            floor_ms, our_ms = comparison.median_ms(comparison.floor), comparison.median_ms(comparison.ours)
            cells = [
                f"{size:,}",
                f"{path.stat().st_size / 2**20:.2f} MiB",
                f"{floor_ms:.1f} ms",
                f"{our_ms:.1f} ms",
                f"{comparison.time_ratio:.2f}x",
                f"{our_ms - floor_ms:+.1f} ms",
                f"{comparison.median_mib(comparison.floor):.1f} MiB",
                f"{comparison.median_mib(comparison.ours):.1f} MiB",
                f"{comparison.memory_ratio:.2f}x",
            ]
            lines.append("| " + " | ".join(cells) + " |")
    return lines


def compile_project() -> None:
    """Write the project's bytecode, as a deployed package ships it (pip does the same for
    installed packages): otherwise every fresh process, with PYTHONDONTWRITEBYTECODE set
    or a read-only code directory, compiles the modules again."""
    for module in ("task.py", "assignment.py"):
        py_compile.compile(str(PROJECT_DIR / module), doraise=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=30, help="fresh processes per side and measurement")
    parser.add_argument("--quick", action="store_true", help="few runs and small files: a smoke test")
    args = parser.parse_args()
    runs = 3 if args.quick else args.runs
    sizes = [10, 1_000] if args.quick else [10, 1_000, 10_000, 100_000]
    compile_project()
    machine = f"Python {platform.python_version()} on {platform.machine()}, {os.cpu_count()} cores"
    print(f"{machine}; {runs} runs per side.")
    for section in (cold_start(runs), warm_invocation(3 if args.quick else 7), batch_lookup(sizes, runs)):
        print()
        print("\n".join(section))
    return 0


if __name__ == "__main__":
    sys.exit(main())
