"""Build the AWS Lambda zip: the library's modules and the example task, with bytecode for the runtime."""

from __future__ import annotations

import argparse
import importlib.util
import platform
import py_compile
import re
import sys
import tempfile
import zipfile
from pathlib import Path

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence

__all__ = ["BuildError", "build", "lambda_modules", "main", "template_python_version"]

REPO = Path(__file__).resolve().parent.parent
TEMPLATE = REPO / "deploy" / "template.yaml"
DEFAULT_OUTPUT = REPO / "dist" / "lambda.zip"
#: The task the function runs; the library's own modules are found by name beside it.
TASK_MODULE = "assignment.py"
#: Library modules the function never imports (TinyDB is not in the repository at all).
TEST_ONLY_MODULES = frozenset({"task_testing.py", "task_testing_streams.py"})
#: Every entry gets this time, so the same sources and interpreter build the same bytes.
ZIP_TIME = (1980, 1, 1, 0, 0, 0)


class BuildError(Exception):
    """A problem the person building must fix; the message is the whole explanation."""


def template_python_version(template: Path) -> str:
    """The Python version ("3.12") of the template's one `Runtime: python3.N` line."""
    text = template.read_text(encoding="utf-8")
    versions: set[str] = set(re.findall(r"^\s*Runtime:\s*python(3\.\d+)\s*$", text, re.MULTILINE))
    if len(versions) != 1:
        raise BuildError(f"{template}: expected one 'Runtime: python3.N' line, found {len(versions)}")
    return versions.pop()


def parse_python_version(text: str) -> str:
    """`3.12` or `python3.12` as `3.12`; anything else is a usage error."""
    match = re.fullmatch(r"(?:python)?(3\.\d+)", text)
    if match is None:
        raise argparse.ArgumentTypeError(f"expected a version like 3.12, not {text!r}")
    return match.group(1)


def check_interpreter(python_version: str) -> None:
    """Refuse to compile bytecode that the function's runtime would not load."""
    running = f"{sys.version_info.major}.{sys.version_info.minor}"
    if sys.implementation.name != "cpython" or running != python_version:
        raise BuildError(
            f"the function runs CPython {python_version} but this is {platform.python_implementation()} "
            f"{platform.python_version()} ({sys.executable}): run this script with Python {python_version}"
        )


def lambda_modules(repo: Path) -> list[Path]:
    """The task and the library modules it may import: task.py and task_*.py, less the test helpers."""
    library = [repo / "task.py", *sorted(repo.glob("task_*.py"))]
    modules = [path for path in library if path.name not in TEST_ONLY_MODULES] + [repo / TASK_MODULE]
    missing = [path.name for path in modules if not path.is_file()]
    if missing:
        raise BuildError(f"missing in {repo}: {', '.join(missing)}")
    return modules


def build(output: Path, repo: Path = REPO) -> list[str]:
    """Write the zip: each module and its unchecked-hash bytecode; return the entry names."""
    entries: dict[str, bytes] = {}
    with tempfile.TemporaryDirectory() as staging:
        for source in lambda_modules(repo):
            # Relative to the zip's root, as CPython looks for it: __pycache__/task.cpython-312.pyc.
            cached_name = importlib.util.cache_from_source(source.name, optimization="")
            compiled = Path(staging) / cached_name
            # Unchecked: the runtime loads the bytecode without comparing it with the source, so
            # file times that a zip does not keep cannot make it stale and recompile at each cold start.
            try:
                py_compile.compile(
                    str(source),
                    cfile=str(compiled),
                    dfile=source.name,
                    doraise=True,
                    optimize=0,
                    invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH,
                )
            except py_compile.PyCompileError as error:
                raise BuildError(f"cannot compile {source.name}: {error.exc_type_name}") from error
            entries[source.name] = source.read_bytes()
            entries[Path(cached_name).as_posix()] = compiled.read_bytes()
    output.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(output, "w") as archive:
        for name in sorted(entries):
            info = zipfile.ZipInfo(name, ZIP_TIME)
            info.create_system = 3  # Unix, so that the permissions below apply
            info.external_attr = 0o644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, entries[name])
    return sorted(entries)


def main(argv: Sequence[str] | None = None) -> int:
    """`python deploy/package_lambda.py`: check the interpreter, then build the zip."""
    parser = argparse.ArgumentParser(prog="package_lambda.py", description=__doc__)
    parser.add_argument(
        "--python-version",
        type=parse_python_version,
        help="the function runtime's Python, e.g. 3.12 (default: the Runtime in deploy/template.yaml)",
    )
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT, help="default: dist/lambda.zip")
    args = parser.parse_args(argv)
    try:
        python_version = args.python_version or template_python_version(TEMPLATE)
        check_interpreter(python_version)
        names = build(args.output)
    except BuildError as error:
        parser.exit(2, f"{parser.prog}: error: {error}\n")
    print(f"{args.output}: {len(names)} files for Python {python_version}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
