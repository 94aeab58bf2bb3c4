"""Run one unit of work unchanged on a laptop, in AWS Batch and in AWS Lambda."""

from __future__ import annotations

import json
import math
import os
import sys
import time
from abc import ABC, abstractmethod
from collections.abc import Mapping

# Importing `typing` at run time costs a Lambda cold start about 9%; mypy and
# ruff treat this constant as typing.TYPE_CHECKING.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Sequence
    from typing import Any, ClassVar, NoReturn, Protocol

    Dereference = Callable[["_Field", dict[str, object]], object]

    class BusinessTask(Protocol):
        """What run_command_line needs of a business mixin."""

        name: ClassVar[str]

    import argparse

__all__ = [
    "AWS_BATCH_JOB_ARRAY_INDEX",
    "AWS_BATCH_JOB_ID",
    "MASK",
    "TASK_CONFIG_DB",
    "TASK_CONFIG_FILE",
    "TASK_CONFIG_KEY",
    "TASK_CONFIG_TABLE",
    "TASK_ENV_REFS",
    "BatchTask",
    "CheckReport",
    "ConfigError",
    "EnvTask",
    "FakeLambdaContext",
    "LambdaTask",
    "LocalTask",
    "Parameters",
    "Secret",
    "Task",
    "TaskError",
    "run_command_line",
]

# The environment variables the library reads.
TASK_CONFIG_FILE = "TASK_CONFIG_FILE"
TASK_CONFIG_DB = "TASK_CONFIG_DB"
TASK_CONFIG_KEY = "TASK_CONFIG_KEY"
TASK_CONFIG_TABLE = "TASK_CONFIG_TABLE"
TASK_ENV_REFS = "TASK_ENV_REFS"
AWS_BATCH_JOB_ID = "AWS_BATCH_JOB_ID"
AWS_BATCH_JOB_ARRAY_INDEX = "AWS_BATCH_JOB_ARRAY_INDEX"

#: How a secret is shown wherever a person or a log could see it.
MASK = "***"

#: TinyDB.default_table_name, kept here so that naming the source needs no import.
TINYDB_DEFAULT_TABLE = "_default"

#: Marks a parameter the source does not give.
_ABSENT = object()

#: The key of a reference to an environment variable: {"$env": "DB_PASSWORD"}.
REFERENCE_KEY = "$env"

#: Exit statuses of the command line.
EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_CONFIG_ERROR = 2
EXIT_TERMINATED = 128 + 15  # the shell's convention for "killed by SIGTERM"


# --------------------------------------------------------------------------
# Errors


class TaskError(Exception):
    """Root of every exception this library raises."""


class ConfigError(TaskError):
    """A task's configuration cannot be used, so its business logic did not run.

    The message is built here, from the name of the source and a list of
    problems that each name a parameter or a part of the source: no call site
    pastes a value into it, so a secret cannot leak through an error.
    """

    def __init__(self, source: str, problems: Iterable[str]) -> None:
        self.source = source
        self.problems = tuple(problems)
        super().__init__(source, self.problems)

    def __str__(self) -> str:
        if len(self.problems) == 1:
            return f"{self.source}: {self.problems[0]}"
        listed = "; ".join(self.problems)
        return f"{self.source}: {len(self.problems)} problems: {listed}"


# --------------------------------------------------------------------------
# Declared parameters


