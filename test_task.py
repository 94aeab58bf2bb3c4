"""The library: declared parameters, the run() template, errors, references."""

from __future__ import annotations

import abc
import builtins
import json
import logging
import math
import pickle
import subprocess
import sys
from typing import Any, ClassVar

import pytest

import task
from conftest import ALL_RUNTIMES, DROP, PROJECT_DIR, SECRET, build_widget, widget_params
from task import (
    ConfigError,
    LocalTask,
    Parameters,
    Secret,
    Task,
    TaskError,
)

# --------------------------------------------------------------------------
# Declared parameters


class ServiceParams(Parameters):
    host: str
    port: int = 8080
    ratio: float = 0.5
    verbose: bool = False
    token: Secret
    label: str | None


def test_fields_are_read_from_the_annotations_in_declared_order() -> None:
    params = ServiceParams(host="h", token="t")
    assert list(params.masked()) == ["host", "port", "ratio", "verbose", "token", "label"]


def test_defaults_apply_and_an_optional_field_defaults_to_none() -> None:
    params = ServiceParams(host="h", token="t")
    assert (params.port, params.ratio, params.verbose, params.label) == (8080, 0.5, False, None)


def test_annotations_may_be_real_objects_as_well_as_strings() -> None:
    annotations = {"count": int, "name": str | None, "key": Secret | None, "on": bool, "share": float}
    params_class = type("Evaluated", (Parameters,), {"__annotations__": annotations})
    params = params_class(count=3, on=True, share=1, key="k")
    assert params.masked() == {"count": 3, "name": None, "key": "***", "on": True, "share": 1.0}


@pytest.mark.parametrize("annotation", ["list[str]", "Optional[int]", "int | str", "dict", "None"])
def test_an_unsupported_annotation_is_a_type_error_naming_the_field(annotation: str) -> None:
    with pytest.raises(TypeError, match=r"Broken\.field: unsupported annotation"):
        type("Broken", (Parameters,), {"__annotations__": {"field": annotation}})


def test_a_default_of_the_wrong_type_is_a_type_error_at_class_definition() -> None:
    with pytest.raises(
        TypeError, match=r"Broken\.port: the default is not valid: expected an integer, got a string"
    ):
        type("Broken", (Parameters,), {"__annotations__": {"port": "int"}, "port": "5432"})


def test_a_subclass_extends_its_parents_fields() -> None:
    class MoreParams(ServiceParams):
        retries: int = 3

    assert MoreParams(host="h", token="t").retries == 3
    assert "retries" not in ServiceParams(host="h", token="t").masked()


def test_calling_the_class_reports_every_problem_at_once() -> None:
    with pytest.raises(ConfigError) as caught:
        ServiceParams(port="80", verbose=1, colour="red", token=SECRET * 2)
    assert caught.value.problems == (
        "host: missing (expected a string)",
        "port: expected an integer, got a string",
        "verbose: expected a boolean, got an integer",
        "colour: unknown parameter (known: host, port, ratio, verbose, token, label)",
    )


def test_a_secret_may_be_given_as_a_secret() -> None:
    assert ServiceParams(host="h", token=Secret(SECRET)).token.reveal() == SECRET


def test_parameters_are_immutable() -> None:
    params = ServiceParams(host="h", token="t")
    with pytest.raises(AttributeError, match="read-only"):
        params.host = "other"
    with pytest.raises(AttributeError, match="read-only"):
        del params.host
    assert params.host == "h"


def test_parameters_compare_and_hash_by_value() -> None:
    assert ServiceParams(host="h", token="t") == ServiceParams(host="h", token="t")
    assert ServiceParams(host="h", token="t") != ServiceParams(host="h", token="u")
    assert len({ServiceParams(host="h", token="t"), ServiceParams(host="h", token="t")}) == 1


def test_a_secret_never_shows_itself() -> None:
    params = ServiceParams(host="h", token=SECRET)
    shown = [repr(params), str(params), repr(params.token), str(params.token), f"{params.token}"]
    assert all(SECRET not in text for text in shown)
    assert params.masked()["token"] == "***"
    assert isinstance(params.token, Secret)
    assert params.token.reveal() == SECRET


