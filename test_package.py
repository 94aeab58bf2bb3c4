"""Packaging: `pip install` of the checkout installs the library, and only the library."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import venv
import zipfile
from pathlib import Path

import pytest
import yaml  # type: ignore[import-untyped]

from conftest import PROJECT_DIR, write_tinydb

LIBRARY_MODULES = (
    "task",
    "task_check",
    "task_cli",
    "task_deadline",
    "task_deploy",
    "task_deploy_formats",
    "task_deploy_sam",
    "task_deploy_zip",
    "task_engines",
    "task_events",
    "task_everywhere",
    "task_fields",
    "task_http",
    "task_lambda",
    "task_logging",
    "task_process",
    "task_pytest",
    "task_run",
    "task_runtime_api",
    "task_secrets",
    "task_sources",
    "task_store_clients",
    "task_stores",
    "task_streams",
    "task_testing",
    "task_testing_stores",
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


def wheel_file(wheel: Path, suffix: str) -> str:
    with zipfile.ZipFile(wheel) as archive:
        (name,) = (name for name in archive.namelist() if name.endswith(suffix))
        return archive.read(name).decode()


def test_the_wheel_declares_tinydb_as_its_one_dependency_and_the_extras_testing_and_aws(wheel: Path) -> None:
    requirements = [
        line.removeprefix("Requires-Dist: ")
        for line in wheel_file(wheel, "/METADATA").splitlines()
        if line.startswith("Requires-Dist:")
    ]
    assert requirements == [
        "tinydb<5,>=4.8",
        'awslambdaric<5,>=3; sys_platform == "linux" and extra == "testing"',
        'pytest>=8; extra == "testing"',
        'botocore>=1.34; extra == "aws"',
    ]


def test_the_wheel_puts_task_run_on_path_and_registers_the_pytest_plugin(wheel: Path) -> None:
    entry_points = wheel_file(wheel, "/entry_points.txt")
    assert "[console_scripts]\ntask-run = task_run:main\n" in entry_points
    assert "[pytest11]\ntask_pytest = task_pytest\n" in entry_points


@pytest.fixture(scope="module")
def environment(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh virtual environment with the wheel and its extra testing installed, and nothing else."""
    environment = tmp_path_factory.mktemp("venv")
    venv.create(environment, with_pip=True)
    pip = (environment / "bin" / "python", "-m", "pip", "install", "--quiet", "--disable-pip-version-check")
    run(*pip, f"{wheel}[testing]", cwd=environment)
    return environment


def test_in_a_fresh_environment_task_imports_from_any_directory_and_assignment_does_not(
    environment: Path, tmp_path: Path
) -> None:
    code = (
        "import importlib.util, task, task_cli, task_lambda, task_testing\n"
        "print(task.__file__)\n"
        "print(importlib.util.find_spec('assignment'))\n"
        "print(task.run_command_line.__module__, task.FakeLambdaContext.__module__)\n"
    )
    location, assignment, names = run(
        environment / "bin" / "python", "-I", "-c", code, cwd=tmp_path
    ).splitlines()
    assert "site-packages" in location
    assert assignment == "None"
    assert names == "task_cli task_testing"


# --------------------------------------------------------------------------
# deploy/'s job definition and Kubernetes Job, run as their containers run them


def container_of(artefact: str) -> tuple[list[str], dict[str, str]]:
    """The command and the plain environment variables of deploy/'s Batch job definition or Kubernetes Job."""
    if artefact == "batch":
        container = json.loads((PROJECT_DIR / "deploy" / "batch-job-definition.json").read_text())
        properties = container["containerProperties"]
        return properties["command"], {item["name"]: item["value"] for item in properties["environment"]}
    job = yaml.safe_load((PROJECT_DIR / "deploy" / "k8s-job.yaml").read_text())
    (task,) = job["spec"]["template"]["spec"]["containers"]
    return task["command"], {item["name"]: item["value"] for item in task["env"] if "value" in item}


#: What each engine sets in the container of child `i`, besides the job's own environment.
ENGINE_VARIABLES = {
    "batch": lambda i: {"AWS_BATCH_JOB_ID": "8f2c1d3e-array", "AWS_BATCH_JOB_ARRAY_INDEX": str(i)},
    "kubernetes": lambda i: {"JOB_COMPLETION_INDEX": str(i)},
}


#: Each artefact's engine, as the children's log records name it.
ENGINES = {"batch": "aws-batch", "kubernetes": "kubernetes"}
#: fixtures/tasks.json: each child's host.
HOSTS = {0: "db-eu.example.com", 1: "db-us.example.com", 2: "db-ap.example.com"}