class Secret:
    """A string that never shows itself: str() and repr() give "***"."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        """Return the secret itself, for the one place that needs it."""
        return self._value

    def __repr__(self) -> str:
        return f"Secret('{MASK}')"

    def __str__(self) -> str:
        return MASK

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


_KINDS: dict[str, type] = {
    "str": str,
    "int": int,
    "float": float,
    "bool": bool,
    "Secret": Secret,
}

_EXPECTED = {
    str: "a string",
    int: "an integer",
    float: "a number",
    bool: "a boolean",
    Secret: "a string (secret)",
}

_BOOLEAN_WORDS = {
    "true": True,
    "1": True,
    "yes": True,
    "false": False,
    "0": False,
    "no": False,
}


class _Field:
    """One declared parameter: its kind, whether it may be null, its default."""

    __slots__ = ("default", "json_type", "kind", "optional", "required")

    def __init__(self, kind: type, optional: bool, default: object, required: bool) -> None:
        self.kind = kind
        self.optional = optional
        self.default = default
        self.required = required
        #: The one JSON type valid for this field without further checks (a
        #: secret's string is wrapped); None for floats, which need a look.
        self.json_type = str if kind is Secret else kind if kind in (str, int, bool) else None

    def describe(self) -> str:
        expected = _EXPECTED[self.kind]
        return f"{expected} or null" if self.optional else expected

    def from_json(self, value: object) -> object:
        """Return value as this field's kind, or raise ValueError saying why not.

        JSON types are strict: true is not an integer, 5432.0 and "5432" are
        not integers, null is only for optional fields, an integer is a float.
        """
        kind = self.kind
        value_type = type(value)
        if value is None and self.optional:
            return None
        if kind is str and value_type is str:
            return value
        if kind is int and value_type is int:
            return value
        if kind is bool and value_type is bool:
            return value
        if kind is Secret:
            if value_type is str:
                return Secret(value)  # type: ignore[arg-type]
            if value_type is Secret:
                return value
        if kind is float and value_type in (int, float):
            number = float(value)  # type: ignore[arg-type]
            if math.isfinite(number):
                return number
            raise ValueError(f"expected {self.describe()}, got a number that is not finite")
        raise ValueError(f"expected {self.describe()}, got {_json_kind(value)}")

    def from_text(self, text: str) -> object:
        """Parse text from the environment as this field's kind, or raise ValueError."""
        kind = self.kind
        if kind is str:
            return text
        if kind is Secret:
            return Secret(text)
        if kind is int:
            number = _parse_integer(text)
            if number is not None:
                return number
            raise ValueError("expected an integer (an optional sign and decimal digits)")
        if kind is bool:
            word = _BOOLEAN_WORDS.get(text.lower())
            if word is not None:
                return word
            raise ValueError("expected a boolean (true/false, 1/0 or yes/no)")
        try:
            return float(text)
        except ValueError:
            raise ValueError("expected a number") from None


def _parse_integer(text: str) -> int | None:
    """An optional sign and ASCII decimal digits, nothing else (int() takes more)."""
    digits = text[1:] if text[:1] in ("+", "-") else text
    return int(text) if digits.isascii() and digits.isdigit() else None


