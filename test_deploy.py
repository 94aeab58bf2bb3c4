"""The deploy files: the SAM template, the Batch job definition, and the Lambda zip they deploy."""

from __future__ import annotations

import copy
import fnmatch
import importlib.util
import json
import platform
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import botocore.session  # type: ignore[import-untyped]
import pytest
from botocore.exceptions import ParamValidationError  # type: ignore[import-untyped]
from botocore.validate import validate_parameters  # type: ignore[import-untyped]
from cfnlint.decode import cfn_yaml  # type: ignore[import-untyped]

from deploy import package_lambda

PROJECT_DIR = Path(__file__).resolve().parent
DEPLOY_DIR = PROJECT_DIR / "deploy"
TEMPLATE = DEPLOY_DIR / "template.yaml"
JOB_DEFINITION = DEPLOY_DIR / "batch-job-definition.json"
PACKAGE_SCRIPT = DEPLOY_DIR / "package_lambda.py"

RUNNING_VERSION = f"{sys.version_info.major}.{sys.version_info.minor}"
OTHER_VERSION = f"3.{sys.version_info.minor + 1}"
WIDGET_EVENT = {"host": "h", "port": 5432, "database": "d", "user": "u", "password": "p"}

#: Imports the task from the directory given as argv[1], runs the handler, prints its result.
RUN_HANDLER = f"""\
import json, sys
sys.path.insert(0, sys.argv[1])
import assignment
print(json.dumps(assignment.handler({json.dumps(WIDGET_EVENT)}, None)))
"""


# --- The SAM template -------------------------------------------------------------------------


