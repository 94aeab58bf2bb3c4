"""Secrets by reference: $secret and $ssm through botocore (against moto's server) and through the
Lambda extension's protocol (against the test kit's stand-in), $file, the cache, the allow-list, outages."""

from __future__ import annotations

import http.client
import json
import os
import re
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import botocore.session  # type: ignore[import-untyped]
import pytest
from moto.server import ThreadedMotoServer

from assignment import LambdaWidget, LocalWidget, Widget
from conftest import PROJECT_DIR, SECRET, run_assignment, widget_params
from task import ConfigError, LambdaTask, Parameters, Secret, StoreUnavailable, run_command_line
from task_lambda import handle_event
from task_stores import forget_cached_values
from task_testing import FakeLambdaContext, FunctionProcess, RuntimeAPI, dynamodb_event, secrets_extension
from test_lambda import expected_result, needs_runtime_client, start_function
from test_triggers import decoded, sqs_batch, with_parameters

REGION = "us-east-1"
#: What moto needs to answer, and nothing of the developer's own AWS set-up.
MOTO_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_REGION": REGION,
    "AWS_CONFIG_FILE": os.devnull,
    "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
}
#: The variables that choose a store's client, which no test inherits from the machine.
STORE_VARIABLES = (
    "AWS_ENDPOINT_URL",
    "AWS_PROFILE",
    "AWS_DEFAULT_REGION",
    "AWS_SESSION_TOKEN",
    "AWS_TOKEN",
    "PARAMETERS_SECRETS_EXTENSION_HTTP_PORT",
    *MOTO_CREDENTIALS,
)