def _json_kind(value: object) -> str:
    """Name the kind of a decoded JSON value, never the value itself."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a number with a fraction or exponent"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, (list, tuple)):
        return "an array"
    if isinstance(value, Mapping):
        return "an object"
    return f"a {type(value).__name__}"


def _name_for_message(key: object) -> str:
    """A parameter name as a message shows it: keys may come from an invoker."""
    text = key if isinstance(key, str) else repr(key)
    return text if len(text) <= 60 else text[:57] + "..."


def _parse_annotation(owner: str, name: str, annotation: object) -> tuple[type, bool]:
    """Read `int`, `Secret`, `str | None` and the like, as objects or as strings."""
    if isinstance(annotation, str):
        text = annotation
    elif isinstance(annotation, type):
        text = annotation.__name__
    else:
        text = str(annotation)  # a union such as `int | None` prints as written
    parts = [part.strip().rpartition(".")[2] for part in text.split("|")]
    optional = "None" in parts
    kinds = [part for part in parts if part != "None"]
    if len(kinds) != 1 or kinds[0] not in _KINDS:
        supported = ", ".join(_KINDS)
        raise TypeError(
            f"{owner}.{name}: unsupported annotation {text!r}; "
            f"use one of {supported}, optionally with '| None'"
        )
    return _KINDS[kinds[0]], optional


class Parameters:
    """Base class of a task's declared parameters: a typed, immutable record.

    Annotate one field per parameter; a class attribute is its default, and
    `| None` makes it optional (default None)::

        class Params(Parameters):
            host: str
            port: int = 5432
            password: Secret
            timeout: float | None

    Kinds: str, int, float, bool and Secret. Calling the class validates its
    keyword arguments by the same rules as a JSON source.
    """

    _fields: ClassVar[dict[str, _Field]] = {}
    _secret_names: ClassVar[tuple[str, ...]] = ()
    #: The fields unpacked as (name, json_type, is_secret, field): the loop in
    #: _fill runs on every warm Lambda invocation, and attribute lookups add up.
    _unpacked: ClassVar[tuple[tuple[str, type | None, bool, _Field], ...]] = ()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        fields = dict(cls._fields)
        for name, annotation in cls.__annotations__.items():
            kind, optional = _parse_annotation(cls.__qualname__, name, annotation)
            has_default = name in vars(cls) or optional
            field = _Field(kind, optional, None, required=not has_default)
            if name in vars(cls):
                try:
                    field.default = field.from_json(vars(cls)[name])
                except ValueError as exc:
                    raise TypeError(f"{cls.__qualname__}.{name}: default {exc}") from None
            fields[name] = field
        cls._fields = fields
        cls._secret_names = tuple(name for name, field in fields.items() if field.kind is Secret)
        cls._unpacked = tuple((name, f.json_type, f.kind is Secret, f) for name, f in fields.items())

    def __init__(self, **values: object) -> None:
        problems = self._fill(values)
        if problems:
            raise ConfigError(f"{type(self).__qualname__}(...)", problems)

    @classmethod
    def _parse(cls, values: Mapping[str, object], dereference: Dereference) -> tuple[Parameters, list[str]]:
        """Build an instance from raw values, resolving {"$env": NAME} values with
        `dereference`; the instance is only valid if there are no problems."""
        instance = object.__new__(cls)
        return instance, instance._fill(values, dereference)

    def _fill(self, values: Mapping[str, object], dereference: Dereference | None = None) -> list[str]:
        """Check values against the fields, keep the typed ones, and return every
        problem: in declared order, unknown names last."""
        cls = type(self)
        checked = self.__dict__
        problems: list[str] = []
        found = 0
        for name, json_type, is_secret, field in cls._unpacked:
            value = values.get(name, _ABSENT)
            if value is _ABSENT:
                if field.required:
                    problems.append(f"{name}: missing (expected {field.describe()})")
                else:
                    checked[name] = field.default
                continue
            found += 1
            if type(value) is json_type:  # the common case, first
                checked[name] = Secret(value) if is_secret else value  # type: ignore[arg-type]
                continue
            try:
                if dereference is not None and type(value) is dict and REFERENCE_KEY in value:
                    checked[name] = dereference(field, value)
                else:
                    checked[name] = field.from_json(value)
            except ValueError as exc:
                problems.append(f"{name}: {exc}")
        if found < len(values):
            known = ", ".join(cls._fields)
            problems.extend(
                f"{_name_for_message(key)}: unknown parameter (known: {known})"
                for key in values
                if key not in cls._fields
            )
        return problems

    @classmethod
    def field_names(cls) -> tuple[str, ...]:
        """The declared parameters' names, in declared order."""
        return tuple(cls._fields)

    def masked(self) -> dict[str, object]:
        """Every parameter as a plain dict, with secrets shown as "***"."""
        shown = self.__dict__.copy()
        for name in self._secret_names:
            shown[name] = MASK
        return shown

    def __setattr__(self, name: str, value: object) -> NoReturn:
        raise AttributeError(f"{type(self).__qualname__} is read-only")

    def __delattr__(self, name: str) -> NoReturn:
        raise AttributeError(f"{type(self).__qualname__} is read-only")

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and other.__dict__ == self.__dict__

    def __hash__(self) -> int:
        return hash(tuple(self.__dict__.values()))

    def __repr__(self) -> str:
        fields = ", ".join(f"{name}={value!r}" for name, value in self.__dict__.items())
        return f"{type(self).__qualname__}({fields})"


# --------------------------------------------------------------------------
# The task and its runtimes