@pytest.mark.parametrize(
    ("annotation", "value", "problem"),
    [
        ("int", True, "expected an integer, got a boolean"),
        ("int", 5432.0, "expected an integer, got a number with a fraction or exponent"),
        ("int", 5432.5, "expected an integer, got a number with a fraction or exponent"),
        ("int", "5432", "expected an integer, got a string"),
        ("int", None, "expected an integer, got null"),
        ("float", False, "expected a number, got a boolean"),
        ("float", "1.5", "expected a number, got a string"),
        ("float", math.nan, "expected a number, got a number that is not finite"),
        ("float", math.inf, "expected a number, got a number that is not finite"),
        ("bool", 1, "expected a boolean, got an integer"),
        ("bool", "true", "expected a boolean, got a string"),
        ("str", 7, "expected a string, got an integer"),
        ("str", ["a"], "expected a string, got an array"),
        ("str", {"a": 1}, "expected a string, got an object"),
        ("Secret", 1234, "expected a string (secret), got an integer"),
        ("str | None", 7, "expected a string or null, got an integer"),
    ],
)
def test_json_values_are_strictly_typed(annotation: str, value: object, problem: str) -> None:
    params_class = type("Strict", (Parameters,), {"__annotations__": {"field": annotation}})
    with pytest.raises(ConfigError) as caught:
        params_class(field=value)
    assert caught.value.problems == (f"field: {problem}",)


@pytest.mark.parametrize(
    ("annotation", "value", "expected"),
    [
        ("int", 5432, 5432),
        ("float", 5, 5.0),
        ("float", 0.25, 0.25),
        ("bool", False, False),
        ("str", "", ""),
        ("str | None", None, None),
    ],
)
def test_json_values_of_the_declared_type_are_accepted(
    annotation: str, value: object, expected: object
) -> None:
    params_class = type("Strict", (Parameters,), {"__annotations__": {"field": annotation}})
    accepted = params_class(field=value).masked()["field"]
    assert accepted == expected
    assert type(accepted) is type(expected)


# --------------------------------------------------------------------------
# The run() template and its hooks


class Echo:
    """A business task that returns the parameters it was given."""

    name: ClassVar[str] = "echo"
    runtime: ClassVar[str]
    parameters: ClassVar[type[Parameters]] = ServiceParams

    def execute(self, params: ServiceParams) -> dict[str, object]:
        return {"runtime": self.runtime, **params.masked()}


class CountingTask(Echo, Task):
    """A runtime that hands out fixed raw parameters and counts its reads."""

    runtime = "counting"

    def __init__(self, raw: object) -> None:
        super().__init__()
        self.raw = raw
        self.reads = 0

    def load_config(self) -> object:
        self.reads += 1
        return self.raw


class FailingSourceTask(Echo, Task):
    """A runtime whose source fails with a foreign exception."""

    runtime = "failing"

    def __init__(self, error: Exception) -> None:
        super().__init__()
        self.error = error

    def load_config(self) -> object:
        raise self.error

    def describe_source(self) -> str:
        return "the failing source"


def test_run_reads_the_source_once_and_returns_the_business_result() -> None:
    counting = CountingTask({"host": "h", "token": SECRET})
    result = counting.run()
    assert counting.reads == 1
    assert result == {
        "runtime": "counting",
        "host": "h",
        "port": 8080,
        "ratio": 0.5,
        "verbose": False,
        "token": "***",
        "label": None,
    }


def test_a_runtime_without_business_logic_cannot_be_instantiated() -> None:
    with pytest.raises(TypeError, match="abstract"):
        LocalTask("config.json")  # type: ignore[abstract]


def test_a_runtime_that_does_not_implement_load_config_cannot_be_instantiated() -> None:
    class Incomplete(Echo, Task):
        runtime = "incomplete"

    with pytest.raises(TypeError, match="load_config"):
        Incomplete()  # type: ignore[abstract]


