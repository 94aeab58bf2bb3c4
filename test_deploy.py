"""`python -m task_deploy`: the Lambda zip, the SAM template, the Batch job definition and the Kubernetes
Job, for Widget and for a task of a user's own, each checked by the real validators."""

from __future__ import annotations

import copy
import fnmatch
import importlib.util
import io
import json
import os
import shlex
import shutil
import socket
import subprocess
import sys
import zipfile
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path
from typing import Any

import botocore.session  # type: ignore[import-untyped]
import kubernetes_validate  # type: ignore[import-untyped]
import pytest
import yaml  # type: ignore[import-untyped]
from botocore.exceptions import ParamValidationError  # type: ignore[import-untyped]
from botocore.validate import validate_parameters  # type: ignore[import-untyped]
from cfnlint.decode import cfn_yaml  # type: ignore[import-untyped]
from hypothesis import given
from hypothesis import strategies as st

import task_deploy
import task_deploy_zip
from conftest import PROJECT_DIR, REPORT_EVENT, REPORT_TASK
from task_deploy_formats import to_yaml

DEPLOY_DIR = PROJECT_DIR / "deploy"
TEMPLATE = DEPLOY_DIR / "template.yaml"
JOB_DEFINITION = DEPLOY_DIR / "batch-job-definition.json"
K8S_JOB = DEPLOY_DIR / "k8s-job.yaml"

RUNNING = f"python{sys.version_info.major}.{sys.version_info.minor}"
OTHER = f"python3.{sys.version_info.minor + 1}"
WIDGET_EVENT = {"host": "h", "port": 5432, "database": "d", "user": "u", "password": "p"}

#: The two tasks, with how each writer delivers their secrets (every kind each writer takes).
TASKS: dict[str, dict[str, Any]] = {
    "widget": {
        "task": "assignment:Widget",
        "handler": "assignment.handler",
        "sam": ["password=env:DB_PASSWORD"],
        "batch-job": ["password=env:DB_PASSWORD"],
        "k8s-job": ["password=file:/var/run/secrets/widget/password"],
    },
    "report": {
        "task": "report_sync:ReportSync",
        "handler": "report_sync.handler",
        "sam": ["api_token=secret:reports/api#token", "signing_key=ssm:/reports/signing-key"],
        "batch-job": ["api_token=ssm:/reports/api-token"],  # signing_key: the default, env:REPORT_SYNC_...
        "k8s-job": ["api_token=file:/run/secrets/api_token", "signing_key=env:SIGNING_KEY"],
    },
}
TRIGGER_SETS = [(trigger,) for trigger in task_deploy.TRIGGERS] + [task_deploy.TRIGGERS]
SAM_CASES = [(task, triggers) for task in TASKS for triggers in TRIGGER_SETS]


def _case_id(task: str, triggers: tuple[str, ...]) -> str:
    return f"{task}-{'all' if len(triggers) > 1 else triggers[0]}"


@pytest.fixture(scope="module")
def user_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory of the user's own: their task module, and nothing of the library."""
    directory = tmp_path_factory.mktemp("user")
    (directory / "report_sync.py").write_text(REPORT_TASK, encoding="utf-8")
    return directory