class CheckReport:
    """What --check shows: where the parameters come from and whether they are valid."""

    __slots__ = ("parameters", "problems", "runtime", "source")

    def __init__(
        self,
        runtime: str,
        source: str,
        parameters: Sequence[tuple[str, str, str]],
        problems: Sequence[str],
    ) -> None:
        self.runtime = runtime
        self.source = source
        #: One (name, value as shown, where it came from) per parameter, e.g.
        #: ("port", "5432", "default") or ("password", "***", "from $env DB_PASSWORD").
        self.parameters = tuple(parameters)
        self.problems = tuple(problems)

    @property
    def ok(self) -> bool:
        return not self.problems

    def render(self, runtime_reason: str | None = None) -> str:
        """The report for a person; runtime_reason says why this runtime was chosen."""
        runtime = self.runtime if runtime_reason is None else f"{self.runtime}, because {runtime_reason}"
        lines = [f"Runtime: {runtime}", f"Source: {self.source}"]
        if self.ok:
            name_width = max((len(name) for name, _, _ in self.parameters), default=0)
            value_width = max((len(shown) for _, shown, _ in self.parameters), default=0)
            lines.append(f"Parameters ({len(self.parameters)}):")
            for name, shown, origin in self.parameters:
                lines.append(f"  {name:<{name_width}}  {shown:<{value_width}}  {origin}")
            lines.append("Valid: the task would run with these parameters.")
        else:
            lines.append(f"Problems ({len(self.problems)}):")
            lines.extend(f"  - {problem}" for problem in self.problems)
            lines.append("Invalid: fix every problem above; nothing was run.")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.render()


class Task(ABC):
    """A unit of work whose parameters come from wherever its runtime keeps them.

    run() is the template: load_config() reads the raw parameters, $env
    references are resolved, the result is validated against the business
    task's declared parameters, and execute() gets them typed. A runtime class
    implements load_config(); a business mixin sets `name` and `parameters` and
    implements execute(). Neither overrides run().
    """

    #: Where the task runs ("local", "batch", "lambda", "env"): set by each runtime class.
    runtime: ClassVar[str]
    #: What a value read straight from the source is called in a check report.
    origin: ClassVar[str] = "the source"
    #: None when $env references may name any variable (whoever writes the source
    #: deploys the task); else the variable listing the names they may use.
    reference_allowlist: ClassVar[str | None] = None
    #: The business task's name: the default TinyDB key and environment prefix.
    name: ClassVar[str]
    #: The business task's declared parameters: a Parameters subclass.
    parameters: ClassVar[type[Parameters]]
    #: Where environment variables are read, when the parameters load. A
    #: runtime's constructor takes `environ=` to replace it, for tests.
    environ: Mapping[str, str] = os.environ

    def run(self) -> dict[str, object]:
        """Load, resolve and validate the parameters, then run the business logic."""
        return self.execute(self._load())

    def check(self) -> CheckReport:
        """Load and validate the parameters without running the business logic."""
        origins: dict[str, str] = {}
        try:
            params = self._load(origins)
        except ConfigError as error:
            return CheckReport(self.runtime, error.source, (), error.problems)
        lines = [
            (name, MASK if isinstance(value, Secret) else json.dumps(value), origins.get(name, "default"))
            for name, value in vars(params).items()
        ]
        return CheckReport(self.runtime, self.describe_source(), lines, ())

    @abstractmethod
    def load_config(self) -> object:
        """Return the raw parameters as the source holds them: a mapping of names
        to values, or whatever the source decoded to (run() checks the shape).

        Read only; raise ConfigError for a source that is missing or not
        configured. OSError and ValueError (bad JSON, bad UTF-8) become a
        ConfigError in run().
        """

    def describe_source(self) -> str:
        """Name the source for messages and reports (a path, a table, a key)."""
        return self.runtime

    @abstractmethod
    def execute(self, params: Any) -> dict[str, object]:
        """The business logic: take the validated parameters, return a JSON-ready dict."""

    def __repr__(self) -> str:
        return f"<{type(self).__name__} runtime={self.runtime}>"

    def _load(self, origins: dict[str, str] | None = None) -> Parameters:
        """Return the validated parameters; note in `origins` where each came from.

        This runs on every warm Lambda invocation, so it stays lean: origins
        are noted only for check(), and the source is described only when
        something is wrong.
        """
        try:
            raw = self.load_config()
        except (OSError, ValueError) as exc:  # the one boundary for foreign errors
            raise ConfigError(self.describe_source(), [_explain(exc)]) from exc
        if not isinstance(raw, dict) and not isinstance(raw, Mapping):
            kind = _json_kind(raw)
            raise ConfigError(self.describe_source(), [f"expected a JSON object of parameters, got {kind}"])
        params, problems = self.parameters._parse(raw, self._dereference)
        if problems:
            raise ConfigError(self.describe_source(), problems)
        if origins is not None:
            for key, value in raw.items():
                is_reference = isinstance(value, dict) and REFERENCE_KEY in value
                origins[key] = f"from $env {value[REFERENCE_KEY]}" if is_reference else f"from {self.origin}"
        return params

    def _dereference(self, field: _Field, reference: dict[str, object]) -> object:
        """The value of a {"$env": NAME} reference, parsed as the field's kind.

        Raises ValueError saying what is wrong, naming the variable but never its value.
        """
        variable = reference[REFERENCE_KEY]
        if len(reference) != 1 or not isinstance(variable, str) or not variable:
            raise ValueError('a reference must be {"$env": "VARIABLE_NAME"} and nothing else')
        allowlist = self.reference_allowlist
        if allowlist is not None:
            allowed = {name.strip() for name in self.environ.get(allowlist, "").split(",")}
            if variable not in allowed:
                raise ValueError(f"$env {variable} is not allowed: {allowlist} does not list it")
        text = self.environ.get(variable, "")
        if not text:
            raise ValueError(f"$env {variable} is not set (or is empty)")
        try:
            return field.from_text(text)
        except ValueError as exc:
            raise ValueError(f"$env {variable}: {exc}") from None