@pytest.mark.parametrize(
    ("error", "explained"),
    [
        (FileNotFoundError(2, "No such file or directory"), "No such file or directory"),
        (PermissionError(13, "Permission denied"), "Permission denied"),
        (json.JSONDecodeError("Expecting value", '{"password": "' + SECRET, 14), "not valid JSON"),
        (UnicodeDecodeError("utf-8", SECRET.encode(), 3, 4, "invalid start byte"), "not UTF-8 text"),
    ],
)
def test_foreign_errors_from_the_source_become_a_source_error_that_keeps_the_cause(
    error: Exception, explained: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        FailingSourceTask(error).run()
    assert str(caught.value).startswith(f"the failing source: {explained}")
    assert caught.value.__cause__ is error
    assert SECRET not in str(caught.value)


@pytest.mark.parametrize(
    ("raw", "kind"), [([], "an array"), ("text", "a string"), (None, "null"), (3, "an integer")]
)
def test_a_source_that_is_not_an_object_is_a_source_error(raw: object, kind: str) -> None:
    with pytest.raises(ConfigError, match=f"counting: expected a JSON object of parameters, got {kind}$"):
        CountingTask(raw).run()


def test_exceptions_from_the_business_logic_propagate_unchanged() -> None:
    class Exploding(CountingTask):
        def execute(self, params: ServiceParams) -> dict[str, object]:
            raise RuntimeError("the widget service is down")

    with pytest.raises(RuntimeError, match="the widget service is down"):
        Exploding({"host": "h", "token": "s3cr3t-token"}).run()


def test_errors_form_one_hierarchy() -> None:
    assert issubclass(TaskError, Exception)
    assert issubclass(ConfigError, TaskError)


def test_a_config_error_keeps_its_source_and_problems_through_pickling() -> None:
    error = pickle.loads(pickle.dumps(ConfigError("Lambda event", ["host: missing"])))
    assert (error.source, error.problems, str(error)) == (
        "Lambda event",
        ("host: missing",),
        "Lambda event: host: missing",
    )


def test_a_config_error_names_the_source_and_every_problem() -> None:
    error = ConfigError("JSON file a.json", ["port: expected an integer, got a string", "host: missing"])
    assert str(error) == (
        "JSON file a.json: 2 problems: port: expected an integer, got a string; host: missing"
    )
    assert str(ConfigError("Lambda event", ["host: missing"])) == "Lambda event: host: missing"


def test_every_public_name_exists() -> None:
    assert sorted(task.__all__) == sorted(set(task.__all__))
    for name in task.__all__:
        assert hasattr(task, name), name


def test_a_task_repr_names_its_class_and_runtime_only() -> None:
    counting = CountingTask({"host": "h", "token": SECRET})
    counting.run()
    assert repr(counting) == "<CountingTask runtime=counting>"


@pytest.mark.parametrize("runtime", ALL_RUNTIMES)
def test_constructing_a_task_reads_no_environment_and_never_fails(runtime: str) -> None:
    class Unreadable(dict[str, str]):
        def __getitem__(self, key: str) -> str:
            raise AssertionError("read the environment at construction")

        get = __getitem__  # type: ignore[assignment]

    classes: dict[str, Any] = {
        "local": task.LocalTask,
        "batch": task.BatchTask,
        "lambda": task.LambdaTask,
        "env": task.EnvTask,
    }
    runnable = type("Built", (Echo, classes[runtime]), {})
    arguments: tuple[object, ...] = ({},) if runtime == "lambda" else ()
    runnable(*arguments, environ=Unreadable())


def test_importing_the_modules_loads_nothing_heavy() -> None:
    heavy = "{'tinydb', 'argparse', 'typing', 'dataclasses', 'base64'}"
    code = f"import sys, assignment; print(sorted({heavy} & set(sys.modules)))"
    output = subprocess.run(
        [sys.executable, "-c", code], cwd=PROJECT_DIR, capture_output=True, text=True, check=True
    ).stdout
    assert output.strip() == "[]"


# --------------------------------------------------------------------------
# $env references


DEPLOYER_WRITTEN = ("local", "batch")


@pytest.mark.parametrize("runtime", DEPLOYER_WRITTEN)
def test_a_reference_is_resolved_from_the_environment_and_parsed_by_type(runtime: str, tmp_path: Any) -> None:
    environ = {"DB_PASSWORD": SECRET, "DB_PORT": "7000"}
    params = widget_params(password={"$env": "DB_PASSWORD"}, port={"$env": "DB_PORT"})
    result = build_widget(runtime, params, tmp_path, environ).run()
    assert result["port"] == 7000
    assert result["password"] == "***"


def test_an_event_may_reference_a_listed_variable_for_a_secret(tmp_path: Any) -> None:
    environ = {"DB_PASSWORD": SECRET, "TASK_ENV_REFS": "OTHER, DB_PASSWORD"}
    result = build_widget("lambda", widget_params(password={"$env": "DB_PASSWORD"}), tmp_path, environ).run()
    assert result["password"] == "***"


@pytest.mark.parametrize("field", ["host", "port", "user"])
def test_an_event_may_not_reference_a_variable_for_a_plain_parameter_even_a_listed_one(
    field: str, tmp_path: Any
) -> None:
    environ = {"DB_PASSWORD": SECRET, "TASK_ENV_REFS": "DB_PASSWORD"}
    params = widget_params(**{field: {"$env": "DB_PASSWORD"}})
    with pytest.raises(ConfigError) as caught:
        build_widget("lambda", params, tmp_path, environ).run()
    assert caught.value.problems == (
        f"{field}: $env references are allowed only for secret parameters in what an invoker sends",
    )
    assert SECRET not in str(caught.value)


def test_a_missing_or_empty_variable_is_an_error_naming_parameter_and_variable(
    json_runtime: str, tmp_path: Any
) -> None:
    environ = {"TASK_ENV_REFS": "DB_PASSWORD"}
    params = widget_params(password={"$env": "DB_PASSWORD"})
    with pytest.raises(ConfigError) as caught:
        build_widget(json_runtime, params, tmp_path, environ).run()
    assert caught.value.problems == ("password: missing: $env DB_PASSWORD is not set (or is empty)",)


@pytest.mark.parametrize("runtime", DEPLOYER_WRITTEN)
def test_text_that_does_not_parse_is_an_error_without_the_text(runtime: str, tmp_path: Any) -> None:
    environ = {"DB_PORT": SECRET}
    with pytest.raises(ConfigError) as caught:
        build_widget(runtime, widget_params(port={"$env": "DB_PORT"}), tmp_path, environ).run()
    assert caught.value.problems == (
        "port: $env DB_PORT: expected an integer from 1 to 65535 (an optional sign and decimal digits)",
    )
    assert SECRET not in str(caught.value)


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ({"$env": ""}, 'a reference must be {"$env": "VARIABLE_NAME"} and nothing else'),
        ({"$env": 5}, 'a reference must be {"$env": "VARIABLE_NAME"} and nothing else'),
        ({"$env": "A", "default": "x"}, 'a reference must be {"$env": "VARIABLE_NAME"} and nothing else'),
        ({}, "expected a string (secret), got an object"),
        ({"env": "A"}, "expected a string (secret), got an object"),
    ],
    ids=["empty-name", "not-text", "more-keys", "empty-object", "no-$env-key"],
)
def test_a_malformed_reference_or_any_other_object_is_an_error(
    value: object, problem: str, json_runtime: str, tmp_path: Any
) -> None:
    with pytest.raises(ConfigError) as caught:
        build_widget(json_runtime, widget_params(password=value), tmp_path, {"A": "x"}).run()
    assert caught.value.problems == (f"password: {problem}",)


