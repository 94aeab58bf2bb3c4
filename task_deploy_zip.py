"""The Lambda zip of task_deploy: the handler's module, the library modules the Lambda path imports,
whatever the user includes, and unchecked-hash bytecode for the running Python; the same bytes each time."""

from __future__ import annotations

import importlib.util
import py_compile
import sys
import tempfile
import zipfile
from pathlib import Path

from task import ConfigError
from task_run import TargetError, find_handler

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence

__all__ = ["LAMBDA_MODULES", "ZIP_TIME", "build_zip", "check_runtime", "lambda_files"]

#: The library's modules that the Lambda path imports (checked by test_deploy against what running
#: the handler loads): the zip holds these, never the test kit, the command line or TinyDB.
LAMBDA_MODULES = (
    "task",
    "task_deadline",
    "task_fields",
    "task_http",
    "task_lambda",
    "task_secrets",
    "task_sources",
    "task_store_clients",
    "task_stores",
    "task_streams",
)

#: Every zip entry gets this time, so that the same inputs build the same bytes.
ZIP_TIME = (1980, 1, 1, 0, 0, 0)


def _module_files(module_name: str) -> dict[str, Path]:
    """Archive name -> file for a module (its .py) or a package (every .py file under it)."""
    spec = importlib.util.find_spec(module_name)
    origin = Path(spec.origin) if spec is not None and spec.origin else None
    if origin is None or origin.suffix != ".py":
        raise ConfigError(module_name, ["not found as a Python source file"])
    if spec is not None and spec.submodule_search_locations is None:
        return {origin.name: origin}
    package = origin.parent
    return {
        path.relative_to(package.parent).as_posix(): path
        for path in sorted(package.rglob("*.py"))
        if "__pycache__" not in path.parts
    }


def _included_files(include: str) -> dict[str, Path]:
    """Archive name -> file for `--include PATH`, a file or directory below the current directory."""
    path = Path(include)
    here = Path.cwd().resolve()
    if path.is_absolute() or ".." in path.parts or not path.exists() or here not in path.resolve().parents:
        raise ConfigError(f"--include {include!r}", ["expected an existing path below the current directory"])
    files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
    outside = [file for file in files if here not in file.resolve().parents]  # links out of the project
    if outside:
        raise ConfigError(f"--include {include!r}", [f"{outside[0]} links outside the current directory"])
    return {
        file.as_posix(): file for file in files if "__pycache__" not in file.parts and file.suffix != ".pyc"
    }


def lambda_files(handler: str, includes: Sequence[str] = ()) -> dict[str, Path]:
    """Everything the zip holds but bytecode: library modules, the handler's module, the includes."""
    try:
        find_handler(handler)  # its module imports, and it is a function
    except TargetError as error:
        raise ConfigError(str(error)) from error
    module_name = handler.rpartition(".")[0]
    files: dict[str, Path] = {}
    for library_module in LAMBDA_MODULES:
        files.update(_module_files(library_module))
    files.update(_module_files(module_name.partition(".")[0]))
    for include in includes:
        files.update(_included_files(include))
    return files


def build_zip(output: Path, handler: str, includes: Sequence[str] = ()) -> list[str]:
    """Write the Lambda zip: each file and, for Python sources, unchecked-hash bytecode; its entry names."""
    entries: dict[str, bytes] = {}
    with tempfile.TemporaryDirectory() as staging:
        for name, source in lambda_files(handler, includes).items():
            entries[name] = source.read_bytes()
            if source.suffix != ".py":
                continue
            # Where CPython looks for it: __pycache__/task.cpython-312.pyc beside the source.
            cached = importlib.util.cache_from_source(name, optimization="")
            compiled = Path(staging, cached)
            # Unchecked: the runtime loads it without comparing it with the source's time, which
            # a zip does not keep; Lambda's code directory is read-only, so it is never rewritten.
            try:
                py_compile.compile(
                    str(source),
                    cfile=str(compiled),
                    dfile=name,
                    doraise=True,
                    invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH,
                )
            except py_compile.PyCompileError as error:
                raise ConfigError(name, [f"cannot compile: {error.exc_type_name}"]) from error
            entries[Path(cached).as_posix()] = compiled.read_bytes()
    output.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(output, "w") as archive:
        for name in sorted(entries):
            info = zipfile.ZipInfo(name, ZIP_TIME)
            info.create_system = 3  # Unix, so that the permissions below apply
            info.external_attr = 0o644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, entries[name])
    return sorted(entries)


def check_runtime(runtime: str) -> None:
    """Refuse to compile bytecode that the function's runtime would not load."""
    running = f"python{sys.version_info.major}.{sys.version_info.minor}"
    if sys.implementation.name != "cpython" or runtime != running:
        raise ConfigError(
            f"--runtime {runtime}",
            [f"this is {sys.implementation.name} {running[6:]} ({sys.executable}): build with {runtime}"],
        )
