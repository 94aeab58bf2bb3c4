"""Packaging: `pip install` of the checkout installs the library, and only the library."""

from __future__ import annotations

import shutil
import subprocess
import sys
import venv
import zipfile
from pathlib import Path

import pytest

from conftest import PROJECT_DIR

LIBRARY_MODULES = (
    "task",
    "task_check",
    "task_cli",
    "task_deadline",
    "task_fields",
    "task_lambda",
    "task_logging",
    "task_secrets",
    "task_sources",
    "task_streams",
    "task_testing",
    "task_testing_streams",
)


def run(*command: str | Path, cwd: Path) -> str:
    done = subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel pip builds from a copy of the checkout (so the build leaves nothing in it)."""
    source = tmp_path_factory.mktemp("checkout")
    for path in PROJECT_DIR.iterdir():
        if path.suffix in (".py", ".toml", ".txt", ".md"):
            shutil.copy(path, source)
    dist = tmp_path_factory.mktemp("dist")
    run(sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--wheel-dir", dist, source, cwd=source)
    (built,) = dist.glob("*.whl")
    return built


def test_the_distribution_is_not_named_task(wheel: Path) -> None:
    assert wheel.name.startswith("task_runtimes-")


def test_the_wheel_holds_the_library_modules_and_nothing_else(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as archive:
        modules = sorted(name for name in archive.namelist() if not name.startswith("task_runtimes-"))
    assert modules == [f"{module}.py" for module in LIBRARY_MODULES]


def test_the_wheel_declares_tinydb_as_its_one_dependency(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as archive:
        (metadata,) = (name for name in archive.namelist() if name.endswith("/METADATA"))
        requirements = [
            line for line in archive.read(metadata).decode().splitlines() if line.startswith("Requires-Dist:")
        ]
    assert requirements == ["Requires-Dist: tinydb<5,>=4.8"]


def test_in_a_fresh_environment_task_imports_from_any_directory_and_assignment_does_not(
    wheel: Path, tmp_path: Path
) -> None:
    environment = tmp_path / "venv"
    venv.create(environment, with_pip=True)
    python = environment / "bin" / "python"
    run(
        python,
        "-m",
        "pip",
        "install",
        "--quiet",
        "--no-deps",
        "--disable-pip-version-check",
        wheel,
        cwd=tmp_path,
    )
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    code = (
        "import importlib.util, task, task_cli, task_lambda, task_testing\n"
        "print(task.__file__)\n"
        "print(importlib.util.find_spec('assignment'))\n"
        "print(task.run_command_line.__module__, task.FakeLambdaContext.__module__)\n"
    )
    location, assignment, names = run(python, "-I", "-c", code, cwd=elsewhere).splitlines()
    assert "site-packages" in location
    assert assignment == "None"
    assert names == "task_cli task_testing"