def test_a_lambda_event_may_only_reference_variables_that_task_env_refs_lists(tmp_path: Any) -> None:
    environ = {"AWS_SECRET_ACCESS_KEY": SECRET, "TASK_ENV_REFS": "DB_PASSWORD"}
    params = widget_params(password={"$env": "AWS_SECRET_ACCESS_KEY"})
    with pytest.raises(ConfigError) as caught:
        build_widget("lambda", params, tmp_path, environ).run()
    assert caught.value.problems == (
        "password: $env AWS_SECRET_ACCESS_KEY is not allowed: TASK_ENV_REFS does not list it",
    )


@pytest.mark.parametrize("runtime", ["local", "batch"])
def test_a_file_written_by_whoever_deploys_may_reference_any_variable(runtime: str, tmp_path: Any) -> None:
    params = widget_params(password={"$env": "ANY_VARIABLE"})
    result = build_widget(runtime, params, tmp_path, {"ANY_VARIABLE": SECRET}).run()
    assert result["password"] == "***"


def _one_field_from_environment(annotation: str, text: str) -> CountingTask:
    """A task with one parameter, `field`, given as a reference to VALUE=text."""
    params_class = type("FromEnv", (Parameters,), {"__annotations__": {"field": annotation}})
    runnable = type("Runnable", (CountingTask,), {"parameters": params_class})
    counting: CountingTask = runnable({"field": {"$env": "VALUE"}})
    counting.environ = {"VALUE": text}
    return counting