def _cfn_lint(*templates: Path) -> dict[Path, list[str]]:
    """Each template's cfn-lint findings (errors, warnings and informational), one line each."""
    completed = subprocess.run(
        [sys.executable, "-c", "from cfnlint.runner import main; main()", "--format", "parseable", "--"]
        + [str(template) for template in templates],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    findings: dict[Path, list[str]] = {template: [] for template in templates}
    for line in completed.stdout.splitlines():
        findings[Path(line.split(":", 1)[0])].append(line)
    assert completed.stderr == ""
    return findings


@pytest.fixture(scope="module")
def cfn_lint_findings(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[str]]:
    """cfn-lint run once over the template and a copy broken on purpose (an unknown runtime)."""
    broken = tmp_path_factory.mktemp("broken") / "template.yaml"
    text = TEMPLATE.read_text(encoding="utf-8")
    assert "Runtime: python3.12" in text
    broken.write_text(text.replace("Runtime: python3.12", "Runtime: python3.99"), encoding="utf-8")
    findings = _cfn_lint(TEMPLATE, broken)
    return {"template": findings[TEMPLATE], "broken": findings[broken]}


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    loaded: dict[str, Any] = cfn_yaml.load(str(TEMPLATE))
    return loaded


@pytest.fixture(scope="module")
def function(template) -> dict[str, Any]:
    properties: dict[str, Any] = template["Resources"]["WidgetFunction"]["Properties"]
    return properties


def _event_of_type(function, event_type: str) -> dict[str, Any]:
    properties: list[dict[str, Any]] = [
        event["Properties"] for event in function["Events"].values() if event["Type"] == event_type
    ]
    (only,) = properties
    return only


def test_template_passes_cfn_lint_without_a_finding(cfn_lint_findings):
    assert cfn_lint_findings["template"] == []


def test_cfn_lint_fails_a_template_with_an_unknown_runtime(cfn_lint_findings):
    assert any(":E3030:" in line and "python3.99" in line for line in cfn_lint_findings["broken"])


def test_function_runs_the_handler_from_the_zip_the_packaging_script_builds(function):
    assert function["Handler"] == "assignment.handler"
    assert function["Runtime"] == "python3.12"
    assert (TEMPLATE.parent / function["CodeUri"]).resolve() == package_lambda.DEFAULT_OUTPUT


def test_packaging_script_reads_the_python_version_from_the_templates_runtime(function):
    assert f"python{package_lambda.template_python_version(TEMPLATE)}" == function["Runtime"]


def test_function_logs_json_at_info_so_the_librarys_records_are_kept(function):
    assert function["LoggingConfig"]["LogFormat"] == "JSON"
    assert function["LoggingConfig"]["ApplicationLogLevel"] == "INFO"


def test_invokers_may_reference_only_the_password_which_comes_from_secrets_manager(function):
    variables = function["Environment"]["Variables"]
    assert variables["TASK_ENV_REFS"] == "DB_PASSWORD"
    assert variables["DB_PASSWORD"]["Fn::Sub"].startswith("{{resolve:secretsmanager:")


@pytest.mark.parametrize("event_type", ["SQS", "HttpApi", "EventBridgeRule", "SNS", "Kinesis", "DynamoDB"])
def test_function_has_each_trigger(function, event_type):
    assert _event_of_type(function, event_type)


def test_sqs_trigger_reports_batch_item_failures(function):
    assert _event_of_type(function, "SQS")["FunctionResponseTypes"] == ["ReportBatchItemFailures"]


def test_sqs_queue_moves_a_record_to_a_dead_letter_queue_after_five_receives(template, function):
    resources = template["Resources"]
    queue_name, _ = _event_of_type(function, "SQS")["Queue"]["Fn::GetAtt"]
    redrive = resources[queue_name]["Properties"]["RedrivePolicy"]
    dead_letter_name, _ = redrive["deadLetterTargetArn"]["Fn::GetAtt"]
    assert resources[dead_letter_name]["Type"] == "AWS::SQS::Queue"
    assert dead_letter_name != queue_name
    assert redrive["maxReceiveCount"] == 5


def test_http_route_is_post_and_needs_iam_signed_requests(template, function):
    route = _event_of_type(function, "HttpApi")
    assert route["Method"] == "POST"
    api = template["Resources"][route["ApiId"]["Ref"]]["Properties"]
    assert api["Auth"] == {"EnableIamAuthorizer": True, "DefaultAuthorizer": "AWS_IAM"}


@pytest.mark.parametrize("event_type", ["Kinesis", "DynamoDB"])
def test_stream_triggers_checkpoint_at_the_failed_record_and_send_what_still_fails_to_a_queue(
    template, function, event_type
):
    stream = _event_of_type(function, event_type)
    assert stream["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert stream["StartingPosition"] == "TRIM_HORIZON"
    assert stream["BisectBatchOnFunctionError"] is True
    assert 0 < stream["MaximumRetryAttempts"] <= 10
    on_failure = stream["DestinationConfig"]["OnFailure"]
    queue_name, _ = on_failure["Destination"]["Fn::GetAtt"]
    assert (on_failure["Type"], template["Resources"][queue_name]["Type"]) == ("SQS", "AWS::SQS::Queue")


def test_the_tables_stream_carries_new_images(template, function):
    table_name, _ = _event_of_type(function, "DynamoDB")["Stream"]["Fn::GetAtt"]
    stream = template["Resources"][table_name]["Properties"]["StreamSpecification"]
    assert stream == {"StreamViewType": "NEW_IMAGE"}


def test_async_triggers_are_retried_once(function):
    assert function["EventInvokeConfig"]["MaximumRetryAttempts"] == 1


def test_async_events_that_still_fail_go_to_an_sqs_queue(template, function):
    on_failure = function["EventInvokeConfig"]["DestinationConfig"]["OnFailure"]
    queue_name, _ = on_failure["Destination"]["Fn::GetAtt"]
    assert on_failure["Type"] == "SQS"
    assert template["Resources"][queue_name]["Type"] == "AWS::SQS::Queue"


# --- The AWS Batch job definition ------------------------------------------------------------


@pytest.fixture(scope="module")
def register_job_definition_input():
    model = botocore.session.get_session().get_service_model("batch")
    return model.operation_model("RegisterJobDefinition").input_shape


@pytest.fixture
def job_definition() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(JOB_DEFINITION.read_text(encoding="utf-8"))
    return loaded


def _retry_action(retry_strategy, exit_code: int, reason: str = "Essential container in task exited"):
    """What AWS Batch does after an attempt: the first matching rule's action, else retry."""
    for rule in retry_strategy["evaluateOnExit"]:
        conditions = {"onExitCode": str(exit_code), "onReason": reason}
        if all(fnmatch.fnmatchcase(conditions.get(key, ""), rule[key]) for key in rule if key != "action"):
            return rule["action"]
    return "RETRY"


def test_job_definition_passes_botocores_validation(job_definition, register_job_definition_input):
    validate_parameters(job_definition, register_job_definition_input)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda job: job.pop("type"), "Missing required parameter"),
        (lambda job: job["retryStrategy"].update(attempts="3"), "Invalid type for parameter"),
        (lambda job: job.update(retries=3), "Unknown parameter"),
    ],
    ids=["without-type", "attempts-as-text", "unknown-field"],
)
def test_botocore_rejects_a_broken_job_definition(
    job_definition, register_job_definition_input, change, message
):
    broken = copy.deepcopy(job_definition)
    change(broken)
    with pytest.raises(ParamValidationError, match=message):
        validate_parameters(broken, register_job_definition_input)