@pytest.fixture(autouse=True)
def _no_store_of_the_machines(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Each test starts with no value kept from another, and reaches only the stores it sets up."""
    for variable in STORE_VARIABLES:
        monkeypatch.delenv(variable, raising=False)
    forget_cached_values()
    yield
    forget_cached_values()


@pytest.fixture(scope="module")
def moto_endpoint() -> Iterator[str]:
    """moto's server, as AWS_ENDPOINT_URL names it, holding these tests' secrets and parameters."""
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    session = botocore.session.Session()
    clients = {
        service: session.create_client(
            service,
            region_name=REGION,
            endpoint_url=endpoint,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )
        for service in ("secretsmanager", "ssm")
    }
    clients["secretsmanager"].create_secret(Name="db/password", SecretString=SECRET)
    clients["secretsmanager"].create_secret(
        Name="db/login", SecretString=json.dumps({"user": "app_from_store", "password": SECRET})
    )
    clients["secretsmanager"].create_secret(Name="db/binary", SecretBinary=b"\x00\x01")
    clients["ssm"].put_parameter(Name="/widget/password", Value=SECRET, Type="SecureString")
    clients["ssm"].put_parameter(Name="/widget/port", Value="7001", Type="String")
    try:
        yield endpoint
    finally:
        server.stop()


@pytest.fixture
def aws(moto_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """The process's AWS variables point botocore at moto; returns them, for a child process too."""
    variables = {"AWS_ENDPOINT_URL": moto_endpoint, **MOTO_CREDENTIALS}
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    return variables


def closed_port() -> int:
    """A loopback port nothing listens on."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def write_config(tmp_path: Path, **changes: object) -> Path:
    path = tmp_path / "widget.json"
    path.write_text(json.dumps(widget_params(**changes)), encoding="utf-8")
    return path


def local_run(
    tmp_path: Path, *, environ: dict[str, str] | None = None, **changes: object
) -> dict[str, object]:
    return LocalWidget(write_config(tmp_path, **changes), environ=environ).run()


# --------------------------------------------------------------------------
# Outside Lambda: botocore, against moto's server


@pytest.mark.usefixtures("aws")
@pytest.mark.parametrize(
    ("changes", "shown"),
    [
        pytest.param({"user": {"$secret": "db/login", "key": "user"}}, {"user": "app_from_store"}, id="key"),
        pytest.param({"port": {"$ssm": "/widget/port"}}, {"port": 7001}, id="ssm-parsed-as-int"),
        pytest.param({"password": {"$secret": "db/password"}}, {"password": "***"}, id="secret"),
        pytest.param({"password": {"$ssm": "/widget/password"}}, {"password": "***"}, id="secure-string"),
    ],
)
def test_a_local_run_reads_the_store_through_botocore_parsed_by_the_parameters_type(
    tmp_path: Path, changes: dict[str, object], shown: dict[str, object]
) -> None:
    result = LocalWidget(write_config(tmp_path, **changes)).run()
    assert {name: result[name] for name in shown} == shown


@pytest.mark.usefixtures("aws")
@pytest.mark.parametrize(
    "reference",
    [{"$secret": "db/password"}, {"$secret": "db/login", "key": "password"}, {"$ssm": "/widget/password"}],
)
def test_the_secret_parameter_holds_exactly_what_the_store_holds(tmp_path: Path, reference: object) -> None:
    params = LocalWidget(tmp_path / "unused.json").validate(widget_params(password=reference))
    assert vars(params)["password"] == Secret(SECRET)


@pytest.mark.usefixtures("aws")
@pytest.mark.parametrize(
    ("reference", "problem"),
    [
        ({"$secret": "db/missing"}, "$secret db/missing: not found (HTTP 4"),
        ({"$ssm": "/widget/missing"}, "$ssm /widget/missing: not found (HTTP 400, ParameterNotFound)"),
        ({"$secret": "db/binary"}, "$secret db/binary: the secret is binary, not text"),
        ({"$secret": "db/password", "key": "user"}, "$secret db/password key user: the secret is not a JSON"),
        ({"$secret": "db/login", "key": "role"}, "$secret db/login key role: the secret has no such key"),
    ],
)
def test_what_the_store_refuses_is_a_problem_of_the_parameter_naming_the_reference(
    tmp_path: Path, reference: object, problem: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        local_run(tmp_path, password=reference, port=0)
    port, password = caught.value.problems  # every problem, in the parameters' order
    assert port == "port: expected an integer from 1 to 65535"
    assert password.startswith(f"password: {problem}")
    assert SECRET not in str(caught.value)


@pytest.mark.parametrize(
    ("remove", "problem"),
    [
        (("AWS_REGION",), "no AWS region"),
        (("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"), "no AWS credentials found"),
    ],
)
def test_missing_region_or_credentials_are_a_configuration_error(
    tmp_path: Path,
    aws: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    remove: tuple[str, ...],
    problem: str,
) -> None:
    for name in remove:
        monkeypatch.delenv(name)
    with pytest.raises(ConfigError, match=f"password: \\$secret db/password: {problem}"):
        local_run(tmp_path, password={"$secret": "db/password"})


def test_the_command_line_reads_a_secret_at_debug_level_and_no_log_line_shows_it(
    tmp_path: Path, aws: dict[str, str]
) -> None:
    config = write_config(tmp_path, password={"$secret": "db/password"})
    completed = run_assignment("--config", str(config), env={**aws, "TASK_LOG_LEVEL": "DEBUG"})
    assert completed.returncode == 0, completed.stderr
    assert json.loads(completed.stdout)["password"] == "***"
    assert SECRET not in completed.stdout + completed.stderr
    debug_lines = [line for line in completed.stderr.splitlines() if " DEBUG " in line]
    assert not [line for line in debug_lines if " botocore" in line or " urllib3" in line]


@pytest.mark.parametrize(
    ("reference", "endpoint", "status", "words"),
    [
        pytest.param({"$secret": "db/password"}, "moto", 0, '"password": "***"', id="found"),
        pytest.param(
            {"$secret": "db/missing"},
            "moto",
            2,
            "password: $secret db/missing: not found (HTTP ",
            id="missing",
        ),
        pytest.param(
            {"$secret": "db/password"},
            "closed",
            1,
            "AWS Secrets Manager: no answer (EndpointConnectionError); the run may be retried",
            id="outage",
        ),
    ],
)
def test_on_the_command_line_an_outage_exits_1_and_a_missing_secret_2(
    tmp_path: Path, aws: dict[str, str], *, reference: object, endpoint: str, status: int, words: str
) -> None:
    environment = dict(aws)
    if endpoint == "closed":
        environment["AWS_ENDPOINT_URL"] = f"http://127.0.0.1:{closed_port()}"
    config = write_config(tmp_path, password=reference)
    completed = run_assignment("--config", str(config), env=environment)
    assert completed.returncode == status, completed.stderr
    assert words in completed.stdout + completed.stderr
    assert SECRET not in completed.stdout + completed.stderr


@pytest.mark.parametrize(
    ("status", "secret_id", "exit_status"),
    [(None, "db/password", 0), (503, "db/password", 1), (None, "db/missing", 2)],
)
def test_an_event_run_from_the_command_line_exits_1_for_an_outage_and_2_for_a_missing_secret(
    tmp_path: Path, status: int | None, secret_id: str, exit_status: int
) -> None:
    event = tmp_path / "event.json"
    params = widget_params(password={"$secret": secret_id})
    event.write_text(json.dumps(sqs_batch(json.dumps(params))), encoding="utf-8")
    with secrets_extension(VALUES, status=status) as env:
        environ = {**env, "AWS_LAMBDA_FUNCTION_NAME": "f", "TASK_SECRET_REFS": f"secret:{secret_id}"}
        assert run_command_line(Widget, ["--event", str(event)], environ=environ) == exit_status


def test_without_botocore_a_store_reference_says_to_install_the_extra(
    tmp_path: Path, aws: dict[str, str]
) -> None:
    config = write_config(tmp_path, password={"$ssm": "/widget/password"})
    code = (
        "import sys; sys.modules['botocore'] = None; "  # as if it were not installed
        f"from assignment import main; sys.exit(main(['--config', {str(config)!r}]))"
    )
    completed = subprocess.run(
        [sys.executable, "-c", code],
        cwd=PROJECT_DIR,
        env={"PATH": os.environ["PATH"], **aws},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert completed.returncode == 2
    assert "needs botocore: install the extra aws (pip install 'task-runtimes[aws]')" in completed.stderr


# --------------------------------------------------------------------------
# In Lambda: the extension's protocol, against the test kit's stand-in


VALUES = {
    "secret:db/password": SECRET,
    "secret:db/login": json.dumps({"user": "app_from_store", "password": SECRET}),
    "ssm:/widget/password": SECRET,
}
LISTED = {"TASK_SECRET_REFS": "secret:db/password, ssm:/widget/password"}


def lambda_run(event: object, environ: dict[str, str]) -> dict[str, object]:
    return LambdaWidget(
        event, FakeLambdaContext(), environ={"AWS_LAMBDA_FUNCTION_NAME": "f", **environ}
    ).run()


def test_the_stand_in_answers_as_the_extension_does() -> None:
    with secrets_extension(VALUES) as env:
        connection = http.client.HTTPConnection(
            "127.0.0.1", int(env["PARAMETERS_SECRETS_EXTENSION_HTTP_PORT"])
        )

        def get(path: str, **headers: str) -> tuple[int, Any]:
            connection.request("GET", path, headers=headers)
            response = connection.getresponse()
            return response.status, response.read()

        token = {"X-Aws-Parameters-Secrets-Token": env["AWS_SESSION_TOKEN"]}
        assert get("/secretsmanager/get?secretId=db%2Fpassword") == (403, b"Bad Token")
        status, body = get("/secretsmanager/get?secretId=db%2Fpassword", **token)
        assert (status, json.loads(body)["SecretString"]) == (200, SECRET)
        status, body = get(
            "/systemsmanager/parameters/get?name=%2Fwidget%2Fpassword&withDecryption=true", **token
        )
        assert (status, json.loads(body)["Parameter"]["Value"]) == (200, SECRET)
        status, body = get("/secretsmanager/get?secretId=db%2Fmissing", **token)
        assert (status, json.loads(body)["__type"]) == (400, "ResourceNotFoundException")


@pytest.mark.parametrize(
    ("reference", "refs"),
    [
        ({"$secret": "db/password"}, "secret:db/password"),
        ({"$ssm": "/widget/password"}, "ssm:/widget/password"),
        ({"$secret": "db/login", "key": "password"}, " secret:other , secret:db/login"),
    ],
)
def test_an_invokers_listed_reference_is_read_through_the_extension(reference: object, refs: str) -> None:
    with secrets_extension(VALUES) as env:
        assert lambda_run(widget_params(password=reference), {**env, "TASK_SECRET_REFS": refs}) == (
            expected_result()
        )
        assert len(env.requests) == 1


@pytest.mark.parametrize(
    ("changes", "problem"),
    [
        pytest.param(
            {"password": {"$secret": "db/login"}},
            "password: $secret db/login is not allowed: TASK_SECRET_REFS does not list it",
            id="unlisted",
        ),
        pytest.param(
            {"user": {"$secret": "db/password"}},
            "user: $secret references are allowed only for secret parameters in what an invoker sends",
            id="plain-field",
        ),
        pytest.param(
            {"password": {"$ssm": "db/password"}},
            "password: $ssm db/password is not allowed: TASK_SECRET_REFS does not list it",
            id="other-kind",
        ),
        pytest.param(
            {"password": {"$file": "/run/secrets/../secrets/db"}},
            "password: $file /run/secrets/db is not allowed: TASK_SECRET_REFS does not list it",
            id="file",
        ),
    ],
)
def test_an_invokers_reference_outside_the_allow_list_contacts_no_store(
    changes: dict[str, object], problem: str
) -> None:
    with secrets_extension(VALUES) as env:
        with pytest.raises(ConfigError) as caught:
            lambda_run(widget_params(**changes), {**env, **LISTED, "TASK_SECRET_REFS": "secret:db/password"})
        assert caught.value.problems == (problem,)
        assert env.requests == []


@pytest.mark.parametrize(
    ("refs", "answer", "requests"),
    [
        pytest.param("secret:db/login", {"batchItemFailures": []}, 1, id="listed"),
        pytest.param("secret:db/password", "listed", 0, id="unlisted"),
    ],
)
def test_a_dynamodb_streams_record_reads_a_secret_as_an_invoker_writes_it(
    refs: str, answer: object, requests: int
) -> None:
    reference = {"$secret": "db/login", "key": "password"}
    event = dynamodb_event(widget_params(password=reference))
    sequence_number = event["Records"][0]["dynamodb"]["SequenceNumber"]
    if answer == "listed":
        answer = {"batchItemFailures": [{"itemIdentifier": sequence_number}]}
    with secrets_extension(VALUES) as env:
        environ = {"AWS_LAMBDA_FUNCTION_NAME": "f", **env, "TASK_SECRET_REFS": refs}
        assert handle_event(LambdaWidget, event, FakeLambdaContext(), environ=environ) == answer
        assert len(env.requests) == requests


def test_a_kept_value_serves_for_its_ttl_and_each_stand_in_starts_afresh() -> None:
    event = widget_params(password={"$secret": "db/password"})
    with secrets_extension(VALUES) as env:
        assert lambda_run(event, {**env, **LISTED}) == expected_result()
        assert lambda_run(event, {**env, **LISTED}) == expected_result()
        assert len(env.requests) == 1  # kept for the second run
    with secrets_extension(VALUES) as env:
        assert lambda_run(event, {**env, **LISTED, "TASK_SECRETS_TTL": "0"}) == expected_result()
        assert lambda_run(event, {**env, **LISTED, "TASK_SECRETS_TTL": "0"}) == expected_result()
        assert len(env.requests) == 2  # 0 keeps nothing
    # Another stand-in, which does not answer: it is another store, which keeps nothing of the first.
    with secrets_extension(VALUES, status=503) as down, pytest.raises(StoreUnavailable):
        lambda_run(event, {**down, **LISTED, "TASK_SECRETS_TIMEOUT_MS": "300"})


def test_an_answer_whose_length_is_given_is_read_though_the_connection_stays_open() -> None:
    body = json.dumps({"Name": "db/password", "SecretString": SECRET}).encode()
    listener = socket.create_server(("127.0.0.1", 0))
    done = threading.Event()

    def answer_and_keep_open() -> None:
        connection, _ = listener.accept()
        with connection:
            connection.recv(64 * 1024)
            connection.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))
            done.wait(10)  # as a server that keeps connections alive would

    threading.Thread(target=answer_and_keep_open, daemon=True).start()
    environ = {
        "PARAMETERS_SECRETS_EXTENSION_HTTP_PORT": str(listener.getsockname()[1]),
        "AWS_SESSION_TOKEN": "t",
    }
    try:
        event = widget_params(password={"$secret": "db/password"})
        assert (
            lambda_run(event, {**environ, **LISTED, "TASK_SECRETS_TIMEOUT_MS": "5000"}) == expected_result()
        )
    finally:
        done.set()
        listener.close()


def test_an_answer_that_trickles_in_is_unavailable_once_the_timeout_has_passed() -> None:
    listener = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def trickle() -> None:
        connection, _ = listener.accept()
        with connection:
            connection.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\r\n")
            while not stop.wait(0.05):  # a byte at a time, each well within any one read's patience
                connection.sendall(b" ")

    server = threading.Thread(target=trickle, daemon=True)
    server.start()
    port = str(listener.getsockname()[1])
    environ = {"PARAMETERS_SECRETS_EXTENSION_HTTP_PORT": port, "AWS_SESSION_TOKEN": "t", **LISTED}
    started = time.monotonic()
    try:
        with pytest.raises(StoreUnavailable, match="no answer in time"):
            lambda_run(
                widget_params(password={"$secret": "db/password"}),
                {**environ, "TASK_SECRETS_TIMEOUT_MS": "500"},
            )
    finally:
        stop.set()
        listener.close()
    assert time.monotonic() - started < 5  # not the minutes the trickle would last


def test_a_listed_file_is_compared_after_normalising_its_path(tmp_path: Path) -> None:
    (tmp_path / "db").write_text(SECRET + "\n", encoding="utf-8")
    (tmp_path / "sub").symlink_to("/")  # what the path says is read, not where a link would lead
    written = f"{tmp_path}/./sub/../db"
    environ = {"TASK_SECRET_REFS": f"file:{tmp_path}//db"}
    assert lambda_run(widget_params(password={"$file": written}), environ) == expected_result()


class TwoSecretParams(Parameters):
    first: Secret
    second: Secret


class TwoSecrets:
    """A business task with two secrets, to see what one run reads."""

    name: ClassVar[str] = "two"
    parameters: ClassVar[type[Parameters]] = TwoSecretParams

    def execute(self, params: Any) -> dict[str, object]:
        return {"same": params.first == params.second}


class LambdaTwoSecrets(TwoSecrets, LambdaTask):
    pass


def test_one_run_asks_once_per_secret_and_warm_runs_are_served_from_the_cache() -> None:
    event = {"first": {"$secret": "db/password"}, "second": {"$secret": "db/password"}}
    with secrets_extension(VALUES) as env:
        environ = {**env, **LISTED, "AWS_LAMBDA_FUNCTION_NAME": "f"}
        for _ in range(3):
            assert LambdaTwoSecrets(event, environ=environ).run() == {"same": True}
        assert len(env.requests) == 1


def test_with_a_ttl_of_0_each_run_asks_again_but_once() -> None:
    event = {"first": {"$secret": "db/password"}, "second": {"$secret": "db/password"}}
    with secrets_extension(VALUES) as env:
        environ = {**env, **LISTED, "AWS_LAMBDA_FUNCTION_NAME": "f", "TASK_SECRETS_TTL": "0"}
        for _ in range(3):
            assert LambdaTwoSecrets(event, environ=environ).run() == {"same": True}
        assert len(env.requests) == 3


@pytest.mark.parametrize(
    ("values", "reference", "token", "problem"),
    [
        pytest.param(
            VALUES, {"$secret": "db/password"}, "not-the-token", "refused the token (HTTP 403)", id="token"
        ),
        pytest.param(
            {"secret:db/password": b"\x00\x01"},
            {"$secret": "db/password"},
            None,
            "the secret is binary, not text",
            id="binary",
        ),
        pytest.param(
            VALUES, {"$ssm": "/widget/missing"}, None, "not found (HTTP 400, ParameterNotFound)", id="missing"
        ),
    ],
)
def test_what_the_extension_refuses_is_a_problem_of_the_parameter(
    values: dict[str, Any], reference: dict[str, str], token: str | None, problem: str
) -> None:
    with secrets_extension(values) as env:
        environ = {**env, "TASK_SECRET_REFS": "secret:db/password,ssm:/widget/missing"}
        if token is not None:
            environ["AWS_SESSION_TOKEN"] = token
        with pytest.raises(ConfigError) as caught:
            lambda_run(widget_params(password=reference), environ)
    (reported,) = caught.value.problems
    assert reported.startswith(f"password: {next(iter(reference))} ")
    assert reported.endswith(problem)


@pytest.mark.parametrize(
    ("token", "problem"),
    [
        (
            {"AWS_TOKEN": "file:///nowhere/token"},
            "AWS_TOKEN: the file /nowhere/token cannot be read: No such file or directory",
        ),
        ({}, "AWS_SESSION_TOKEN: no token for the secrets extension: set AWS_SESSION_TOKEN or AWS_TOKEN"),
    ],
)
def test_no_token_for_the_extension_is_a_configuration_error_naming_the_variable(
    token: dict[str, str], problem: str
) -> None:
    environ = {**LISTED, **token, "PARAMETERS_SECRETS_EXTENSION_HTTP_PORT": str(closed_port())}
    with pytest.raises(ConfigError) as caught:
        lambda_run(widget_params(password={"$secret": "db/password"}), environ)
    assert str(caught.value) == problem


@pytest.mark.parametrize(
    ("variable", "text", "problem"),
    [
        ("TASK_SECRETS_TTL", "5m", "TASK_SECRETS_TTL: expected a whole number of seconds, got '5m'"),
        ("TASK_SECRETS_TTL", "-1", "TASK_SECRETS_TTL: expected a whole number of seconds, got '-1'"),
        (
            "TASK_SECRETS_TIMEOUT_MS",
            "0",
            "TASK_SECRETS_TIMEOUT_MS: expected a positive number of milliseconds, at most 999999999, got '0'",
        ),
        (
            "PARAMETERS_SECRETS_EXTENSION_HTTP_PORT",
            "http",
            "PARAMETERS_SECRETS_EXTENSION_HTTP_PORT: expected a port from 1 to 65535, got 'http'",
        ),
    ],
)
def test_a_bad_setting_is_a_configuration_error_naming_the_variable(
    variable: str, text: str, problem: str
) -> None:
    with secrets_extension(VALUES) as env:
        with pytest.raises(ConfigError) as caught:
            lambda_run(widget_params(password={"$secret": "db/password"}), {**env, **LISTED, variable: text})
        assert str(caught.value) == problem


@pytest.mark.parametrize(
    ("options", "words"),
    [
        ({"status": 503}, "answered HTTP 503"),
        ({"status": 429}, "answered HTTP 429"),
        ({"delay": 60}, "no answer in time"),
    ],
)
def test_a_store_that_does_not_answer_is_store_unavailable_naming_the_store(
    options: dict[str, Any], words: str
) -> None:
    with secrets_extension(VALUES, **options) as env:
        environ = {**env, **LISTED, "TASK_SECRETS_TIMEOUT_MS": "300"}
        with pytest.raises(StoreUnavailable) as caught:
            lambda_run(widget_params(password={"$secret": "db/password"}), environ)
    message = str(caught.value)
    assert message.startswith(
        "AWS Secrets Manager (through the Parameters and Secrets extension at localhost:"
    )
    assert words in message
    assert "db/password" not in message
    assert not isinstance(caught.value, ConfigError)


def test_no_extension_listening_is_store_unavailable() -> None:
    environ = {
        **LISTED,
        "PARAMETERS_SECRETS_EXTENSION_HTTP_PORT": str(closed_port()),
        "AWS_SESSION_TOKEN": "t",
    }
    with pytest.raises(StoreUnavailable, match="no answer"):
        lambda_run(widget_params(password={"$secret": "db/password"}), environ)


def test_the_agent_serves_secrets_with_its_token_from_a_file_but_no_ssm(tmp_path: Path) -> None:
    token_file = tmp_path / "token"
    with secrets_extension(VALUES) as env:
        token_file.write_text(env["AWS_SESSION_TOKEN"] + "\n", encoding="utf-8")
        agent = {
            "AWS_TOKEN": f"file://{token_file}",
            "PARAMETERS_SECRETS_EXTENSION_HTTP_PORT": env["PARAMETERS_SECRETS_EXTENSION_HTTP_PORT"],
        }
        assert local_run(tmp_path, environ=agent, password={"$secret": "db/password"})["password"] == "***"
        with pytest.raises(
            ConfigError, match=r"password: \$ssm /widget/password: the AWS Secrets Manager Agent"
        ):
            local_run(tmp_path, environ=agent, password={"$ssm": "/widget/password"})
        assert len(env.requests) == 1


# --------------------------------------------------------------------------
# $file: what a platform mounts


def test_a_mounted_file_is_read_through_its_links_without_its_trailing_newline_on_every_run(
    tmp_path: Path,
) -> None:
    # As Kubernetes mounts a Secret: the file is a link into ..data, itself a link to a dated directory.
    (tmp_path / "..2026_01_01").mkdir()
    (tmp_path / "..2026_01_01" / "password").write_text(SECRET + "\n", encoding="utf-8")
    (tmp_path / "..data").symlink_to("..2026_01_01")
    (tmp_path / "password").symlink_to("..data/password")
    reference = {"$file": str(tmp_path / "password")}
    task = LocalWidget(write_config(tmp_path, password=reference))
    raw = json.loads((tmp_path / "widget.json").read_text())
    assert vars(task.validate(raw))["password"] == Secret(SECRET)
    (tmp_path / "..2026_01_01" / "password").write_text("rotated\n\n", encoding="utf-8")
    assert vars(task.validate(raw))["password"] == Secret("rotated\n")  # never cached; one newline removed


@pytest.mark.parametrize(
    ("make", "problem"),
    [
        pytest.param(lambda path: None, "No such file or directory", id="missing"),
        pytest.param(lambda path: path.mkdir(), "not a regular file", id="directory"),
        pytest.param(os.mkfifo, "not a regular file", id="fifo"),
        pytest.param(lambda path: path.write_bytes(b"x" * 65537), "larger than 64 KiB", id="too-large"),
        pytest.param(
            lambda path: path.write_bytes(b"\xff" + SECRET.encode()), "not UTF-8 text", id="not-utf8"
        ),
        pytest.param(lambda path: path.write_text("\n"), "is empty", id="empty"),
    ],
)
def test_a_file_that_cannot_serve_as_a_secret_is_a_problem_naming_its_path(
    tmp_path: Path, make: Any, problem: str
) -> None:
    path = tmp_path / "secret"
    make(path)
    with pytest.raises(ConfigError) as caught:
        local_run(tmp_path, password={"$file": str(path)})
    (reported,) = caught.value.problems
    assert reported.startswith(f"password: $file {path}: ")
    assert problem in reported


@pytest.mark.parametrize(
    "reference",
    [
        {"$file": "secrets/db"},
        {"$secret": ""},
        {"$secret": "db/password", "key": 1},
        {"$secret": "db/password", "version": "1"},
        {"$ssm": "/a", "$secret": "b"},
        {"$ssm": ["/a"]},
        {"$secret": "db\npassword"},
        {"$file": "/run/secrets/" + "x" * 2048},
    ],
)
def test_a_reference_of_the_wrong_form_is_a_problem_and_reads_nothing(
    tmp_path: Path, reference: object
) -> None:
    with pytest.raises(ConfigError) as caught:
        local_run(tmp_path, password=reference)
    (reported,) = caught.value.problems
    assert reported.startswith("password: ")
    assert "absolute" in reported or "a reference must be one of" in reported


# --------------------------------------------------------------------------
# --check, and --check --no-resolve


def test_check_shows_each_store_references_kind_and_id_and_hides_its_value(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "db").write_text(SECRET, encoding="utf-8")
    with secrets_extension(VALUES) as env:
        config = write_config(
            tmp_path,
            user={"$secret": "db/login", "key": "user"},
            password={"$file": str(tmp_path / "db")},
        )
        assert run_command_line(Widget, ["--config", str(config), "--check"], environ=env) == 0
    report = capsys.readouterr().out
    assert re.search(r"\n  user +\*\*\* +from \$secret db/login key user\n", report)
    assert re.search(rf"\n  password +\*\*\* +from \$file {re.escape(str(tmp_path / 'db'))}\n", report)
    assert SECRET not in report
    assert "app_from_store" not in report


def test_check_no_resolve_reads_no_reference_of_any_kind(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with secrets_extension(VALUES) as env:
        config = write_config(
            tmp_path,
            host={"$env": "DB_HOST_NOT_SET"},
            user={"$ssm": "/nowhere"},
            database={"$file": "/nowhere/database"},
            password={"$secret": "db/missing"},
        )
        argv = ["--config", str(config), "--check", "--no-resolve"]
        assert run_command_line(Widget, argv, environ=env) == 0
        assert env.requests == []
    report = capsys.readouterr().out
    for name, origin in [
        ("host", "$env DB_HOST_NOT_SET"),
        ("user", "$ssm /nowhere"),
        ("database", "$file /nowhere/database"),
        ("password", "$secret db/missing"),
    ]:
        assert f"{name:<8}  reference, not read  from {origin}" in report


@pytest.mark.parametrize(
    ("refs", "status", "words"),
    [
        ("secret:db/missing", 0, "password  reference, not read  from $secret db/missing"),
        ("secret:other", 2, "password: $secret db/missing is not allowed: TASK_SECRET_REFS does not list it"),
    ],
)
def test_check_no_resolve_of_an_event_checks_the_allow_list_and_contacts_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], refs: str, status: int, words: str
) -> None:
    event = tmp_path / "event.json"
    event.write_text(json.dumps(with_parameters("sqs", widget_params(password={"$secret": "db/missing"}))))
    with secrets_extension(VALUES) as env:
        environ = {**env, "TASK_SECRET_REFS": refs}
        argv = ["--event", str(event), "--check", "--no-resolve"]
        assert run_command_line(Widget, argv, environ=environ) == status
        assert env.requests == []
    captured = capsys.readouterr()
    assert words in captured.out + captured.err


def test_the_shipped_references_check_in_ci_as_docs_secrets_md_shows() -> None:
    completed = run_assignment("--config", "fixtures/widget_references.json", "--check", "--no-resolve")
    assert completed.returncode == 0, completed.stderr
    docs = (PROJECT_DIR / "docs" / "secrets.md").read_text(encoding="utf-8")
    assert completed.stdout in docs


@pytest.mark.parametrize(
    ("argv", "environ", "words"),
    [
        pytest.param(
            ["--runtime", "env", "--check", "--no-resolve"],
            {"WIDGET_HOST": "h", "WIDGET_DATABASE": "d", "WIDGET_USER": "u", "WIDGET_PASSWORD": SECRET},
            '  host      "h"   from $env WIDGET_HOST',
            id="env-runtime-reads-its-own-variables",
        ),
        pytest.param(
            ["--runtime", "batch", "--db", str(PROJECT_DIR / "fixtures" / "tasks.json"), "--check", "--all"],
            {},
            "Documents: 4 of 4 valid",
            id="all-documents-without-their-variable",
        ),
    ],
)
def test_no_resolve_reads_a_runtimes_own_source_and_checks_every_document(
    capsys: pytest.CaptureFixture[str], argv: list[str], environ: dict[str, str], words: str
) -> None:
    assert run_command_line(Widget, [*argv, "--no-resolve"], environ=environ) == 0
    assert words in capsys.readouterr().out


def test_a_check_that_cannot_reach_its_store_exits_1_saying_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with secrets_extension(VALUES, status=503) as env:
        config = write_config(tmp_path, password={"$secret": "db/password"})
        assert run_command_line(Widget, ["--config", str(config), "--check"], environ=env) == 1
    assert "AWS Secrets Manager (through the Parameters and Secrets extension" in capsys.readouterr().err


def test_no_resolve_without_check_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["--config", str(write_config(tmp_path)), "--no-resolve"]
    assert run_command_line(Widget, argv, environ={}) == 2
    assert (
        "--no-resolve checks references without reading them: use it with --check" in capsys.readouterr().err
    )


# --------------------------------------------------------------------------
# Under the real AWS Lambda runtime client


def test_the_store_support_is_loaded_by_a_store_reference_only() -> None:
    code = (
        "import sys, assignment\n"
        f"assignment.handler({widget_params(password={'$env': 'DB_PASSWORD'})!r}, None)\n"
        "print(sorted({'task_stores', 'task_store_clients', 'http.client', 'botocore'} & set(sys.modules)))"
    )
    environment = {"PATH": os.environ["PATH"], "DB_PASSWORD": SECRET, "TASK_ENV_REFS": "DB_PASSWORD"}
    completed = subprocess.run(
        [sys.executable, "-c", code],
        cwd=PROJECT_DIR,
        env=environment,
        capture_output=True,
        text=True,
        check=True,
    )
    assert completed.stdout.strip() == "[]"


#: A handler that answers as assignment.handler does, and says which AWS SDK modules are loaded.
SDK_WATCHING_FUNCTION = f"""
import sys
sys.path.insert(0, {str(PROJECT_DIR)!r})
from assignment import handler as widget_handler

def handler(event, context):
    answer = widget_handler(event, context)
    loaded = sorted(name for name in ("botocore", "boto3") if name in sys.modules)
    return {{"answer": answer, "sdk_modules": loaded}}
"""


@pytest.fixture
def extension_function(tmp_path: Path) -> Iterator[tuple[RuntimeAPI, FunctionProcess, Any]]:
    """A warm function under the real runtime client, logging at DEBUG, beside the extension stand-in."""
    (tmp_path / "watching.py").write_text(SDK_WATCHING_FUNCTION, encoding="utf-8")
    with secrets_extension(VALUES) as env, RuntimeAPI() as api:
        logs = {"AWS_LAMBDA_LOG_FORMAT": "JSON", "AWS_LAMBDA_LOG_LEVEL": "DEBUG"}
        environment = {"PATH": os.environ["PATH"], **env, **LISTED, **logs}
        with FunctionProcess(api, environment, "watching.handler", root=tmp_path) as function:
            yield api, function, env


@needs_runtime_client
def test_under_the_runtime_client_a_warm_function_reads_through_the_extension_without_botocore(
    extension_function: tuple[RuntimeAPI, FunctionProcess, Any],
) -> None:
    api, function, env = extension_function
    events = [
        widget_params(password={"$secret": "db/password"}),
        with_parameters("http_api", widget_params(password={"$ssm": "/widget/password"})),
        sqs_batch(json.dumps(widget_params(password={"$secret": "db/password"}))),
        widget_params(password={"$secret": "db/password"}),
    ]
    answers: list[Any] = [api.invoke(event).payload for event in events]
    assert [answer["sdk_modules"] for answer in answers] == [[], [], [], []]
    assert answers[0]["answer"] == answers[3]["answer"] == expected_result()
    assert decoded(answers[1]["answer"])["body"] == expected_result()
    assert answers[2]["answer"] == {"batchItemFailures": []}
    assert len(env.requests) == 2  # one per secret: the warm process keeps what it read
    assert "widget: done" in function.output  # its log, at DEBUG
    assert SECRET not in json.dumps(answers) + function.output


@needs_runtime_client
@pytest.mark.parametrize(
    ("status", "reference", "answers"),
    [
        pytest.param(
            503,
            {"$secret": "db/password"},
            {
                "direct": ("error", "StoreUnavailable"),
                "http_api": (503, "StoreUnavailable"),
                "alb": (503, "StoreUnavailable"),
                "sqs": ("listed", None),
            },
            id="outage",
        ),
        pytest.param(
            None,
            {"$secret": "db/missing"},
            {
                "direct": ("error", "ConfigError"),
                "http_api": (400, "ConfigError"),
                "alb": (400, "ConfigError"),
                "sqs": ("listed", None),
            },
            id="missing",
        ),
    ],
)
def test_under_the_runtime_client_an_outage_is_503_and_a_missing_secret_400(
    status: int | None, reference: dict[str, str], answers: dict[str, tuple[object, object]]
) -> None:
    params = widget_params(password=reference)
    events = {
        "direct": params,
        "http_api": with_parameters("http_api", params),
        "alb": with_parameters("alb", params),
        "sqs": sqs_batch(json.dumps(params)),
    }
    with secrets_extension(VALUES, status=status) as env, RuntimeAPI() as api:
        listed = {"TASK_SECRET_REFS": "secret:db/password,secret:db/missing"}
        with start_function(api, **env, **listed) as function:
            outcomes = {trigger: api.invoke(event) for trigger, event in events.items()}
    seen: dict[str, tuple[object, object]] = {}
    for trigger, outcome in outcomes.items():
        payload = decoded(outcome.payload)
        if trigger == "direct":
            seen[trigger] = (outcome.kind, payload["errorType"])
        elif trigger == "sqs":
            seen[trigger] = ("listed" if payload["batchItemFailures"] else "not listed", None)
        else:
            seen[trigger] = (payload["statusCode"], payload["body"]["errorType"])
    assert seen == answers
    if status == 503:
        alb = decoded(outcomes["alb"].payload)
        assert alb["statusDescription"] == "503 Service Unavailable"
        assert alb["body"]["errorMessage"].startswith(
            "AWS Secrets Manager (through the Parameters and Secrets"
        )
    texts = json.dumps([outcome.payload for outcome in outcomes.values()]) + function.output
    assert SECRET not in texts
    assert status != 503 or "db/password" not in json.dumps(outcomes["http_api"].payload)