@pytest.mark.parametrize(
    ("annotation", "text", "expected"),
    [
        ("int", "42", 42),
        ("int", "+42", 42),
        ("int", "-7", -7),
        ("float", "1e3", 1000.0),
        ("float", " 2.5 ", 2.5),
        ("bool", "true", True),
        ("bool", "TRUE", True),
        ("bool", "Yes", True),
        ("bool", "1", True),
        ("bool", "false", False),
        ("bool", "No", False),
        ("bool", "0", False),
        ("str", " spaced ", " spaced "),
    ],
)
def test_text_from_the_environment_is_parsed_by_the_declared_type(
    annotation: str, text: str, expected: object
) -> None:
    counting = _one_field_from_environment(annotation, text)
    assert counting.run()["field"] == expected


@pytest.mark.parametrize(
    ("annotation", "text"),
    [("int", " 42"), ("int", "4_2"), ("int", "42.0"), ("int", "٤٢"), ("float", "one"), ("bool", "maybe")],
)
def test_text_that_is_not_of_the_declared_type_is_an_error(annotation: str, text: str) -> None:
    counting = _one_field_from_environment(annotation, text)
    with pytest.raises(ConfigError, match=r"field: \$env VALUE: expected an? "):
        counting.run()


# --------------------------------------------------------------------------
# Behaviour every runtime shares


def test_every_problem_is_reported_at_once_naming_the_source(any_runtime: str, tmp_path: Any) -> None:
    params = widget_params(host=DROP, user=DROP, colour="red")
    with pytest.raises(ConfigError) as caught:
        build_widget(any_runtime, params, tmp_path).run()
    problems = caught.value.problems
    unknown = "$WIDGET_COLOUR" if any_runtime == "env" else "colour"  # the env runtime names the variable
    assert [problem.partition(":")[0] for problem in problems] == ["host", "user", unknown]
    assert caught.value.source in str(caught.value)


def test_json_sources_reject_every_mistyped_parameter(json_runtime: str, tmp_path: Any) -> None:
    params = widget_params(port="5432", host=None, password=12345678)
    with pytest.raises(ConfigError) as caught:
        build_widget(json_runtime, params, tmp_path).run()
    assert caught.value.problems == (
        "host: expected a string, got null",
        "port: expected an integer from 1 to 65535, got a string",
        "password: expected a string (secret), got an integer",
    )
    assert "12345678" not in str(caught.value)


def test_a_mistyped_secret_is_never_shown(any_runtime: str, tmp_path: Any, caplog: Any) -> None:
    caplog.set_level(logging.DEBUG)
    with pytest.raises(ConfigError) as caught:
        build_widget(any_runtime, widget_params(port=SECRET), tmp_path).run()
    assert SECRET not in str(caught.value)
    assert SECRET not in repr(caught.value)
    assert SECRET not in caplog.text


def test_the_result_and_the_logs_never_show_the_secret(any_runtime: str, tmp_path: Any, caplog: Any) -> None:
    caplog.set_level(logging.DEBUG)
    widget = build_widget(any_runtime, widget_params(), tmp_path)
    result = widget.run()
    assert SECRET not in json.dumps(result)
    assert SECRET not in caplog.text
    assert SECRET not in repr(widget)


# --------------------------------------------------------------------------
# Composing a runnable class


def test_a_runtime_listed_before_the_business_task_fails_at_class_definition_saying_how_to_fix_it() -> None:
    fix = r"list the business task before the runtime, as in class Wrong\(Echo, LocalTask\)"
    with pytest.raises(TypeError, match=fix):

        class Wrong(LocalTask, Echo):
            pass


@pytest.mark.parametrize("missing", ["name", "parameters"])
def test_a_business_task_without_name_or_parameters_fails_at_class_definition(missing: str) -> None:
    attributes = {"execute": lambda self, params: {}, "name": "nameless", "parameters": ServiceParams}
    del attributes[missing]
    business = type("Incomplete", (), attributes)
    with pytest.raises(TypeError, match=rf"the business task needs `{missing}: ClassVar"):
        type("LocalIncomplete", (business, LocalTask), {})