def _explain(exc: OSError | ValueError) -> str:
    """Say what went wrong reading a source, without quoting any of its content."""
    if isinstance(exc, OSError):
        return exc.strerror or type(exc).__name__
    if isinstance(exc, UnicodeDecodeError):
        return f"not UTF-8 text (bad byte at offset {exc.start})"
    if isinstance(exc, json.JSONDecodeError):
        if not exc.doc.strip():
            return "empty: expected a JSON object"
        return f"not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}"
    return type(exc).__name__


class LocalTask(Task):
    """Parameters from a JSON file holding one object: an engineer's laptop."""

    runtime = "local"
    origin = "the file"

    def __init__(
        self, config_path: str | os.PathLike[str] | None = None, *, environ: Mapping[str, str] | None = None
    ) -> None:
        self.config_path = config_path
        if environ is not None:
            self.environ = environ

    def load_config(self) -> object:
        with open(self._path(), encoding="utf-8") as config_file:
            return json.load(config_file)

    def describe_source(self) -> str:
        return f"JSON file {self._path()}"

    def _path(self) -> str:
        if self.config_path is not None:
            return os.fspath(self.config_path)
        path = self.environ.get(TASK_CONFIG_FILE, "")
        if not path:
            raise ConfigError(
                "local runtime",
                [f"no JSON file given: pass config_path (--config) or set {TASK_CONFIG_FILE}"],
            )
        return path