@pytest.mark.parametrize("artefact", ENGINES)
@pytest.mark.parametrize("index", [0, 2])
def test_deploys_job_runs_each_child_with_the_installed_library_as_its_container_would(
    environment: Path, tmp_path: Path, artefact: str, index: int
) -> None:
    command, variables = container_of(artefact)
    app = tmp_path / "app"  # the image's working directory: the task's module and its TinyDB file
    app.mkdir()
    shutil.copy(PROJECT_DIR / "assignment.py", app)
    shutil.copy(PROJECT_DIR / "fixtures" / "tasks.json", app / "tasks.json")
    secret = "s3cr3t-from-the-platform"
    env = {
        "PATH": f"{environment / 'bin'}:/usr/bin:/bin",
        **variables,
        "TASK_CONFIG_DB": str(app / "tasks.json"),  # where the image (or the ConfigMap) puts it
        "DB_PASSWORD": secret,  # the job's secret, as the platform injects it
        **ENGINE_VARIABLES[artefact](index),
    }
    done = subprocess.run(command, cwd=app, env=env, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["host"] == HOSTS[index]
    (record,) = [json.loads(line) for line in done.stderr.splitlines()]  # JSON lines, as a job logs
    assert (record["engine"], record["array_index"], record["outcome"]) == (ENGINES[artefact], index, "ok")
    assert secret not in done.stdout + done.stderr


@pytest.mark.parametrize("artefact", ENGINES)
def test_a_child_without_its_document_exits_2_which_its_engine_does_not_retry(
    environment: Path, tmp_path: Path, artefact: str
) -> None:
    command, variables = container_of(artefact)
    shutil.copy(PROJECT_DIR / "assignment.py", tmp_path)
    shutil.copy(PROJECT_DIR / "fixtures" / "tasks.json", tmp_path / "tasks.json")
    env = {
        "PATH": f"{environment / 'bin'}:/usr/bin:/bin",
        **variables,
        "TASK_CONFIG_DB": str(tmp_path / "tasks.json"),
        **ENGINE_VARIABLES[artefact](7),
    }
    done = subprocess.run(
        command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 2
    assert "no document with key 'widget' and array_index 7" in done.stderr


# --------------------------------------------------------------------------
# A user's own task, as the README's section "Your own task" writes it


def readme_files() -> dict[str, str]:
    """The files the README's section "Your own task" shows: each code block that starts "# NAME"."""
    readme = (PROJECT_DIR / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("## Your own task\n") :]
    section = section[: section.index("\n## ", 1)]
    blocks = re.findall(r"```(?:python|toml)\n# (\S+)\n(.*?)```", section, flags=re.DOTALL)
    return {name: f"# {name}\n{text}" for name, text in blocks}


@pytest.fixture(scope="module")
def project(environment: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The user's project, outside the checkout: the README's files, and parameters for each runtime."""
    project = tmp_path_factory.mktemp("nightly")
    for name, text in readme_files().items():
        (project / name).write_text(text, encoding="utf-8")
    params = {"bucket": "exports", "days": 3, "token": "example"}
    (project / "nightly.json").write_text(json.dumps(params))
    (project / "event.json").write_text(json.dumps(params))
    documents: list[dict[str, object]] = [{"task": "nightly", "params": params}]
    documents += [{"task": "nightly", "array_index": index, "params": params} for index in range(3)]
    write_tinydb(project / "tasks.json", documents)
    return project


def in_project(environment: Path, project: Path, *command: str) -> subprocess.CompletedProcess[str]:
    """A command of the environment's bin/, run in the user's project with only PATH set."""
    path = f"{environment / 'bin'}:/usr/bin:/bin"
    return subprocess.run(
        [str(environment / "bin" / command[0]), *command[1:]],
        cwd=project,
        env={"PATH": path, "LANG": "C.UTF-8"},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_the_readme_shows_the_task_its_tests_and_the_mypy_setting() -> None:
    assert list(readme_files()) == ["nightly.py", "test_nightly.py", "pyproject.toml"]


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        (["--config", "nightly.json", "--check"], "Valid: the task would run with these parameters."),
        (["--config", "nightly.json"], '{"runtime": "local", "bucket": "exports", "days": 3, '),
        (["--event", "event.json"], '{"runtime": "lambda", "bucket": "exports", "days": 3, '),
        (["--event", "event.json", "--handler", "nightly.handler"], '{"runtime": "lambda", "bucket": '),
        (["--runtime", "batch", "--db", "tasks.json", "--check", "--all"], "Valid: every document would run"),
    ],
    ids=["check", "local", "event", "handler", "check-all"],
)
def test_task_run_runs_and_checks_the_users_task(
    environment: Path, project: Path, options: list[str], expected: str
) -> None:
    done = in_project(environment, project, "task-run", "nightly:NightlyExport", *options)
    assert done.returncode == 0, done.stderr
    assert expected in done.stdout


def test_pytest_runs_the_users_tests_with_the_event_builders_run_everywhere_and_both_fixtures(
    environment: Path, project: Path
) -> None:
    done = in_project(environment, project, "pytest", "-p", "no:cacheprovider", "-rs", "test_nightly.py")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "3 passed" in done.stdout
    assert "skipped" not in done.stdout


@pytest.mark.parametrize("readme_setting", [True, False], ids=["with-the-readme-setting", "without"])
def test_mypy_strict_checks_the_users_task_against_the_installed_library(
    environment: Path, project: Path, readme_setting: bool, tmp_path: Path
) -> None:
    config = project / "pyproject.toml" if readme_setting else tmp_path / "strict.toml"
    if not readme_setting:
        config.write_text("[tool.mypy]\nstrict = true\n")
    mypy = [sys.executable, "-m", "mypy", "--config-file", str(config), "--no-incremental"]
    done = subprocess.run(
        [*mypy, "--python-executable", str(environment / "bin" / "python"), "nightly.py", "test_nightly.py"],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    if readme_setting:
        assert (done.returncode, done.stdout) == (0, "Success: no issues found in 2 source files\n")
    else:
        assert done.returncode == 1
        assert 'Class cannot subclass "LambdaTask" (has type "Any")' in done.stdout


def test_the_readmes_mypy_setting_names_every_module_of_the_wheel(wheel: Path) -> None:
    setting = readme_files()["pyproject.toml"]
    named = re.findall(
        r'"(\w+)"', setting[setting.index("module = [") : setting.index("]\nfollow_untyped_imports")]
    )
    with zipfile.ZipFile(wheel) as archive:
        modules = sorted(name.removesuffix(".py") for name in archive.namelist() if name.endswith(".py"))
    assert named == modules
    assert setting.endswith("]\nfollow_untyped_imports = true\n")


def test_in_a_fresh_environment_task_deploy_writes_all_four_outputs_for_a_users_task(
    wheel: Path, tmp_path: Path
) -> None:
    """The wheel alone installed; the user's own task in a directory of their own; each output valid."""
    from botocore.validate import validate_parameters  # type: ignore[import-untyped]

    from conftest import REPORT_EVENT, REPORT_TASK
    from test_deploy import cfn_lint, register_job_definition_input, run_handler_from, validate_k8s_job

    environment = tmp_path / "venv"
    venv.create(environment, with_pip=True)
    python = environment / "bin" / "python"
    pip = ("-m", "pip", "install", "--quiet", "--no-deps", "--disable-pip-version-check")
    run(python, *pip, wheel, cwd=tmp_path)
    myjobs = tmp_path / "myjobs"
    myjobs.mkdir()
    (myjobs / "report_sync.py").write_text(REPORT_TASK, encoding="utf-8")
    task, image = "report_sync:ReportSync", ("--image", "example.com/reports:1")
    triggers = [f"--trigger={trigger}" for trigger in ("http", "sqs", "sns", "kinesis", "dynamodb")]
    stores = ("--secret", "api_token=secret:reports/api#token", "--secret", "signing_key=ssm:/reports/key")
    for command in (
        ["zip", "--handler", "report_sync.handler", "-o", "lambda.zip"],
        [
            "sam",
            task,
            "--handler",
            "report_sync.handler",
            "--runtime",
            "python3.12",
            *triggers,
            *stores,
            "-o",
            "template.yaml",
        ],
        ["batch-job", task, *image, *stores, "-o", "job-definition.json"],
        [
            "k8s-job",
            task,
            *image,
            "--completions",
            "4",
            "--secret",
            "api_token=file:/run/secrets/t",
            "-o",
            "job.yaml",
        ],
    ):
        run(
            python,
            "-m",
            "task_deploy",
            *command,
            *(["-o", "template.yaml"] if command[0] == "sam" else []),
            cwd=myjobs,
        )

    assert cfn_lint(myjobs / "template.yaml") == {myjobs / "template.yaml": []}
    validate_parameters(
        json.loads((myjobs / "job-definition.json").read_text()), register_job_definition_input()
    )
    validate_k8s_job(yaml.safe_load((myjobs / "job.yaml").read_text()))
    with zipfile.ZipFile(myjobs / "lambda.zip") as archive:
        archive.extractall(tmp_path / "code")
    result, _ = run_handler_from(tmp_path / "code", handler="report_sync.handler", event=REPORT_EVENT)
    assert result == {"bucket": "b", "retries": 3, "token": "***"}