def test_runnable_gives_the_class_the_module_defines() -> None:
    from assignment import LocalWidget, Widget

    assert task.runnable(Widget, LocalTask) is LocalWidget


def test_runnable_defines_a_class_once_where_the_module_defines_none() -> None:
    made = task.runnable(Echo, task.EnvTask)
    assert made.__name__ == "EnvEcho"
    assert task.runnable(Echo, task.EnvTask) is made


# --------------------------------------------------------------------------
# Limits every value obeys


class Limited(Parameters):
    port: int = task.between(1, 65535, default=5432)
    ratio: float | None = task.between(0, 1)


@pytest.mark.parametrize("port", [0, -1, 65536, 10**6])
def test_a_number_outside_its_declared_range_is_an_error_naming_the_range(port: int) -> None:
    with pytest.raises(ConfigError) as caught:
        Limited(port=port)
    assert caught.value.problems == ("port: expected an integer from 1 to 65535",)


def test_a_range_keeps_its_default_and_its_bounds_are_valid() -> None:
    assert Limited().port == 5432
    assert (Limited(port=1).port, Limited(port=65535).port, Limited(ratio=1).ratio) == (1, 65535, 1.0)


def test_between_on_a_string_is_a_type_error_at_class_definition() -> None:
    with pytest.raises(TypeError, match=r"between\(\) applies to int and float parameters only"):
        type("Broken", (Parameters,), {"__annotations__": {"name": "str"}, "name": task.between(1, 2)})


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        (10**400, "got an integer too large for one"),
        (math.nan, "got a number that is not finite"),
        (-math.inf, "got a number that is not finite"),
    ],
)
def test_a_float_parameter_from_json_is_always_finite(value: object, problem: str) -> None:
    params_class = type("Floaty", (Parameters,), {"__annotations__": {"share": "float"}})
    with pytest.raises(ConfigError) as caught:
        params_class(share=value)
    assert caught.value.problems == (f"share: expected a number, {problem}",)


@pytest.mark.parametrize("text", ["nan", "inf", "-Infinity", "1e400"])
def test_a_float_parameter_from_the_environment_is_always_finite(text: str) -> None:
    counting = _one_field_from_environment("float", text)
    not_finite = r"field: \$env VALUE: expected a number, got a number that is not finite"
    with pytest.raises(ConfigError, match=not_finite):
        counting.run()


@pytest.mark.parametrize("annotation", ["str", "Secret"])
def test_a_string_with_a_lone_surrogate_is_an_error(annotation: str) -> None:
    params_class = type("Texty", (Parameters,), {"__annotations__": {"field": annotation}})
    with pytest.raises(ConfigError, match="got text that is not valid Unicode"):
        params_class(field="db\ud800")


# --------------------------------------------------------------------------
# Messages: text from a source is escaped and cut, problems are capped


@pytest.mark.parametrize(
    ("key", "shown_as"),
    [
        ("line\nbreak", r"line\nbreak"),
        ("\x1b[31mred", r"\x1b[31mred"),
        ("\ud800", r"\ud800"),
        ("k" * 100, "k" * 60 + "..."),
    ],
)
def test_a_key_from_the_source_is_shown_escaped_and_cut_short(key: str, shown_as: str) -> None:
    with pytest.raises(ConfigError) as caught:
        CountingTask({"host": "h", "token": "t", key: 1}).run()
    assert caught.value.problems[0].startswith(f"{shown_as}: unknown parameter")
    assert str(caught.value).isprintable()
    str(caught.value).encode("utf-8")


def test_a_message_lists_twenty_problems_then_says_how_many_more() -> None:
    raw = {"host": "h", "token": "t", **{f"extra{number}": number for number in range(25)}}
    with pytest.raises(ConfigError) as caught:
        CountingTask(raw).run()
    assert len(caught.value.problems) == 25
    assert str(caught.value).count("unknown parameter") == 20
    assert str(caught.value).endswith("; and 5 more")


# --------------------------------------------------------------------------
# Secrets are scrubbed out of the business logic's own exceptions