def _deploy(*arguments: str, cwd: Path = PROJECT_DIR) -> subprocess.CompletedProcess[str]:
    """`python -m task_deploy ...` from `cwd`, with the library importable as it is here."""
    return subprocess.run(
        [sys.executable, "-m", "task_deploy", *arguments],
        cwd=cwd,
        env={"PYTHONPATH": str(PROJECT_DIR), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _main(*arguments: str, cwd: Path = PROJECT_DIR) -> subprocess.CompletedProcess[str]:
    """task_deploy.main() in this process, as `python -m task_deploy ...` runs it from `cwd` (first on
    sys.path); its exit status and output."""
    stdout, stderr = io.StringIO(), io.StringIO()
    with pytest.MonkeyPatch.context() as patch, redirect_stdout(stdout), redirect_stderr(stderr):
        patch.chdir(cwd)
        patch.syspath_prepend(str(cwd))
        try:
            status = task_deploy.main(arguments)
        except SystemExit as exit_info:
            status = exit_info.code  # type: ignore[assignment]
    return subprocess.CompletedProcess(arguments, status, stdout.getvalue(), stderr.getvalue())


def _write(directory: Path, writer: str, task: str, *arguments: str, name: str, user_dir: Path) -> Path:
    """Run one writer from the user's directory; its output."""
    output = directory / name
    secrets = [f"--secret={delivery}" for delivery in TASKS[task][writer]]
    completed = _main(writer, TASKS[task]["task"], *arguments, *secrets, "-o", str(output), cwd=user_dir)
    assert completed.returncode == 0, completed.stderr
    return output


# --- The SAM template: every trigger alone and all together, for both tasks --------------------


@pytest.fixture(scope="module")
def templates(tmp_path_factory: pytest.TempPathFactory, user_dir: Path) -> dict[str, Path]:
    directory = tmp_path_factory.mktemp("templates")
    written = {}
    for task, triggers in SAM_CASES:
        case = _case_id(task, triggers)
        options = [f"--trigger={trigger}" for trigger in triggers]
        handler = TASKS[task]["handler"]
        arguments = ("--handler", handler, "--runtime", "python3.12", *options)
        written[case] = _write(directory, "sam", task, *arguments, name=f"{case}.yaml", user_dir=user_dir)
    return written


def cfn_lint(*templates: Path) -> dict[Path, list[str]]:
    """Each template's cfn-lint findings (errors, warnings and informational), one line each."""
    completed = subprocess.run(
        [sys.executable, "-c", "from cfnlint.runner import main; main()", "--format", "parseable", "--"]
        + [str(template) for template in templates],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    findings: dict[Path, list[str]] = {template: [] for template in templates}
    for line in completed.stdout.splitlines():
        findings[Path(line.split(":", 1)[0])].append(line)
    assert completed.stderr == ""
    return findings


@pytest.fixture(scope="module")
def cfn_lint_findings(templates, tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[str]]:
    """cfn-lint run once over every template, deploy/'s and a copy broken on purpose (a bad runtime)."""
    broken = tmp_path_factory.mktemp("broken") / "template.yaml"
    text = TEMPLATE.read_text(encoding="utf-8")
    assert '"python3.12"' in text
    broken.write_text(text.replace('"python3.12"', '"python3.99"'), encoding="utf-8")
    findings = cfn_lint(TEMPLATE, broken, *templates.values())
    by_case = {case: findings[path] for case, path in templates.items()}
    return {**by_case, "deploy": findings[TEMPLATE], "broken": findings[broken]}


@pytest.mark.parametrize("case", ["deploy", *(_case_id(*case) for case in SAM_CASES)])
def test_template_passes_cfn_lint_without_a_finding(cfn_lint_findings, case):
    assert cfn_lint_findings[case] == []


def test_cfn_lint_fails_a_template_with_an_unknown_runtime(cfn_lint_findings):
    assert any(":E3030:" in line and "python3.99" in line for line in cfn_lint_findings["broken"])


def _load_template(path: Path) -> dict[str, Any]:
    loaded: dict[str, Any] = cfn_yaml.load(str(path))
    return loaded


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return _load_template(TEMPLATE)


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


def test_function_runs_the_handler_from_the_zip_make_lambda_zip_builds(function):
    assert function["Handler"] == "assignment.handler"
    assert function["Runtime"] == "python3.12"
    assert (TEMPLATE.parent / function["CodeUri"]).resolve() == PROJECT_DIR / "dist" / "lambda.zip"


def test_function_logs_json_at_info_so_the_librarys_records_are_kept(function):
    assert function["LoggingConfig"]["LogFormat"] == "JSON"
    assert function["LoggingConfig"]["ApplicationLogLevel"] == "INFO"


def test_widgets_password_comes_from_secrets_manager_and_invokers_may_reference_only_it(template, function):
    variables = function["Environment"]["Variables"]
    assert variables["TASK_ENV_REFS"] == "DB_PASSWORD"
    assert (
        variables["DB_PASSWORD"]["Fn::Sub"] == "{{resolve:secretsmanager:${PasswordSecretId}:SecretString}}"
    )
    assert template["Parameters"]["PasswordSecretId"]["Default"] == "widget/password"
    assert "TASK_SECRET_REFS" not in variables
    assert "Layers" not in function
    assert "Policies" not in function


@pytest.mark.parametrize(
    ("event", "event_type"),
    [
        ("Http", "HttpApi"),
        ("Queue", "SQS"),
        ("FifoQueue", "SQS"),
        ("Topic", "SNS"),
        ("Bus", "EventBridgeRule"),
        ("Stream", "Kinesis"),
        ("Table", "DynamoDB"),
    ],
)
def test_widgets_function_has_each_trigger(function, event, event_type):
    assert function["Events"][event]["Type"] == event_type


def test_queues_and_streams_report_batch_item_failures(function):
    listing = [
        event for event in function["Events"].values() if event["Type"] in ("SQS", "Kinesis", "DynamoDB")
    ]
    assert len(listing) == 4  # a queue, a FIFO queue, a Kinesis stream, a DynamoDB stream
    for event in listing:
        assert event["Properties"]["FunctionResponseTypes"] == ["ReportBatchItemFailures"]


@pytest.mark.parametrize("event_type", ["Kinesis", "DynamoDB"])
def test_streams_start_at_the_oldest_record_bisect_retry_a_set_number_of_times_then_keep_the_failure(
    template, function, event_type
):
    stream = _event_of_type(function, event_type)
    assert stream["StartingPosition"] == "TRIM_HORIZON"
    assert stream["BisectBatchOnFunctionError"] is True
    assert stream["MaximumRetryAttempts"] == 2
    on_failure = stream["DestinationConfig"]["OnFailure"]
    queue_name, _ = on_failure["Destination"]["Fn::GetAtt"]
    assert template["Resources"][queue_name]["Type"] == "AWS::SQS::Queue"


def test_dynamodb_stream_carries_new_images(template, function):
    table_name, attribute = _event_of_type(function, "DynamoDB")["Stream"]["Fn::GetAtt"]
    assert attribute == "StreamArn"
    table = template["Resources"][table_name]["Properties"]
    assert table["StreamSpecification"] == {"StreamViewType": "NEW_IMAGE"}


@pytest.mark.parametrize("queue_event", ["Queue", "FifoQueue"])
def test_each_queue_moves_a_record_to_its_dead_letter_queue_after_five_receives(
    template, function, queue_event
):
    resources = template["Resources"]
    queue_name, _ = function["Events"][queue_event]["Properties"]["Queue"]["Fn::GetAtt"]
    redrive = resources[queue_name]["Properties"]["RedrivePolicy"]
    dead_letter_name, _ = redrive["deadLetterTargetArn"]["Fn::GetAtt"]
    assert redrive["maxReceiveCount"] == 5
    fifo = queue_event == "FifoQueue"
    assert resources[queue_name]["Properties"].get("FifoQueue", False) is fifo
    assert resources[dead_letter_name]["Properties"].get("FifoQueue", False) is fifo


def test_http_route_and_function_url_need_iam_signed_requests(template, function):
    route = _event_of_type(function, "HttpApi")
    assert route["Method"] == "POST"
    api = template["Resources"][route["ApiId"]["Ref"]]["Properties"]
    assert api["Auth"] == {"EnableIamAuthorizer": True, "DefaultAuthorizer": "AWS_IAM"}
    assert function["FunctionUrlConfig"] == {"AuthType": "AWS_IAM"}


def test_async_triggers_are_retried_once_then_go_to_an_sqs_queue(template, function):
    invoke_config = function["EventInvokeConfig"]
    assert invoke_config["MaximumRetryAttempts"] == 1
    on_failure = invoke_config["DestinationConfig"]["OnFailure"]
    queue_name, _ = on_failure["Destination"]["Fn::GetAtt"]
    assert on_failure["Type"] == "SQS"
    assert template["Resources"][queue_name]["Type"] == "AWS::SQS::Queue"


@pytest.mark.parametrize("trigger", ["http", "url", "sqs", "sqs-fifo", "kinesis", "dynamodb"])
def test_a_synchronous_or_polled_trigger_alone_sets_no_async_retries(templates, trigger):
    function = _load_template(templates[f"widget-{trigger}"])["Resources"]["WidgetFunction"]["Properties"]
    assert "EventInvokeConfig" not in function


def test_a_users_secrets_in_stores_are_listed_for_invokers_readable_and_served_by_the_extension(templates):
    template = _load_template(templates["report-all"])
    function = template["Resources"]["ReportSyncFunction"]["Properties"]
    variables = function["Environment"]["Variables"]
    assert variables["TASK_SECRET_REFS"] == "secret:reports/api,ssm:/reports/signing-key"
    assert "TASK_ENV_REFS" not in variables
    (policy,) = function["Policies"]
    resources = {statement["Action"]: statement["Resource"]["Fn::Sub"] for statement in policy["Statement"]}
    assert resources == {
        "secretsmanager:GetSecretValue": (
            "arn:${AWS::Partition}:secretsmanager:${AWS::Region}:${AWS::AccountId}:secret:reports/api-??????"
        ),
        "ssm:GetParameter": (
            "arn:${AWS::Partition}:ssm:${AWS::Region}:${AWS::AccountId}:parameter/reports/signing-key"
        ),
    }
    assert function["Layers"] == [{"Ref": "SecretsExtensionLayerArn"}]
    assert template["Parameters"]["SecretsExtensionLayerArn"]["Type"] == "String"


def test_a_users_task_names_its_own_eventbridge_pattern_route_and_resources(templates):
    template = _load_template(templates["report-all"])
    function = template["Resources"]["ReportSyncFunction"]["Properties"]
    assert function["Handler"] == "report_sync.handler"
    assert _event_of_type(function, "EventBridgeRule")["Pattern"] == {
        "source": ["report_sync.app"],
        "detail-type": ["ReportSync task"],
    }
    assert _event_of_type(function, "HttpApi")["Path"] == "/report_sync"
    assert "ReportSyncQueue" in template["Resources"]


# --- The AWS Batch job definition --------------------------------------------------------------


def register_job_definition_input() -> Any:
    """botocore's model of RegisterJobDefinition's input, which validate_parameters checks against."""
    model = botocore.session.get_session().get_service_model("batch")
    return model.operation_model("RegisterJobDefinition").input_shape


def validate_k8s_job(job: dict[str, Any]) -> None:
    """kubernetes-validate, strictly, against the newest Kubernetes its pinned version knows (offline)."""
    kubernetes_validate.validate(job, kubernetes_validate.latest_version(), strict=True)


@pytest.fixture(scope="module")
def job_definitions(tmp_path_factory: pytest.TempPathFactory, user_dir: Path) -> dict[str, dict[str, Any]]:
    directory = tmp_path_factory.mktemp("batch")
    written = {
        task: _write(
            directory, "batch-job", task, "--image", "example.com/i:1", name=f"{task}.json", user_dir=user_dir
        )
        for task in TASKS
    }
    return {"deploy": json.loads(JOB_DEFINITION.read_text())} | {
        task: json.loads(path.read_text()) for task, path in written.items()
    }


def _retry_action(retry_strategy, exit_code: int, reason: str = "Essential container in task exited"):
    """What AWS Batch does after an attempt: the first matching rule's action, else retry."""
    for rule in retry_strategy["evaluateOnExit"]:
        conditions = {"onExitCode": str(exit_code), "onReason": reason}
        if all(fnmatch.fnmatchcase(conditions.get(key, ""), rule[key]) for key in rule if key != "action"):
            return rule["action"]
    return "RETRY"


@pytest.mark.parametrize("case", ["deploy", *TASKS])
def test_job_definition_passes_botocores_validation(job_definitions, case):
    validate_parameters(job_definitions[case], register_job_definition_input())


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda job: job.pop("type"), "Missing required parameter"),
        (lambda job: job["retryStrategy"].update(attempts="3"), "Invalid type for parameter"),
        (lambda job: job.update(retries=3), "Unknown parameter"),
    ],
    ids=["without-type", "attempts-as-text", "unknown-field"],
)
def test_botocore_rejects_a_broken_job_definition(job_definitions, change, message):
    broken = copy.deepcopy(job_definitions["deploy"])
    change(broken)
    with pytest.raises(ParamValidationError, match=message):
        validate_parameters(broken, register_job_definition_input())


