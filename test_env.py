"""The env runtime: parameters from prefixed environment variables."""

from __future__ import annotations

import json
from typing import ClassVar

import pytest

from assignment import EnvWidget
from conftest import PROJECT_DIR, SECRET, run_assignment, shipped_result
from task import ConfigError, EnvTask, Parameters

WIDGET_ENVIRONMENT = {
    "WIDGET_HOST": "db.internal",
    "WIDGET_PORT": "6543",
    "WIDGET_DATABASE": "widgets",
    "WIDGET_USER": "app",
    "WIDGET_PASSWORD": SECRET,
}


def test_parameters_come_from_prefixed_variables_parsed_by_type() -> None:
    result = EnvWidget(environ=WIDGET_ENVIRONMENT).run()
    assert result == {
        "runtime": "env",
        "host": "db.internal",
        "port": 6543,
        "database": "widgets",
        "user": "app",
        "password": "***",
        "connection": "app@db.internal:6543/widgets",
    }


def test_variables_without_the_prefix_are_ignored() -> None:
    environ = {**WIDGET_ENVIRONMENT, "HOME": "/root", "WIDGETS_PORT": "1", "GADGET_HOST": "g"}
    assert EnvWidget(environ=environ).run()["port"] == 6543


def test_a_given_prefix_is_used_exactly_as_given() -> None:
    environ = {f"APP_{name.removeprefix('WIDGET_')}": value for name, value in WIDGET_ENVIRONMENT.items()}
    assert EnvWidget("APP_", environ=environ).run()["host"] == "db.internal"
    with pytest.raises(ConfigError, match=r"host: missing: \$env app_HOST is not set"):
        EnvWidget("app_", environ=environ).run()


def test_a_prefixed_variable_that_names_no_parameter_is_an_error_naming_it() -> None:
    environ = {**WIDGET_ENVIRONMENT, "WIDGET_HOTS": "typo", "WIDGET_Host": "mixed-case"}
    with pytest.raises(ConfigError) as caught:
        EnvWidget(environ=environ).run()
    assert caught.value.source == "environment variables WIDGET_*"
    assert caught.value.problems == (
        "$WIDGET_HOTS: unknown parameter (known: host, port, database, user, password)",
        "$WIDGET_Host: unknown parameter (known: host, port, database, user, password)",
    )


@pytest.mark.parametrize("order", ["variable-first", "parameter-first"])
def test_a_prefixed_variable_named_like_a_parameter_is_unknown_whatever_the_order(order: str) -> None:
    own = {"hHOST": "good", "hDATABASE": "d", "hUSER": "u", "hPASSWORD": SECRET}
    environ = {"host": "evil", **own} if order == "variable-first" else {**own, "host": "evil"}
    with pytest.raises(ConfigError) as caught:
        EnvWidget("h", environ=environ).run()
    assert caught.value.problems == (
        "$host: unknown parameter (known: host, port, database, user, password)",
    )


def test_an_empty_variable_counts_as_unset_and_a_required_ones_error_names_it() -> None:
    environ = {**WIDGET_ENVIRONMENT, "WIDGET_PORT": "", "WIDGET_USER": ""}
    with pytest.raises(ConfigError) as caught:
        EnvWidget(environ=environ).run()
    assert caught.value.problems == (
        "user: missing: $env WIDGET_USER is not set (or is empty)",
    )  # port has a default


@pytest.mark.parametrize("text", ["abc", "5432.0", "0x10", "tcp://10.0.0.7:5432", SECRET])
def test_an_integer_that_does_not_parse_is_an_error_naming_the_variable(text: str) -> None:
    with pytest.raises(ConfigError) as caught:
        EnvWidget(environ={**WIDGET_ENVIRONMENT, "WIDGET_PORT": text}).run()
    assert caught.value.problems == (
        "port: $env WIDGET_PORT: expected an integer from 1 to 65535 (an optional sign and decimal digits)",
    )
    assert text not in str(caught.value)


class FlagParams(Parameters):
    dry_run: bool
    ratio: float = 1.0


class Flags:
    name: ClassVar[str] = "flags"
    parameters: ClassVar[type[Parameters]] = FlagParams

    def execute(self, params: FlagParams) -> dict[str, object]:
        return params.masked()


class EnvFlags(Flags, EnvTask):
    pass


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("true", True),
        ("True", True),
        ("YES", True),
        ("1", True),
        ("false", False),
        ("No", False),
        ("0", False),
    ],
)
def test_boolean_spellings(text: str, expected: bool) -> None:
    assert EnvFlags(environ={"FLAGS_DRY_RUN": text}).run() == {"dry_run": expected, "ratio": 1.0}


@pytest.mark.parametrize("text", ["y", "on", "2", "truthy"])
def test_other_boolean_spellings_are_errors(text: str) -> None:
    with pytest.raises(ConfigError, match=r"dry_run: \$env FLAGS_DRY_RUN: expected a boolean"):
        EnvFlags(environ={"FLAGS_DRY_RUN": text}).run()


def test_a_float_is_read_as_python_reads_one() -> None:
    assert EnvFlags(environ={"FLAGS_DRY_RUN": "no", "FLAGS_RATIO": "2.5e-1"}).run()["ratio"] == 0.25


def test_python_assignment_py_with_runtime_env() -> None:
    completed = run_assignment("--runtime", "env", env=WIDGET_ENVIRONMENT)
    assert completed.returncode == 0, completed.stderr
    assert json.loads(completed.stdout)["runtime"] == "env"
    assert SECRET not in completed.stdout + completed.stderr


def test_python_assignment_py_with_a_prefix() -> None:
    environ = {f"STAGING_{name.removeprefix('WIDGET_')}": value for name, value in WIDGET_ENVIRONMENT.items()}
    completed = run_assignment("--runtime", "env", "--prefix", "STAGING_", env=environ)
    assert completed.returncode == 0, completed.stderr
    assert json.loads(completed.stdout)["host"] == "db.internal"


def test_a_kubernetes_service_link_under_the_prefix_is_a_configuration_error() -> None:
    # A Service named "widget" injects WIDGET_PORT=tcp://... and WIDGET_SERVICE_HOST.
    environ = {**WIDGET_ENVIRONMENT, "WIDGET_PORT": "tcp://10.0.0.7:5432", "WIDGET_SERVICE_HOST": "10.0.0.7"}
    completed = run_assignment("--runtime", "env", env=environ)
    assert completed.returncode == 2
    assert "WIDGET_SERVICE_HOST: unknown parameter" in completed.stderr
    assert "port: $env WIDGET_PORT: expected an integer" in completed.stderr


def test_the_shipped_env_file_configures_widget() -> None:
    lines = (PROJECT_DIR / "fixtures" / "widget.env").read_text().splitlines()
    environ = dict(line.split("=", 1) for line in lines if line and not line.startswith("#"))
    assert EnvWidget(environ=environ).run() == shipped_result("env")


def test_an_empty_prefix_is_a_configuration_error() -> None:
    with pytest.raises(ConfigError, match="the prefix is empty"):
        EnvWidget(prefix="", environ={"host": "h"}).run()