class Leaky(Echo, Task):
    """A runtime whose business logic fails with the secret in its message and in its cause."""

    runtime = "leaky"

    def load_config(self) -> object:
        return {"host": "h", "token": SECRET}

    def execute(self, params: ServiceParams) -> dict[str, object]:
        token = params.token.reveal()
        try:
            raise OSError(13, f"refused {token}", f"/tmp/{token}")
        except OSError as cause:
            raise ConnectionError(f"cannot log in with {token}") from cause


def test_a_business_exception_keeps_its_type_but_loses_the_secret_and_so_do_its_causes(caplog: Any) -> None:
    caplog.set_level(logging.DEBUG)
    with pytest.raises(ConnectionError) as caught:
        Leaky().run()
    assert str(caught.value) == "cannot log in with ***"
    assert isinstance(caught.value.__cause__, OSError)
    assert str(caught.value.__cause__) == "[Errno 13] refused ***: '/tmp/***'"
    assert SECRET not in caplog.text


class Relaying(Echo, Task):
    """A runtime whose business logic fails in a way chosen by the test, with the secret at hand."""

    runtime = "relaying"

    def __init__(self, failure: Any) -> None:
        super().__init__()
        self.failure = failure

    def load_config(self) -> object:
        return {"host": "h", "token": SECRET}

    def execute(self, params: ServiceParams) -> dict[str, object]:
        raise self.failure(params.token.reveal())


@pytest.mark.parametrize(
    "failure",
    [
        pytest.param(
            lambda token: ConfigError("database", [f"login with {token} refused"]), id="ConfigError"
        ),
        pytest.param(
            lambda token: subprocess.CalledProcessError(1, ["psql", f"--password={token}"]), id="subprocess"
        ),
        pytest.param(
            lambda token: ConfigError(f"{'x' * 280} login with {token} refused"), id="ConfigError-cut-short"
        ),
        pytest.param(lambda token: RuntimeError(f"token was {token!r}"), id="repr"),
        pytest.param(lambda token: RuntimeError({"token": token}), id="a dict argument"),
        pytest.param(
            lambda token: SyntaxError("invalid syntax", ("settings", 1, 1, f"token = {token}\n")),
            id="SyntaxError-line",
        ),
    ],
)
def test_a_business_exception_of_any_kind_loses_the_secret_and_keeps_its_type_name(
    failure: Any, caplog: Any
) -> None:
    caplog.set_level(logging.DEBUG)
    expected_type = type(failure("x"))
    with pytest.raises(expected_type) as caught:
        Relaying(failure).run()
    assert type(caught.value).__name__ == expected_type.__name__
    shown_anywhere = str(caught.value) + caplog.text
    assert not any(SECRET[:length] in shown_anywhere for length in range(4, len(SECRET) + 1))


class TerseConfigError(ConfigError):
    """A business task's own ConfigError, whose args are not ConfigError's."""

    def __init__(self, message: str) -> None:
        Exception.__init__(self, message)
        self.source, self.problems = message, (message,)

    def __str__(self) -> str:
        return self.source


def test_a_config_error_subclass_with_args_of_its_own_is_scrubbed_too(caplog: Any) -> None:
    with pytest.raises(TerseConfigError) as caught:
        Relaying(lambda token: TerseConfigError(f"login with {token} refused")).run()
    error, scrubbed = caught.value, "login with *** refused"
    assert (str(error), error.source, error.problems) == (scrubbed, scrubbed, (scrubbed,))
    assert SECRET not in caplog.text


def test_a_config_error_from_the_business_logic_is_logged_with_the_tasks_source(caplog: Any) -> None:
    caplog.set_level(logging.INFO, logger="task")
    with pytest.raises(ConfigError):
        Relaying(lambda token: ConfigError("the database refused the login")).run()
    (record,) = caplog.records
    assert (record.outcome, record.source) == ("config_error", "relaying")


def test_a_secret_with_control_characters_is_scrubbed_before_a_message_escapes_it() -> None:
    secret = "ab\\c\td"  # a backslash and a tab: escaped, it would no longer match the secret

    class Refusing(Relaying):
        def load_config(self) -> object:
            return {"host": "h", "token": secret}

    with pytest.raises(ConfigError) as caught:
        Refusing(lambda token: ConfigError(f"bad password {token}")).run()
    assert str(caught.value) == "bad password ***"