@pytest.mark.parametrize("case", ["deploy", *TASKS])
@pytest.mark.parametrize(("exit_code", "action"), [(2, "EXIT"), (1, "RETRY"), (143, "RETRY")])
def test_job_gives_up_on_a_configuration_error_and_retries_other_failures(
    job_definitions, case, exit_code, action
):
    assert job_definitions[case]["retryStrategy"]["attempts"] == 3
    assert _retry_action(job_definitions[case]["retryStrategy"], exit_code) == action


@pytest.mark.parametrize(
    ("case", "command", "secret_variables", "job_role"),
    [
        ("deploy", "assignment:Widget", ["DB_PASSWORD"], False),
        ("report", "report_sync:ReportSync", ["REPORT_SYNC_SIGNING_KEY"], True),
    ],
)
def test_job_runs_task_run_with_its_database_each_env_secret_and_a_role_for_the_stores(
    job_definitions, case, command, secret_variables, job_role
):
    container = job_definitions[case]["containerProperties"]
    assert container["command"] == ["task-run", command]
    assert "TASK_CONFIG_DB" in {variable["name"] for variable in container["environment"]}
    assert [secret["name"] for secret in container["secrets"]] == secret_variables
    assert all(secret["valueFrom"].startswith("arn:aws:secretsmanager:") for secret in container["secrets"])
    assert ("jobRoleArn" in container) is job_role