@pytest.mark.parametrize(("exit_code", "action"), [(2, "EXIT"), (1, "RETRY"), (143, "RETRY")])
def test_job_gives_up_on_a_configuration_error_and_retries_other_failures(job_definition, exit_code, action):
    assert _retry_action(job_definition["retryStrategy"], exit_code) == action


def test_job_runs_the_task_with_its_database_and_the_password_from_secrets_manager(job_definition):
    container = job_definition["containerProperties"]
    assert container["command"] == ["python", "assignment.py"]
    assert "TASK_CONFIG_DB" in {variable["name"] for variable in container["environment"]}
    (secret,) = container["secrets"]
    assert secret["name"] == "DB_PASSWORD"
    assert secret["valueFrom"].startswith("arn:aws:secretsmanager:")


def test_batch_images_modules_run_a_batch_job(tmp_path):
    for module in package_lambda.lambda_modules(PROJECT_DIR):
        shutil.copy(module, tmp_path)
    completed = subprocess.run(
        [sys.executable, "assignment.py"],  # as the image's command runs it
        cwd=tmp_path,
        env={
            "AWS_BATCH_JOB_ID": "job-1",
            "TASK_CONFIG_DB": str(PROJECT_DIR / "fixtures" / "tasks.json"),
            "DB_PASSWORD": "from-secrets-manager",
        },
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    assert json.loads(completed.stdout)["password"] == "***"


# --- The Lambda zip --------------------------------------------------------------------------


def _package(*arguments: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(PACKAGE_SCRIPT), *arguments],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def _run_handler_from(code_dir: Path) -> subprocess.CompletedProcess[str]:
    """Invoke the handler once from code_dir: -I, no environment or user site; -S, no site-packages,
    so no TinyDB or runtime client."""
    return subprocess.run(
        [sys.executable, "-I", "-S", "-c", RUN_HANDLER, str(code_dir)],
        env={},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.fixture(scope="module")
def lambda_zip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The zip, built once by the running interpreter."""
    output = tmp_path_factory.mktemp("dist") / "lambda.zip"
    completed = _package("--python-version", RUNNING_VERSION, "--output", str(output))
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.startswith(f"{output}: ")
    return output


@pytest.fixture
def extracted_zip(lambda_zip: Path, tmp_path: Path) -> Path:
    with zipfile.ZipFile(lambda_zip) as archive:
        archive.extractall(tmp_path)
    return tmp_path


def _zip_names(lambda_zip: Path) -> set[str]:
    with zipfile.ZipFile(lambda_zip) as archive:
        return set(archive.namelist())


def test_zip_holds_the_installed_modules_less_the_test_helpers_plus_the_task_with_bytecode(lambda_zip):
    tomllib = pytest.importorskip("tomllib")
    pyproject = tomllib.loads((PROJECT_DIR / "pyproject.toml").read_text(encoding="utf-8"))
    test_helpers = {"task_testing", "task_testing_streams"}
    modules = {*pyproject["tool"]["setuptools"]["py-modules"], "assignment"} - test_helpers
    tag = sys.implementation.cache_tag
    sources = {f"{module}.py" for module in modules}
    bytecode = {f"__pycache__/{module}.{tag}.pyc" for module in modules}
    assert _zip_names(lambda_zip) == sources | bytecode


def test_zip_leaves_out_the_test_helpers_tests_fixtures_and_tinydb(lambda_zip):
    unwanted = ("task_testing", "test_", "conftest", "fixtures/", "tinydb", "deploy/")
    assert [name for name in _zip_names(lambda_zip) if any(word in name for word in unwanted)] == []


def test_zip_bytecode_is_unchecked_hash_for_this_interpreter(lambda_zip):
    unchecked_hash_flags = 0b01  # hash-based, check_source off (PEP 552)
    with zipfile.ZipFile(lambda_zip) as archive:
        headers = {name: archive.read(name)[:8] for name in archive.namelist() if name.endswith(".pyc")}
    assert headers
    for header in headers.values():
        assert header[:4] == importlib.util.MAGIC_NUMBER
        assert int.from_bytes(header[4:8], "little") == unchecked_hash_flags


def test_zip_builds_the_same_bytes_twice(lambda_zip, tmp_path):
    again = tmp_path / "again.zip"
    assert _package("--python-version", RUNNING_VERSION, "--output", str(again)).returncode == 0
    assert again.read_bytes() == lambda_zip.read_bytes()


def test_handler_runs_from_the_extracted_zip_with_the_standard_library_alone(extracted_zip):
    completed = _run_handler_from(extracted_zip)
    assert completed.returncode == 0, completed.stderr
    assert json.loads(completed.stdout) == {
        "runtime": "lambda",
        **WIDGET_EVENT,
        "password": "***",
        "connection": "u@h:5432/d",
    }


def test_runtime_loads_the_shipped_bytecode_without_checking_the_source(extracted_zip):
    for source in extracted_zip.glob("*.py"):
        source.write_text("raise SystemExit('the source was compiled, not the shipped bytecode')\n")
    completed = _run_handler_from(extracted_zip)
    assert completed.returncode == 0, completed.stderr
    assert json.loads(completed.stdout)["password"] == "***"


def test_building_for_another_python_version_is_refused_in_one_line(tmp_path):
    output = tmp_path / "lambda.zip"
    completed = _package("--python-version", OTHER_VERSION, "--output", str(output))
    assert completed.returncode == 2
    assert completed.stderr.count("\n") == 1
    refusal = f"runs CPython {OTHER_VERSION} but this is CPython {platform.python_version()} "
    assert refusal in completed.stderr
    assert not output.exists()


def test_without_a_version_the_build_is_for_the_templates_runtime(tmp_path, monkeypatch, capsys):
    template = tmp_path / "template.yaml"
    template.write_text(f"      Runtime: python{OTHER_VERSION}\n", encoding="utf-8")
    monkeypatch.setattr(package_lambda, "TEMPLATE", template)
    with pytest.raises(SystemExit) as exit_info:
        package_lambda.main(["--output", str(tmp_path / "lambda.zip")])
    assert exit_info.value.code == 2
    assert f"runs CPython {OTHER_VERSION}" in capsys.readouterr().err


@pytest.mark.parametrize("text", ["3", "3.x", "python", "4.0"])
def test_a_python_version_not_like_3_12_is_a_usage_error(text, capsys):
    with pytest.raises(SystemExit) as exit_info:
        package_lambda.main(["--python-version", text])
    assert exit_info.value.code == 2
    assert "expected a version like 3.12" in capsys.readouterr().err