@pytest.mark.skipif(sys.version_info < (3, 11), reason="ExceptionGroup is new in Python 3.11")
def test_the_exceptions_inside_an_exception_group_lose_the_secret_too(caplog: Any) -> None:
    group: Any = getattr(builtins, "ExceptionGroup")  # noqa: B009 (not a name mypy knows for 3.10)

    with pytest.raises(group) as caught:
        Relaying(lambda token: group("two failed", [RuntimeError(f"login {token} refused")])).run()
    assert SECRET not in str(caught.value.exceptions[0])
    assert SECRET not in caplog.text


def test_scrubbing_never_replaces_the_business_exception() -> None:
    class Unprintable:
        def __str__(self) -> str:
            raise ValueError("no text")

    with pytest.raises(RuntimeError):
        Relaying(lambda token: RuntimeError(token, Unprintable())).run()


@pytest.mark.parametrize("name", ["validate", "run", "load_config", "describe_source", "environ", "__init__"])
def test_a_business_task_that_replaces_what_the_runtime_needs_fails_at_class_definition(name: str) -> None:
    business = type("Greedy", (Echo,), {name: lambda self, *args: None})
    with pytest.raises(TypeError, match=rf"the business task Greedy defines {name}, which the runtime needs"):
        type("LocalGreedy", (business, LocalTask), {})


def test_a_business_task_built_on_an_abstract_base_class_combines_with_a_runtime(tmp_path: Any) -> None:
    class AbstractEcho(Echo, abc.ABC):
        """A business task family with an abstract step of its own."""

    path = tmp_path / "echo.json"
    path.write_text(json.dumps({"host": "h", "token": SECRET}))
    local_echo = type("LocalEcho", (AbstractEcho, LocalTask), {})
    assert local_echo(path).run()["host"] == "h"


@pytest.mark.parametrize("name", ["masked", "parse", "field_names", "secret_values", "_hidden"])
def test_a_parameter_named_like_a_method_of_parameters_is_a_type_error(name: str) -> None:
    with pytest.raises(TypeError, match=rf"Clashing\.{name}: a parameter may not be named like this"):
        type("Clashing", (Parameters,), {"__annotations__": {name: "str"}})


def test_a_subclass_may_give_an_inherited_parameter_a_new_default() -> None:
    class Staging(ServiceParams):
        port = 6543

    assert Staging(host="h", token="t").port == 6543
    assert ServiceParams(host="h", token="t").port == 8080


def test_an_optional_secret_that_is_not_set_shows_as_null_not_as_a_mask() -> None:
    params_class = type("MaybeSecret", (Parameters,), {"__annotations__": {"token": "Secret | None"}})
    assert params_class().masked() == {"token": None}
    assert params_class(token="t").masked() == {"token": "***"}


@pytest.mark.parametrize("variable", ["DB\ud800", "DB\nPASSWORD", "A=B"])
def test_a_reference_to_a_name_no_variable_can_have_is_an_error_naming_it_escaped(variable: str) -> None:
    counting = CountingTask({"host": "h", "token": {"$env": variable}})
    with pytest.raises(ConfigError) as caught:
        counting.run()
    assert caught.value.problems[0].endswith("is not a variable name")
    assert str(caught.value).isprintable()


def test_a_new_default_for_an_inherited_parameter_keeps_its_limits() -> None:
    class Staging(Limited):
        port = 6543

    assert Staging().port == 6543
    with pytest.raises(ConfigError, match="port: expected an integer from 1 to 65535"):
        Staging(port=70_000)


@pytest.mark.parametrize(
    ("arguments", "message", "problems"),
    [
        (("database", "unreachable"), "database: unreachable", ("unreachable",)),
        (("the database refused the login",), "the database refused the login", ()),
    ],
    ids=["one-problem-as-text", "just-a-message"],
)
def test_a_config_error_raised_by_hand_reads_as_written(
    arguments: tuple[str, ...], message: str, problems: tuple[str, ...]
) -> None:
    error = ConfigError(*arguments)
    assert (str(error), error.problems) == (message, problems)


def test_the_names_task_exports_on_first_use_are_listed_by_dir() -> None:
    assert {"run_command_line", "FakeLambdaContext", "CheckReport"} <= set(dir(task))