# --- The Kubernetes Indexed Job ----------------------------------------------------------------


@pytest.fixture(scope="module")
def k8s_jobs(tmp_path_factory: pytest.TempPathFactory, user_dir: Path) -> dict[str, dict[str, Any]]:
    directory = tmp_path_factory.mktemp("k8s")
    arguments = ("--image", "example.com/i:1", "--completions", "5")
    written = {
        task: _write(directory, "k8s-job", task, *arguments, name=f"{task}.yaml", user_dir=user_dir)
        for task in TASKS
    }
    jobs = {task: yaml.safe_load(path.read_text()) for task, path in written.items()}
    return {"deploy": yaml.safe_load(K8S_JOB.read_text()), **jobs}


@pytest.mark.parametrize("case", ["deploy", *TASKS])
def test_k8s_job_passes_kubernetes_validate_strictly(k8s_jobs, case):
    validate_k8s_job(k8s_jobs[case])


def test_kubernetes_validate_rejects_a_broken_job(k8s_jobs):
    broken = copy.deepcopy(k8s_jobs["deploy"])
    broken["spec"]["completions"] = "three"
    with pytest.raises(kubernetes_validate.ValidationError):
        validate_k8s_job(broken)


@pytest.mark.parametrize("case", ["deploy", *TASKS])
def test_k8s_job_fails_an_index_at_once_on_exit_2_and_retries_other_failures_per_index(k8s_jobs, case):
    """What the API server enforces and kubernetes-validate does not: FailIndex needs
    backoffLimitPerIndex, and a podFailurePolicy needs restartPolicy Never."""
    spec = k8s_jobs[case]["spec"]
    pod = spec["template"]["spec"]
    assert spec["completionMode"] == "Indexed"
    assert pod["restartPolicy"] == "Never"
    assert spec["backoffLimitPerIndex"] == 2
    (fail_index,) = [rule for rule in spec["podFailurePolicy"]["rules"] if rule["action"] == "FailIndex"]
    assert fail_index["onExitCodes"]["operator"] == "In"
    assert fail_index["onExitCodes"]["values"] == [2]
    assert fail_index["onExitCodes"]["containerName"] in {
        container["name"] for container in pod["containers"]
    }
    assert {rule["action"] for rule in spec["podFailurePolicy"]["rules"]} <= {"FailIndex", "Ignore"}