class BatchTask(Task):
    """Parameters from one document of a TinyDB file: an AWS Batch job.

    The document is {"task": KEY, "params": {...}}; an array job's child i
    reads the one with "array_index": i. The file is only ever read.
    """

    runtime = "batch"
    origin = "the document"

    def __init__(
        self,
        db_path: str | os.PathLike[str] | None = None,
        key: str | None = None,
        table: str | None = None,
        *,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        self.db_path = db_path
        self.key = key
        self.table = table
        if environ is not None:
            self.environ = environ

    def load_config(self) -> object:
        from tinydb.storages import JSONStorage  # only the Batch path pays for TinyDB

        path, table, key, index_text = self._location()
        source = _describe_tinydb_source(path, table, key, index_text)
        index = _array_index(index_text, source)
        # Mode "r" opens the file read-only and never creates it. One read() is
        # one parse: Table.get() with a condition would parse the file twice.
        storage = JSONStorage(path, access_mode="r")
        try:
            tables = storage.read()
        finally:
            storage.close()
        return _find_params(tables, source, table, key, index)

    def describe_source(self) -> str:
        return _describe_tinydb_source(*self._location())

    def _location(self) -> tuple[str, str, str, str | None]:
        """The file, table, key and array index (as text, or None) to read."""
        environ = self.environ
        path = os.fspath(self.db_path) if self.db_path is not None else environ.get(TASK_CONFIG_DB, "")
        if not path:
            raise ConfigError(
                "batch runtime", [f"no TinyDB file given: pass db_path (--db) or set {TASK_CONFIG_DB}"]
            )
        table = self.table or environ.get(TASK_CONFIG_TABLE) or TINYDB_DEFAULT_TABLE
        key = self.key or environ.get(TASK_CONFIG_KEY) or self.name
        return path, table, key, environ.get(AWS_BATCH_JOB_ARRAY_INDEX)


def _describe_tinydb_source(path: str, table: str, key: str, index_text: str | None) -> str:
    described = f"TinyDB file {path}, table {table!r}, key {key!r}"
    if index_text is not None:
        index = _parse_integer(index_text)
        described += f", array index {index_text!r}" if index is None else f", array index {index}"
    return described


def _find_params(tables: object, source: str, table: str, key: str, index: int | None) -> object:
    """Scan the table once for the one document of this key (and index); return its params."""
    if tables is None:
        raise ConfigError(source, ["the file is empty"])
    if not isinstance(tables, dict):
        raise ConfigError(
            source, [f"not a TinyDB file: expected an object of tables, got {_json_kind(tables)}"]
        )
    documents = tables.get(table)
    if documents is None:
        raise ConfigError(source, [f"no table {table!r} in the file"])
    if not isinstance(documents, dict):
        raise ConfigError(source, [f"table {table!r} is not a TinyDB table (an object of documents)"])
    matches = [
        (doc_id, document)
        for doc_id, document in documents.items()
        if isinstance(document, dict) and document.get("task") == key and _has_index(document, index)
    ]
    wanted = f"key {key!r}" if index is None else f"key {key!r} and array_index {index}"
    if not matches:
        unindexed = "" if index is not None else " and no array_index"
        raise ConfigError(source, [f"no document with {wanted}{unindexed}"])
    if len(matches) > 1:
        ids = ", ".join(doc_id for doc_id, _ in matches)
        raise ConfigError(
            source, [f"{len(matches)} documents with {wanted} (ids {ids}); expected exactly one"]
        )
    params = matches[0][1].get("params", _ABSENT)
    if params is _ABSENT:
        raise ConfigError(source, ['the document has no "params"'])
    if not isinstance(params, dict):
        raise ConfigError(source, [f'the document\'s "params" must be an object, got {_json_kind(params)}'])
    return params


def _has_index(document: dict[str, object], index: int | None) -> bool:
    if index is None:
        return "array_index" not in document
    found = document.get("array_index")
    return type(found) is int and found == index  # true == 1 and 1.0 == 1, but neither is an index


def _array_index(text: str | None, source: str) -> int | None:
    if text is None:
        return None
    index = _parse_integer(text)
    if index is None:
        raise ConfigError(source, [f"{AWS_BATCH_JOB_ARRAY_INDEX} must be an integer, got {text!r}"])
    return index


class LambdaTask(Task):
    """Parameters from the JSON event of an AWS Lambda invocation.

    Whoever invokes the function writes the event, so a $env reference in it
    may only name the variables listed in TASK_ENV_REFS.
    """

    runtime = "lambda"
    origin = "the event"
    reference_allowlist = TASK_ENV_REFS

    def __init__(
        self, event: object, context: object | None = None, *, environ: Mapping[str, str] | None = None
    ) -> None:
        self.event = event
        #: The invocation's context, for business logic that wants the deadline.
        self.context = context
        if environ is not None:
            self.environ = environ

    def load_config(self) -> object:
        return self.event

    def describe_source(self) -> str:
        return "Lambda event"


class EnvTask(Task):
    """Parameters from environment variables: WIDGET_HOST, WIDGET_PORT, ...

    A variable that carries the prefix but names no parameter is an error;
    variables without the prefix are ignored, and an empty one counts as unset.
    """

    runtime = "env"
    origin = "the environment"

    def __init__(self, prefix: str | None = None, *, environ: Mapping[str, str] | None = None) -> None:
        self.prefix = prefix
        if environ is not None:
            self.environ = environ

    def load_config(self) -> object:
        # Each variable becomes a reference, so run() parses it by its declared
        # type exactly as it parses any other $env value. A variable that names
        # no parameter keeps its own name, for run() to report as unknown.
        prefix = self._prefix()
        parameter_names = {name.upper(): name for name in self.parameters.field_names()}
        return {
            parameter_names.get(variable[len(prefix) :], variable): {REFERENCE_KEY: variable}
            for variable, text in self.environ.items()
            if variable.startswith(prefix) and text
        }

    def describe_source(self) -> str:
        return f"environment variables {self._prefix()}*"

    def _prefix(self) -> str:
        return f"{self.name.upper()}_" if self.prefix is None else self.prefix


class FakeLambdaContext:
    """A stand-in for the context AWS Lambda passes a handler, for tests.

    Each instance has a fresh request id and a deadline `timeout_ms` from now.
    """

    def __init__(
        self, function_name: str = "task", timeout_ms: int = 30_000, memory_limit_in_mb: int = 128
    ) -> None:
        import uuid

        self._deadline = time.monotonic() + timeout_ms / 1000
        self.aws_request_id = str(uuid.uuid4())
        self.function_name = function_name
        self.function_version = "$LATEST"
        self.invoked_function_arn = f"arn:aws:lambda:us-east-1:123456789012:function:{function_name}"
        self.memory_limit_in_mb = str(memory_limit_in_mb)
        self.log_group_name = f"/aws/lambda/{function_name}"
        self.log_stream_name = f"2026/01/01/[$LATEST]{self.aws_request_id.replace('-', '')}"
        self.identity = None
        self.client_context = None

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


# --------------------------------------------------------------------------
# The command line: `python assignment.py` on a laptop, in AWS Batch, or anywhere
# the environment configures the task.

_COMMAND_LINE_RUNTIMES: dict[str, type] = {
    "local": LocalTask,
    "batch": BatchTask,
    "env": EnvTask,
}

# option name -> (the runtime it belongs to, the runtime's constructor keyword)
_RUNTIME_OPTIONS = {
    "config": ("local", "config_path"),
    "db": ("batch", "db_path"),
    "key": ("batch", "key"),
    "table": ("batch", "table"),
    "prefix": ("env", "prefix"),
}


class _Terminated(BaseException):
    """Raised in the main thread on SIGTERM; a BaseException, so that the
    business logic's `except Exception` does not swallow it, while its
    `finally` blocks run."""


def run_command_line(
    business: type[BusinessTask],
    argv: Sequence[str] | None = None,
    *,
    environ: Mapping[str, str] | None = None,
) -> int:
    """Run a business mixin from the command line and return the exit status.

    Prints the result as one line of JSON (or, with --check, a report) on
    standard output, and logs on standard error. Exit status: 0 done, 2 a
    configuration or usage error, 1 any other failure, 143 on SIGTERM.
    """
    import logging
    import signal

    environ = os.environ if environ is None else environ
    parser = _argument_parser(business)
    try:
        args = parser.parse_args(argv)
        runtime, reason = _choose_runtime(args.runtime, environ)
        misplaced = [
            f"--{option} is for the {owner} runtime"
            for option, (owner, _) in _RUNTIME_OPTIONS.items()
            if getattr(args, option) is not None and owner != runtime
        ]
        if misplaced:
            parser.error(f"runtime is {runtime} ({reason}); {'; '.join(misplaced)}")
    except SystemExit as exit_request:  # argparse ends --help (0) and usage errors (2) this way
        return EXIT_OK if exit_request.code in (0, None) else EXIT_CONFIG_ERROR
    keywords = {
        keyword: getattr(args, option)
        for option, (owner, keyword) in _RUNTIME_OPTIONS.items()
        if owner == runtime and getattr(args, option) is not None
    }
    task: Task = _runnable(business, runtime)(**keywords, environ=environ)
    # The library itself does not log, so that neither a Lambda invocation nor a
    # Batch lookup pays for importing logging; the command line says what it did.
    logging.basicConfig(
        level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    previous_handler = signal.signal(signal.SIGTERM, _raise_terminated)
    try:
        return _run_and_report(task, parser.prog, reason, check=args.check)
    finally:
        signal.signal(signal.SIGTERM, previous_handler)


def _runnable(business: type[BusinessTask], runtime: str) -> type:
    """The business mixin combined with a runtime class: Widget and "local" make LocalWidget."""
    runtime_class = _COMMAND_LINE_RUNTIMES[runtime]
    name = runtime_class.__name__.removesuffix("Task") + business.__name__
    return type(name, (business, runtime_class), {})


def _run_and_report(task: Task, prog: str, reason: str, *, check: bool) -> int:
    """Run or check the task, print what it gives, and say how it ended as an exit status."""
    import logging

    logger = logging.getLogger(__name__)
    try:
        if check:
            report = task.check()
            print(report.render(reason))
            if not report.ok:
                print(
                    f"{prog}: configuration error: {ConfigError(report.source, report.problems)}",
                    file=sys.stderr,
                )
            return EXIT_OK if report.ok else EXIT_CONFIG_ERROR
        result = json.dumps(task.run())
        source = task.describe_source()
        logger.info("%s: done; %s runtime because %s; source: %s", task.name, task.runtime, reason, source)
        print(result)
        return EXIT_OK
    except ConfigError as error:
        print(f"{prog}: configuration error: {error}", file=sys.stderr)
        return EXIT_CONFIG_ERROR
    except _Terminated:
        logger.warning("%s: stopped by SIGTERM", task.name)
        return EXIT_TERMINATED
    except Exception:
        logger.exception("%s: failed", task.name)
        return EXIT_FAILURE


def _argument_parser(business: type[BusinessTask]) -> argparse.ArgumentParser:
    import argparse

    parser = argparse.ArgumentParser(
        description=f"Run the {business.name} task. Runtime: --runtime, else batch when "
        f"{AWS_BATCH_JOB_ID} is set, else local.",
    )
    parser.add_argument(
        "--runtime", choices=list(_COMMAND_LINE_RUNTIMES), help="where the parameters come from"
    )
    parser.add_argument(
        "--config", metavar="PATH", help=f"local: the JSON file (default: ${TASK_CONFIG_FILE})"
    )
    parser.add_argument("--db", metavar="PATH", help=f"batch: the TinyDB file (default: ${TASK_CONFIG_DB})")
    parser.add_argument(
        "--key", help=f"batch: the document's key (default: ${TASK_CONFIG_KEY}, else {business.name!r})"
    )
    parser.add_argument(
        "--table", metavar="T", help=f"batch: the table (default: ${TASK_CONFIG_TABLE}, else TinyDB's)"
    )
    parser.add_argument(
        "--prefix", metavar="P", help=f"env: the variables' prefix (default: {business.name.upper()}_)"
    )
    parser.add_argument("--check", action="store_true", help="validate the parameters and report; do not run")
    return parser


def _choose_runtime(requested: str | None, environ: Mapping[str, str]) -> tuple[str, str]:
    """Return the runtime and, for a person, why it was chosen."""
    if requested is not None:
        return requested, f"--runtime {requested} was given"
    if environ.get(AWS_BATCH_JOB_ID):
        return "batch", f"{AWS_BATCH_JOB_ID} is set"
    return "local", f"--runtime was not given and {AWS_BATCH_JOB_ID} is not set"


def _raise_terminated(signum: int, frame: object) -> NoReturn:
    raise _Terminated