@pytest.mark.parametrize("case", ["deploy", *TASKS])
def test_k8s_job_reads_the_tinydb_file_from_the_configmap_it_mounts(k8s_jobs, case):
    pod = k8s_jobs[case]["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    variables = {variable["name"]: variable.get("value") for variable in container["env"]}
    (config_volume,) = [volume for volume in pod["volumes"] if "configMap" in volume]
    (mount,) = [mount for mount in container["volumeMounts"] if mount["name"] == config_volume["name"]]
    assert variables["TASK_CONFIG_DB"] == f"{mount['mountPath']}/tasks.json"


def test_k8s_job_delivers_a_secret_as_a_file_where_the_reference_points_or_as_a_variable(k8s_jobs):
    pod = k8s_jobs["report"]["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    (secret_volume,) = [volume for volume in pod["volumes"] if "secret" in volume]
    (mount,) = [mount for mount in container["volumeMounts"] if mount["name"] == secret_volume["name"]]
    assert mount["mountPath"] == "/run/secrets"
    assert secret_volume["secret"] == {
        "secretName": "report-sync-secrets",
        "items": [{"key": "api_token", "path": "api_token"}],
    }
    (signing_key,) = [variable for variable in container["env"] if variable["name"] == "SIGNING_KEY"]
    assert signing_key["valueFrom"] == {"secretKeyRef": {"name": "report-sync-secrets", "key": "signing_key"}}


def test_k8s_job_runs_task_run_for_the_task(k8s_jobs):
    (container,) = k8s_jobs["report"]["spec"]["template"]["spec"]["containers"]
    assert container["command"] == ["task-run", "report_sync:ReportSync"]
    assert k8s_jobs["report"]["spec"]["completions"] == 5


# --- What the command refuses ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("arguments", "words"),
    [
        (
            ["k8s-job", "report_sync:ReportSync", "--secret", "api_token=secret:x"],
            "k8s-job: cannot deliver api_token=secret:x (it takes env:, file:)",
        ),
        (
            [
                "sam",
                "report_sync:ReportSync",
                "--handler",
                "report_sync.handler",
                "--trigger",
                "sqs",
                "--secret",
                "api_token=file:/run/x/t",
            ],
            "sam: cannot deliver api_token=file:/run/x/t (it takes env:, secret:, ssm:)",
        ),
        (
            ["batch-job", "report_sync:ReportSync", "--secret", "bucket=env:B"],
            "bucket: ReportSync's parameter bucket is not a Secret",
        ),
        (
            ["batch-job", "report_sync:ReportSync", "--secret", "token=env:B"],
            "token: no such parameter of ReportSync",
        ),
        (["batch-job", "report_sync:ReportSync", "--secret", "api_token=vault:x"], "expected PARAM=env:VAR"),
        (["batch-job", "report_sync:ReportSync", "--secret", "api_token=env:A B"], "is not a valid env id"),
        (
            ["batch-job", "report_sync:ReportSync", "--secret", "api_token=secret:${x}"],
            "is not a valid secret id",
        ),
        (
            [
                "batch-job",
                "report_sync:ReportSync",
                "--secret",
                "api_token=env:A",
                "--secret",
                "api_token=env:B",
            ],
            "api_token: given more than once",
        ),
        (
            ["k8s-job", "report_sync:ReportSync", "--secret", "api_token=file:/etc/task/token"],
            "cannot deliver api_token=file:/etc/task/token: /etc/task holds the TinyDB file",
        ),
        (
            ["k8s-job", "report_sync:ReportSync", "--secret", "api_token=file:/token"],
            "a directory of its own",
        ),
        (
            ["k8s-job", "report_sync:ReportSync", "--secret", "api_token=file:/etc/token"],
            "a directory of its own",
        ),
        (
            ["k8s-job", "report_sync:ReportSync", "--secret", "api_token=file:/usr/local/bin/token"],
            "is under /usr, which the image's programs need",
        ),
        (["k8s-job", "report_sync:ReportSync", "--secret", "api_token=file:/run/../token"], "normalised"),
        (
            ["batch-job", "report_sync:ReportSync", "--secret", "api_token=env:TASK_CONFIG_DB"],
            "env: TASK_CONFIG_DB is the platform's or the library's own variable",
        ),
        (
            ["sam", "report_sync:ReportSync", "--trigger", "direct", "--handler", "r.h\nGlobals: {}"],
            "--handler: expected MODULE.FUNCTION",
        ),
        (["batch-job", "no_such_module:Task"], "cannot import module no_such_module: ModuleNotFoundError"),
        (["batch-job", "report_sync:LambdaReportSyncs"], "module report_sync has no LambdaReportSyncs"),
        (["batch-job", "report_sync"], "report_sync is not MODULE:NAME"),
        (
            ["k8s-job", "report_sync:ReportSync", "--completions", "100001"],
            "expected a whole number from 1 to 100,000",
        ),
    ],
    ids=[
        "k8s-secret",
        "sam-file",
        "not-a-secret",
        "unknown",
        "bad-kind",
        "bad-variable",
        "bad-id",
        "twice",
        "file-in-config-dir",
        "file-in-root",
        "file-in-a-top-level-directory",
        "file-in-a-system-directory",
        "file-not-normalised",
        "env-of-the-library",
        "handler-that-is-not-a-name",
        "no-module",
        "no-task",
        "no-name",
        "completions",
    ],
)
def test_what_cannot_be_deployed_is_exit_2_in_one_line_and_nothing_is_written(
    user_dir, tmp_path, arguments, words
):
    output = tmp_path / "out"
    extra = ["--image", "i"] if arguments[0] != "sam" else []
    if arguments[0] == "k8s-job" and "--completions" not in arguments:
        extra += ["--completions", "1"]
    completed = _main(*arguments, *extra, "-o", str(output), cwd=user_dir)
    assert completed.returncode == 2
    assert completed.stderr.count("\n") == 1 or completed.stderr.startswith("usage:")
    assert words in completed.stderr.splitlines()[-1]
    assert not output.exists()


def test_a_module_that_fails_to_import_is_named_in_one_line(tmp_path):
    (tmp_path / "broken_task.py").write_text("raise RuntimeError('line one\\nline two')\n")
    completed = _deploy(
        "batch-job", "broken_task:Task", "--image", "i", "-o", str(tmp_path / "j.json"), cwd=tmp_path
    )
    assert completed.returncode == 2
    assert completed.stderr.count("\n") == 1
    assert "cannot import module broken_task: RuntimeError: line one\\nline two" in completed.stderr


def test_one_writer_lists_every_delivery_it_cannot_wire(user_dir, tmp_path):
    secrets = ["--secret", "api_token=secret:a", "--secret", "signing_key=ssm:b"]
    completed = _main(
        "k8s-job",
        "report_sync:ReportSync",
        "--image",
        "i",
        "--completions",
        "1",
        *secrets,
        "-o",
        str(tmp_path / "j"),
        cwd=user_dir,
    )
    assert completed.returncode == 2
    assert "2 problems: cannot deliver api_token=secret:a" in completed.stderr
    assert "cannot deliver signing_key=ssm:b" in completed.stderr


# --- deploy/ is what the Makefile's deploy-files writes ----------------------------------------


def _deploy_files_commands(output_dir: Path) -> list[list[str]]:
    """The task_deploy commands of `make deploy-files`, as make would run them, writing to output_dir."""
    completed = subprocess.run(
        ["make", "--no-print-directory", "-n", "deploy-files", f"DEPLOY_DIR={output_dir}"],
        cwd=PROJECT_DIR,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    commands = [shlex.split(line) for line in completed.stdout.splitlines() if " -m task_deploy " in line]
    return [[sys.executable, *command[1:]] for command in commands]


def test_deploy_holds_exactly_what_make_deploy_files_writes(tmp_path):
    commands = _deploy_files_commands(tmp_path)
    assert len(commands) == 3
    for command in commands:
        subprocess.run(command, cwd=PROJECT_DIR, capture_output=True, timeout=120, check=True)
    written = sorted(path.name for path in tmp_path.iterdir())
    assert written == ["batch-job-definition.json", "k8s-job.yaml", "template.yaml"]
    for name in written:
        assert (DEPLOY_DIR / name).read_text(encoding="utf-8") == (tmp_path / name).read_text(
            encoding="utf-8"
        ), f"deploy/{name} differs from what task_deploy writes: run make deploy-files"


def test_the_image_takes_the_tasks_module_as_a_build_argument():
    dockerfile = (DEPLOY_DIR / "Dockerfile").read_text(encoding="utf-8")
    assert "ARG TASK_MODULE\n" in dockerfile
    assert "COPY ${TASK_MODULE} ./${TASK_MODULE}\n" in dockerfile
    assert "assignment" not in dockerfile.replace("TASK_MODULE=assignment.py", "")


# --- YAML without a YAML library ---------------------------------------------------------------

_JSON_KEYS = st.text(max_size=12)
_JSON_SCALARS = st.none() | st.booleans() | st.integers() | st.text(max_size=20)
_JSON = st.recursive(
    _JSON_SCALARS,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(_JSON_KEYS, children, max_size=4),
    max_leaves=20,
)


@given(st.dictionaries(_JSON_KEYS, _JSON, max_size=5))
def test_a_yaml_parser_reads_back_what_to_yaml_writes(document):
    assert yaml.safe_load(to_yaml(document, ["a header"])) == (document or None)


@pytest.mark.parametrize(
    "word", ["yes", "No", "on", "OFF", "true", "null", "1", "2010-09-09", "~", "a: b", "-x"]
)
def test_to_yaml_quotes_keys_and_values_yaml_would_read_as_something_else(word):
    assert yaml.safe_load(to_yaml({word: word})) == {word: word}


# --- The Lambda zip ----------------------------------------------------------------------------

#: Runs handler (MODULE.FUNCTION, argv[2]) on the JSON event argv[3] with the directories argv[1]
#: alone added to sys.path; prints the result (or the exception's type), then the library modules loaded.
RUN_HANDLER = """\
import importlib, json, os, sys
sys.path[:0] = sys.argv[1].split(os.pathsep)
module, _, function = sys.argv[2].rpartition(".")
handler = getattr(importlib.import_module(module), function)
try:
    print(json.dumps(handler(json.loads(sys.argv[3]), None)))
except Exception as error:
    print(json.dumps(type(error).__name__))
print(json.dumps(sorted(name for name in sys.modules if name == "task" or name.startswith("task_"))))
"""


def run_handler_from(
    *code_dirs: Path, handler: str, event: object, environment: dict[str, str] | None = None
) -> tuple[object, list[str]]:
    """Invoke the handler once from code_dir: -I, no user site; -S, no site-packages, so no TinyDB,
    test kit or runtime client; `environment` alone. Its result and the library modules it loaded."""
    completed = subprocess.run(
        [
            sys.executable,
            "-I",
            "-S",
            "-c",
            RUN_HANDLER,
            os.pathsep.join(map(str, code_dirs)),
            handler,
            json.dumps(event),
        ],
        env=environment or {},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    result, modules = completed.stdout.splitlines()
    return json.loads(result), json.loads(modules)


def _sqs_event(body: object) -> dict[str, Any]:
    record = {
        "messageId": "m-1",
        "eventSource": "aws:sqs",
        "eventSourceARN": "arn:aws:sqs:r:1:q",
        "body": body,
    }
    return {"Records": [record]}


#: Events that take the handler down each path: direct, a queue record with a body, an HTTP request
#: with a base64 body, a stream, a configuration error (its message is scrubbed of secrets).
LAMBDA_PATH_EVENTS = [
    WIDGET_EVENT,
    _sqs_event(json.dumps(WIDGET_EVENT)),
    json.loads((PROJECT_DIR / "fixtures" / "events" / "http_api.json").read_text()),
    json.loads((PROJECT_DIR / "fixtures" / "events" / "kinesis.json").read_text()),
    {**WIDGET_EVENT, "port": "not a number"},
]


def test_lambda_modules_are_exactly_the_library_modules_the_handler_loads(user_dir):
    loaded: set[str] = set()
    for event in LAMBDA_PATH_EVENTS:
        _, modules = run_handler_from(PROJECT_DIR, handler="assignment.handler", event=event)
        loaded.update(modules)
    # Business logic that raises: its message is scrubbed of the secrets.
    failing = {**REPORT_EVENT, "bucket": "missing"}
    result, modules = run_handler_from(user_dir, PROJECT_DIR, handler="report_sync.handler", event=failing)
    assert result == "ConfigError"
    loaded.update(modules)
    # A secret from the Lambda extension: here no extension listens, so the store is unavailable.
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
    extension = {
        "AWS_LAMBDA_FUNCTION_NAME": "widget",
        "AWS_SESSION_TOKEN": "token",
        "PARAMETERS_SECRETS_EXTENSION_HTTP_PORT": str(port),
        "TASK_SECRET_REFS": "secret:widget/db",
    }
    from_store = {**WIDGET_EVENT, "password": {"$secret": "widget/db"}}
    result, modules = run_handler_from(
        PROJECT_DIR, handler="assignment.handler", event=from_store, environment=extension
    )
    assert result == "StoreUnavailable"
    assert {*loaded, *modules} == set(task_deploy_zip.LAMBDA_MODULES)


def _build_zip(output: Path, *arguments: str, cwd: Path = PROJECT_DIR) -> subprocess.CompletedProcess[str]:
    return _main("zip", *arguments, "-o", str(output), cwd=cwd)


@pytest.fixture(scope="module")
def widget_zip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Widget's zip, built once by the running interpreter."""
    output = tmp_path_factory.mktemp("dist") / "lambda.zip"
    completed = _build_zip(output, "--handler", "assignment.handler", "--runtime", RUNNING)
    assert completed.returncode == 0, completed.stderr
    files = 2 * (len(task_deploy_zip.LAMBDA_MODULES) + 1)  # each module and its bytecode, with assignment's
    assert completed.stdout == f"{output}: {files} files for {RUNNING}\n"
    return output


def _extract(archive_path: Path, directory: Path) -> Path:
    with zipfile.ZipFile(archive_path) as archive:
        archive.extractall(directory)
    return directory


def _zip_names(archive_path: Path) -> set[str]:
    with zipfile.ZipFile(archive_path) as archive:
        return set(archive.namelist())


def test_zip_holds_the_lambda_modules_and_the_handlers_module_each_with_its_bytecode(widget_zip):
    modules = {*task_deploy_zip.LAMBDA_MODULES, "assignment"}
    tag = sys.implementation.cache_tag
    sources = {f"{module}.py" for module in modules}
    bytecode = {f"__pycache__/{module}.{tag}.pyc" for module in modules}
    assert _zip_names(widget_zip) == sources | bytecode


def test_zip_bytecode_is_unchecked_hash_for_this_interpreter(widget_zip):
    unchecked_hash_flags = 0b01  # hash-based, check_source off (PEP 552)
    with zipfile.ZipFile(widget_zip) as archive:
        headers = {name: archive.read(name)[:8] for name in archive.namelist() if name.endswith(".pyc")}
    assert headers
    for header in headers.values():
        assert header[:4] == importlib.util.MAGIC_NUMBER
        assert int.from_bytes(header[4:8], "little") == unchecked_hash_flags


def test_zip_builds_the_same_bytes_twice(widget_zip, tmp_path):
    again = tmp_path / "again.zip"
    assert _build_zip(again, "--handler", "assignment.handler").returncode == 0
    assert again.read_bytes() == widget_zip.read_bytes()


@pytest.mark.parametrize("event", LAMBDA_PATH_EVENTS[:3], ids=["direct", "sqs", "http"])
def test_handler_runs_from_the_extracted_zip_with_the_standard_library_alone(widget_zip, tmp_path, event):
    result, _ = run_handler_from(_extract(widget_zip, tmp_path), handler="assignment.handler", event=event)
    expected = {"runtime": "lambda", **WIDGET_EVENT, "password": "***", "connection": "u@h:5432/d"}
    if "Records" in event:
        assert result == {"batchItemFailures": []}
    elif "body" in event:
        assert json.loads(result["body"])["runtime"] == "lambda"  # type: ignore[index]
    else:
        assert result == expected


def test_runtime_loads_the_shipped_bytecode_without_checking_the_source(widget_zip, tmp_path):
    code_dir = _extract(widget_zip, tmp_path)
    for source in code_dir.glob("*.py"):
        source.write_text("raise SystemExit('the source was compiled, not the shipped bytecode')\n")
    result, _ = run_handler_from(code_dir, handler="assignment.handler", event=WIDGET_EVENT)
    assert result["password"] == "***"  # type: ignore[index]


def test_a_users_zip_holds_their_task_and_includes_and_its_handler_runs_from_it(user_dir, tmp_path):
    (user_dir / "templates").mkdir(exist_ok=True)
    (user_dir / "templates" / "report.txt").write_text("a file the task reads\n")
    output = tmp_path / "report.zip"
    completed = _build_zip(output, "--handler", "report_sync.handler", "--include", "templates", cwd=user_dir)
    assert completed.returncode == 0, completed.stderr
    names = _zip_names(output)
    assert {"report_sync.py", "templates/report.txt", "task.py"} <= names
    assert not any("assignment" in name or "tinydb" in name or "task_testing" in name for name in names)
    code_dir = _extract(output, tmp_path / "code")
    result, _ = run_handler_from(code_dir, handler="report_sync.handler", event=REPORT_EVENT)
    assert result == {"bucket": "b", "retries": 3, "token": "***"}
    failing = {**REPORT_EVENT, "bucket": "missing"}
    assert run_handler_from(code_dir, handler="report_sync.handler", event=failing)[0] == "ConfigError"


def test_a_handler_in_a_package_brings_the_whole_package_and_runs_from_the_zip(tmp_path):
    package = tmp_path / "project" / "reports"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "tasks.py").write_text(REPORT_TASK)
    (package / "entry.py").write_text("from reports.tasks import handler\n")
    output = tmp_path / "reports.zip"
    completed = _build_zip(output, "--handler", "reports.entry.handler", cwd=tmp_path / "project")
    assert completed.returncode == 0, completed.stderr
    tag = sys.implementation.cache_tag
    assert {"reports/__init__.py", "reports/tasks.py", f"reports/__pycache__/entry.{tag}.pyc"} <= _zip_names(
        output
    )
    code_dir = _extract(output, tmp_path / "code")
    result, _ = run_handler_from(code_dir, handler="reports.entry.handler", event=REPORT_EVENT)
    assert result == {"bucket": "b", "retries": 3, "token": "***"}


def test_an_included_python_file_that_does_not_compile_is_refused(user_dir, tmp_path):
    (user_dir / "broken_helper.py").write_text("def (:\n")
    completed = _build_zip(
        tmp_path / "z.zip", "--handler", "report_sync.handler", "--include", "broken_helper.py", cwd=user_dir
    )
    assert completed.returncode == 2
    assert "broken_helper.py: cannot compile: SyntaxError" in completed.stderr
    assert not (tmp_path / "z.zip").exists()


def test_building_for_another_python_is_refused_in_one_line(tmp_path):
    output = tmp_path / "lambda.zip"
    completed = _build_zip(output, "--handler", "assignment.handler", "--runtime", OTHER)
    assert completed.returncode == 2
    assert completed.stderr.count("\n") == 1
    assert f"--runtime {OTHER}: this is cpython {RUNNING[6:]} " in completed.stderr
    assert not output.exists()


@pytest.mark.parametrize("text", ["3.12", "python3", "python3.x", "python4.0"])
def test_a_runtime_not_like_python3_12_is_a_usage_error(text, tmp_path):
    completed = _build_zip(tmp_path / "z.zip", "--handler", "assignment.handler", "--runtime", text)
    assert completed.returncode == 2
    assert "expected a runtime like python3.12" in completed.stderr


@pytest.mark.parametrize(
    ("arguments", "words"),
    [
        (["--handler", "assignment"], "--handler: expected MODULE.FUNCTION, such as assignment.handler"),
        (["--handler", "assignment.no_such_function"], "module assignment has no no_such_function"),
        (["--handler", "assignment.handler", "--include", "../etc"], "expected an existing path below"),
    ],
)
def test_a_zip_of_what_is_not_there_is_refused_in_one_line(tmp_path, arguments, words):
    completed = _build_zip(tmp_path / "z.zip", *arguments)
    assert completed.returncode == 2
    assert words in completed.stderr
    assert not (tmp_path / "z.zip").exists()


def test_a_zip_includes_nothing_a_link_reaches_outside_the_project(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "credentials").write_text("not for the zip")
    project = tmp_path / "project"
    (project / "data").mkdir(parents=True)
    shutil.copy(PROJECT_DIR / "assignment.py", project)
    (project / "data" / "link").symlink_to(outside / "credentials")
    completed = _build_zip(
        project / "z.zip", "--handler", "assignment.handler", "--include", "data", cwd=project
    )
    assert completed.returncode == 2
    assert "links outside the current directory" in completed.stderr
    assert not (project / "z.zip").exists()


def test_deploy_module_is_run_with_dash_m_and_prints_usage_without_a_command():
    completed = _deploy()
    assert completed.returncode == 2
    assert "zip,sam,batch-job,k8s-job" in completed.stderr
