"""The object model: errors, declared parameters, the Task base class and its runtimes.

The command line lives in task_cli, the Lambda trigger layer in task_lambda and
the test helpers in task_testing; this module imports none of them up front.
"""

from __future__ import annotations

import functools
import logging
import os
import time
from abc import ABC, abstractmethod
from collections.abc import Mapping

from task_fields import REQUIRED, Field, between, json_kind

# `typing` is not imported at run time: the Lambda runtime client has not loaded
# it, and importing it would add about 9% to a cold start. mypy and ruff read
# this constant as typing.TYPE_CHECKING.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Iterable
    from typing import Any, ClassVar, NoReturn, TypeGuard

    from task_check import CheckReport
    from task_cli import run_command_line
    from task_lambda import Unit
    from task_stores import Resolution
    from task_testing import FakeLambdaContext

#: What users import. The constants and helpers below serve the library's other modules.
__all__ = [
    "BatchTask",
    "CheckReport",
    "ConfigError",
    "EnvTask",
    "FakeLambdaContext",
    "LambdaTask",
    "LocalTask",
    "Parameters",
    "Secret",
    "SourceError",
    "StoreUnavailable",
    "Task",
    "TaskError",
    "between",
    "run_command_line",
    "runnable",
]

# The environment variables the library reads.
TASK_CONFIG_FILE = "TASK_CONFIG_FILE"
TASK_CONFIG_DB = "TASK_CONFIG_DB"
TASK_CONFIG_KEY = "TASK_CONFIG_KEY"
TASK_CONFIG_TABLE = "TASK_CONFIG_TABLE"
TASK_ENV_REFS = "TASK_ENV_REFS"

#: How a secret is shown wherever a person or a log could see it.
MASK = "***"
#: The key of a reference to an environment variable: {"$env": "DB_PASSWORD"}.
REFERENCE_KEY = "$env"
#: The keys of every kind of reference: a variable, a secret, a parameter, a file (see task_stores).
REFERENCE_KINDS = (REFERENCE_KEY, "$secret", "$ssm", "$file")
#: TinyDB.default_table_name, kept here so that naming the source needs no import.
TINYDB_DEFAULT_TABLE = "_default"
#: The highest array index any engine gives: a Kubernetes Indexed Job's (task_engines has each one's).
MAX_ARRAY_INDEX = 99_999

#: Records of every unit of work go here; the application chooses handlers and levels.
logger = logging.getLogger("task")
logger.addHandler(logging.NullHandler())


# --------------------------------------------------------------------------
# Errors, and the one way text from a source gets into them


class TaskError(Exception):
    """Root of every exception this library raises."""


class ConfigError(TaskError):
    """A task's configuration cannot be used, so its business logic did not run.

    The message is built here from the name of the source and a list of
    problems that each name a parameter or a part of the source, never a value.
    Every problem is kept in `problems`; the message lists the first 20.
    ConfigError("...") alone, as business logic may raise it, is just a message.
    """

    #: How many problems the message lists before it says how many more there are.
    LISTED = 20

    def __init__(self, source: str, problems: Iterable[str] = ()) -> None:
        given = (
            (problems,) if isinstance(problems, str) else tuple(problems)
        )  # one problem, not one per letter
        self.source = shown(source, limit=300)
        self.problems = tuple(shown(problem, limit=300) for problem in given)
        # args keep the text as given, whole and unescaped, so that pickling rebuilds the error
        # and scrubbing finds a secret that business logic put in it before shown() cut it short.
        super().__init__(source, given)

    def __str__(self) -> str:
        if not self.problems:
            return self.source
        if len(self.problems) == 1:
            return f"{self.source}: {self.problems[0]}"
        listed = "; ".join(self.problems[: self.LISTED])
        more = len(self.problems) - self.LISTED
        if more > 0:
            listed += f"; and {more} more"
        return f"{self.source}: {len(self.problems)} problems: {listed}"


class StoreUnavailable(TaskError):  # noqa: N818 (the contract names it so)
    """A secret store did not answer (no connection, no answer in time, throttled, a server error):
    worth retrying, so not a ConfigError (exit 1, a listed queue record, HTTP 503). Its message names
    the store, never the secret."""


class SourceError(TaskError, ValueError):
    """What is wrong with a source's content, said without quoting any of it.

    Raised while a source is read (task_sources, task_lambda's units);
    task_sources.config_error_from() turns it into a ConfigError naming the
    source. Of other ValueErrors, only JSON's and UTF-8's decoding errors are
    explained (they say where); the rest are named by type only, since their
    messages may quote the source.
    """


class Stopped(BaseException):
    """The process was told to stop (the command line raises a subclass on SIGTERM and SIGINT).

    A BaseException, so that the business logic's `except Exception` does not
    swallow it while its `finally` blocks run; the Lambda trigger layer lets it
    through, where it fails a unit for any other BaseException.
    """

    #: Whether a record has said so already (log_failure() sets it).
    logged = False


def shown(text: object, *, limit: int | None = 60) -> str:
    """Text from a source (a key, a variable name, a path) as a message may repeat it.

    Control characters, line breaks and lone surrogates are escaped, so they
    reach no log or terminal raw, and the text is cut to `limit` characters (None: not cut).
    """
    if not isinstance(text, str):
        try:
            text = repr(text)
        except ValueError:  # an int of more than 4,300 digits has no repr
            text = f"<{type(text).__name__}>"
    cut = limit is not None and len(text) > limit
    text = text[:limit]
    if not text.isprintable():
        text = "".join(char if char.isprintable() else ascii(char)[1:-1] for char in text)
    return text + "..." if cut else text


#: What reading a source may raise besides ConfigError; task_sources.config_error_from() explains each.
READ_ERRORS = (OSError, ValueError, RecursionError)


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


class Parameters:
    """Base class of a task's declared parameters: a typed, immutable record.

    Annotate one field per parameter; a class attribute is its default, `| None`
    makes it optional (default None), and between() limits a number::

        class WidgetParams(Parameters):
            host: str
            port: int = between(1, 65535, default=5432)
            password: Secret
            timeout: float | None

    Kinds: str, int, float, bool and Secret. Calling the class validates its
    keyword arguments by the same rules as a JSON source.
    """

    _fields: ClassVar[dict[str, Field]] = {}
    _secret_names: ClassVar[tuple[str, ...]] = ()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        fields = dict(cls._fields)
        annotations = {name: field.annotation for name, field in fields.items() if name in vars(cls)}
        annotations.update(cls.__annotations__)  # a subclass may give an inherited field a new default
        for name, annotation in annotations.items():
            if name.startswith("_") or hasattr(Parameters, name):
                raise TypeError(f"{cls.__qualname__}.{name}: a parameter may not be named like this")
            declared = vars(cls).get(name, REQUIRED)
            if isinstance(declared, Secret):
                declared = declared.reveal()
            if name in fields and name not in cls.__annotations__:  # a new default keeps the limits
                declared = fields[name].with_default(declared)
            fields[name] = Field(cls.__qualname__, name, annotation, declared)
        cls._fields = fields
        cls._secret_names = tuple(name for name, field in fields.items() if field.kind == "Secret")

    def __init__(self, **values: object) -> None:
        # Python code may pass a Secret for a secret parameter; sources give its text.
        texts = {
            name: value.reveal() if isinstance(value, Secret) and name in self._secret_names else value
            for name, value in values.items()
        }
        params, problems = self.parse(texts)
        if problems:
            raise ConfigError(f"{type(self).__qualname__}(...)", problems)
        vars(self).update(vars(params))

    @classmethod
    def parse(
        cls, values: Mapping[str, object], read_reference: Callable[[str, Any], str | None] | None = None
    ) -> tuple[Parameters, list[str]]:
        """Check raw values against the fields: the parameters, valid only if there are no problems.

        Every problem is listed. A reference ({"$env": NAME}, {"$secret": ID}, ...)
        is read with `read_reference(parameter, reference)` and parsed as text;
        when that returns None (--check --no-resolve) the parameter is left
        unset. Without a reader a reference is just a value of the wrong kind.
        """
        params = cls.__new__(cls)
        checked = vars(params)  # filled here, the one write: __setattr__ refuses all others
        problems: list[str] = []
        for name, field in cls._fields.items():
            if name not in values:
                if field.required:
                    problems.append(f"{name}: missing (expected {field.expected()})")
                else:
                    checked[name] = field.default
                continue
            value = values[name]
            try:
                # A reference is a dict: a plain value, the common case, is told without a call.
                if isinstance(value, dict) and read_reference is not None and is_reference(value):
                    text = read_reference(name, value)
                    if text is not None:
                        checked[name] = _from_reference(field, text, value)
                else:
                    checked[name] = field.from_json(value)
            except ValueError as exc:
                problems.append(f"{name}: {exc}")
        if not values.keys() <= cls._fields.keys():
            known = ", ".join(cls._fields)
            unknown = [key for key in values if key not in cls._fields]
            problems.extend(f"{shown(key)}: unknown parameter (known: {known})" for key in unknown)
        for name in cls._secret_names:  # so that a secret never shows itself
            text = checked.get(name)
            if isinstance(text, str):
                checked[name] = Secret(text)
        return params, problems

    @classmethod
    def field_names(cls) -> tuple[str, ...]:
        """The declared parameters' names, in declared order."""
        return tuple(cls._fields)

    @classmethod
    def is_required(cls, name: str) -> bool:
        """Whether the parameter `name` must be given: it has no default and is not optional."""
        return cls._fields[name].required

    @classmethod
    def is_secret(cls, name: str) -> bool:
        """Whether the parameter `name` is declared as a Secret."""
        return name in cls._secret_names

    def masked(self) -> dict[str, object]:
        """Every parameter as a plain dict, with secrets shown as "***"."""
        values = dict(vars(self))
        for name in self._secret_names:
            if values[name] is not None:  # an optional secret that is not set shows as null
                values[name] = MASK
        return values

    def secret_values(self) -> list[str]:
        """The secrets' own text, for scrubbing it out of messages."""
        texts = [value.reveal() for value in vars(self).values() if isinstance(value, Secret)]
        return [text for text in texts if text]

    def __setattr__(self, name: str, value: object) -> NoReturn:
        raise AttributeError(f"{type(self).__qualname__} is read-only")

    def __delattr__(self, name: str) -> NoReturn:
        raise AttributeError(f"{type(self).__qualname__} is read-only")

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and vars(other) == vars(self)

    def __hash__(self) -> int:
        return hash(tuple(vars(self).values()))

    def __repr__(self) -> str:
        fields = ", ".join(f"{name}={value!r}" for name, value in vars(self).items())
        return f"{type(self).__qualname__}({fields})"


def _from_reference(field: Field, text: str, reference: dict[str, object]) -> object:
    try:
        return field.from_text(text)
    except ValueError as exc:
        kind = next(kind for kind in REFERENCE_KINDS if kind in reference)
        raise ValueError(f"{kind} {shown(reference[kind], limit=200)}: {exc}") from None


def is_reference(value: object) -> TypeGuard[dict[str, object]]:
    """Whether a raw value is a reference: an object with "$env", "$secret", "$ssm" or "$file"."""
    return isinstance(value, dict) and any(kind in value for kind in REFERENCE_KINDS)


# --------------------------------------------------------------------------
# The task


class Task(ABC):
    """A unit of work whose parameters come from wherever its runtime keeps them.

    run() is the template: load_config() reads the raw parameters, $env
    references are resolved, the values are validated against the business
    task's declared parameters, and execute() gets them typed. A runtime class
    implements load_config(); a business mixin sets `name` and `parameters` and
    implements execute(). Neither overrides run().
    """

    #: Where the task runs ("local", "batch", "lambda", "env"): set by each runtime class.
    runtime: ClassVar[str]
    #: What a value read straight from the source is called in a check report.
    origin: ClassVar[str] = "the source"
    #: True where whoever invokes writes the source (a Lambda event): its
    #: references may then name only what TASK_ENV_REFS (variables) and
    #: TASK_SECRET_REFS (secrets, parameters, files) list, and only for Secret parameters.
    invoker_written: ClassVar[bool] = False
    #: True where the source's values are references it made itself (the env
    #: runtime's variables): --check --no-resolve reads them still.
    references_are_the_source: ClassVar[bool] = False
    #: How the run under way reads its store and file references; made at its first such reference.
    _stores: Resolution | None = None
    #: The business task's name: the default TinyDB key and environment prefix.
    name: ClassVar[str]
    #: The business task's declared parameters: a Parameters subclass.
    parameters: ClassVar[type[Parameters]]
    #: Where environment variables are read, when the parameters load. A
    #: runtime's constructor takes `environ=` to replace it, for tests.
    environ: Mapping[str, str] = os.environ

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        _check_composition(cls)

    def run(self) -> dict[str, object]:
        """Load, resolve and validate the parameters, run the business logic, log one record."""
        started = time.perf_counter()
        params: Parameters | None = None
        try:
            params = self.validate(self.load_raw())
            result = self.execute(params)
        except BaseException as error:
            failure = error
            if params is not None:  # the business logic ran, and may have put a secret in a message
                from task_secrets import scrubbed

                failure = scrubbed(error, params.secret_values())
        else:
            self._log_end("ok", started)
            return result
        # Logged and raised out here: in the except block, Python would chain the original
        # (secrets and all) to the replacement, and to anything logging itself raised.
        self._log_end("config_error" if isinstance(failure, ConfigError) else "failed", started, failure)
        raise failure

    def check(self, *, resolve: bool = True) -> CheckReport:
        """Load and validate the parameters without running the business logic: a report (with
        resolve=False no reference is read, only its form and permission checked)."""
        from task_check import check_task

        return check_task(self, resolve=resolve)

    def validate(self, raw: object, *, resolve: bool = True) -> Parameters:
        """The business task's parameters from raw values, as run() reads them, or a ConfigError
        (StoreUnavailable when a store does not answer). With resolve=False references are checked,
        not read, and their parameters left unset."""
        if not isinstance(raw, (dict, Mapping)):  # dict first: ABCMeta's own check costs 0.1 µs a run
            raise ConfigError(
                self.describe_source(), [f"expected a JSON object of parameters, got {json_kind(raw)}"]
            )
        try:
            params, problems = self.parameters.parse(
                raw, self._read_reference if resolve else self._check_reference
            )
        finally:
            self._stores = None  # what this run read from stores is kept for it alone
        if problems:
            raise ConfigError(self.describe_source(), problems)
        return params

    @abstractmethod
    def load_config(self) -> object:
        """Return the raw parameters as the source holds them: a mapping of names
        to values, or whatever the source decoded to (run() checks the shape).

        Read only. Raise ConfigError for a source that is missing or not
        configured; load_raw() turns OSError, ValueError and RecursionError
        into a ConfigError naming the source, for run() and check() alike.
        """

    def describe_source(self) -> str:
        """Name the source for messages, logs and reports (a path, a table, a key)."""
        return self.runtime

    def log_fields(self) -> dict[str, object]:
        """The runtime's own identifiers for the record of each run (a job id, a request id)."""
        return {}

    @abstractmethod
    def execute(self, params: Any) -> dict[str, object]:
        """The business logic: take the validated parameters, return a JSON-ready dict."""

    def __repr__(self) -> str:
        return f"<{type(self).__name__} runtime={self.runtime}>"

    def load_raw(self) -> object:
        """What load_config() returns; what reading the source raised, as a ConfigError naming it."""
        try:
            return self.load_config()
        except READ_ERRORS as exc:
            from task_sources import config_error_from

            raise config_error_from(exc, self.describe_source()) from exc

    def _read_reference(self, name: str, reference: dict[str, object]) -> str | None:
        """The text a reference names, or ValueError why it cannot be read: a {"$env": NAME} here,
        the other kinds through task_stores (imported at a run's first such reference)."""
        if REFERENCE_KEY not in reference:
            return self._store_reference(name, reference, resolve=True)
        return self._read_variable(name, reference, resolve=True)

    def _check_reference(self, name: str, reference: dict[str, object]) -> str | None:
        """As _read_reference(), but reading nothing a reference names (--check --no-resolve): None."""
        if REFERENCE_KEY not in reference:
            return self._store_reference(name, reference, resolve=False)
        return self._read_variable(name, reference, resolve=self.references_are_the_source)

    def _store_reference(self, name: str, reference: dict[str, object], *, resolve: bool) -> str | None:
        """A store's or a file's reference, read through this run's one task_stores.Resolution."""
        if self._stores is None:
            import task_stores  # not `from ... import`: ~0.6 µs less per warm invocation

            self._stores = task_stores.Resolution(
                self.environ, invoker_written=self.invoker_written, resolve=resolve
            )
        return self._stores.read(reference, secret_parameter=self.parameters.is_secret(name))

    def _read_variable(self, name: str, reference: dict[str, object], *, resolve: bool) -> str | None:
        """The variable a {"$env": NAME} value names (None when not resolving), or ValueError why not."""
        variable = reference.get(REFERENCE_KEY)
        if len(reference) != 1 or not isinstance(variable, str) or not variable:
            raise ValueError('a reference must be {"$env": "VARIABLE_NAME"} and nothing else')
        if not variable.isprintable() or "=" in variable:
            raise ValueError(f"$env {shown(variable)} is not a variable name")
        if self.invoker_written:
            if not self.parameters.is_secret(name):
                raise ValueError(
                    "$env references are allowed only for secret parameters in what an invoker sends"
                )
            allowed = {listed.strip() for listed in self.environ.get(TASK_ENV_REFS, "").split(",")}
            if variable not in allowed:
                raise ValueError(f"$env {shown(variable)} is not allowed: {TASK_ENV_REFS} does not list it")
        if not resolve:
            return None
        text = self.environ.get(variable, "")
        if not text:
            raise ValueError(f"missing: $env {shown(variable)} is not set (or is empty)")
        return text

    def _log_end(self, outcome: str, started: float, error: BaseException | None = None) -> None:
        """Log the one record of this run: INFO when it succeeded, ERROR when it failed."""
        try:
            source = self.describe_source()
        except ConfigError as unnamed:  # no source configured: the error names what is missing
            source = unnamed.source
        fields = {
            "task": self.name,
            "runtime": self.runtime,
            "outcome": outcome,
            "duration_ms": round((time.perf_counter() - started) * 1000, 3),
            "source": source,
            **self.log_fields(),
        }
        if error is None:
            logger.info("%s: done", self.name, extra=fields)
        else:
            log_failure(logger, self.name, error, fields)


def log_failure(
    log: logging.Logger, name: str, error: BaseException, fields: dict[str, object] | None = None
) -> str:
    """Log why `name` failed, as every record says it, and return the outcome: "config_error",
    whose message says all, or "failed", with the exception's message cut short."""
    if isinstance(error, ConfigError):
        log.error("%s: configuration error: %s", name, message_of(error), exc_info=error, extra=fields)
        return "config_error"
    log.error("%s: failed: %s", name, shown(message_of(error), limit=1000), exc_info=error, extra=fields)
    if isinstance(error, Stopped):
        error.logged = True
    return "failed"


def message_of(error: BaseException) -> str:
    """str(error), or a note saying it has none, for an exception whose __str__ fails."""
    try:
        return str(error)
    except Stopped:
        raise
    except BaseException:  # a __str__ may raise SystemExit as well as anything else
        return f"({type(error).__name__}: its message could not be read)"


def _check_composition(cls: type[Task]) -> None:
    """Fail when a runnable class is defined, not when it runs, if it is put together wrong."""
    bases = cls.__bases__
    # Task in __mro__, not issubclass(): ABCMeta's check would walk every subclass of Task for each base.
    runtimes = [base for base in bases if Task in base.__mro__]
    mixins = [base for base in bases if Task not in base.__mro__ and hasattr(base, "execute")]
    if runtimes and mixins and bases.index(runtimes[0]) < bases.index(mixins[0]):
        raise TypeError(
            f"class {cls.__name__}: list the business task before the runtime, "
            f"as in class {cls.__name__}({mixins[0].__name__}, {runtimes[0].__name__}), "
            "so that its execute() is the one that runs"
        )
    for mixin in mixins:
        taken = sorted(_names_defined(mixin) & _names_a_runtime_uses(runtimes))
        if taken:
            raise TypeError(
                f"class {cls.__name__}: the business task {mixin.__name__} defines {', '.join(taken)}, "
                "which the runtime needs for itself; a business task supplies name, parameters and "
                "execute() only (its parameters arrive through the runtime's constructor)"
            )
    if getattr(cls.execute, "__isabstractmethod__", False) or not hasattr(cls, "runtime"):
        return
    missing = []
    if not isinstance(getattr(cls, "name", None), str) or not cls.name:
        missing.append('`name: ClassVar[str] = "..."` (its TinyDB key and environment prefix)')
    parameters = getattr(cls, "parameters", None)
    if not (isinstance(parameters, type) and issubclass(parameters, Parameters)):
        missing.append("`parameters: ClassVar[type[Parameters]] = ...` (a Parameters subclass)")
    if missing:
        raise TypeError(f"class {cls.__name__}: the business task needs {' and '.join(missing)}")


def _names_defined(mixin: type) -> set[str]:
    return {name for klass in mixin.__mro__ if klass is not object for name in vars(klass)}


def _names_a_runtime_uses(runtimes: list[type]) -> set[str]:
    """What Task and its runtime classes define, which a business mixin listed first would replace."""
    defined = {name for runtime in runtimes for klass in runtime.__mro__ for name in vars(klass)}
    # ABCMeta gives every class it makes its own _abc_impl, a business mixin that is an ABC too.
    return {name for name in defined if not name.startswith("__")} - {"execute", "_abc_impl"} | {"__init__"}


@functools.cache  # one class per (business mixin, runtime) pair, found or defined once
def runnable(business: type, runtime: type) -> type[Any]:
    """The class that runs a business mixin in a runtime: Widget and LocalTask give LocalWidget.

    That is the class its module defines (class LocalWidget(Widget, LocalTask)),
    or, where there is none, one defined here the same way.
    """
    subclasses: list[type] = runtime.__subclasses__()
    defined = [cls for cls in subclasses if cls.__bases__ == (business, runtime)]
    if defined:
        return defined[0]
    name = runtime.__name__.removesuffix("Task") + business.__name__
    return type(name, (business, runtime), {"__module__": business.__module__})


# --------------------------------------------------------------------------
# The runtimes


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
        from task_sources import decode_json, read_text_file

        return decode_json(read_text_file(self._path(), self.environ))

    def describe_source(self) -> str:
        return f"JSON file {shown(self._path(), limit=300)}"

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
    """Parameters from one document of a TinyDB file: an AWS Batch job, or any indexed job's copy.

    The document is {"task": KEY, "params": {...}}; copy i of an indexed job
    (an AWS Batch array job, a Kubernetes Indexed Job, a Cloud Run job: see
    task_engines) reads the one with "array_index": i. The file is only ever read.
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
        from task_sources import find_params

        index = self.array_index()  # before the file: a bad index costs no read
        return find_params(self.documents(), self._location()[2], index)

    def documents(self) -> dict[str, dict[str, object]]:
        """Every document of this task's key in its table, by document id: one parse of the file."""
        from task_sources import documents_of_key, read_tinydb

        path, table, key = self._location()
        return documents_of_key(read_tinydb(path, self.environ), table, key)

    def array_index(self) -> int | None:
        """This copy's index in an indexed job (AWS_BATCH_JOB_ARRAY_INDEX, JOB_COMPLETION_INDEX or
        CLOUD_RUN_TASK_INDEX: task_engines), or None outside one."""
        from task_engines import array_index

        try:
            return array_index(self.environ)
        except SourceError as exc:
            raise ConfigError(self.describe_source(), [str(exc)]) from None

    def describe_source(self) -> str:
        from task_engines import index_text

        index = index_text(self.environ)
        described = self.describe_file()
        return described if index is None else f"{described}, array index {shown(index)}"

    def describe_file(self) -> str:
        """The file, table and key, without this copy's index: the source of every document of the key."""
        path, table, key = self._location()
        return f"TinyDB file {shown(path, limit=300)}, table '{shown(table)}', key '{shown(key)}'"

    def log_fields(self) -> dict[str, object]:
        from task_engines import engine_fields

        try:
            index = self.array_index()
        except ConfigError:  # an invalid index is the run's error, not a field
            index = None
        return engine_fields(self.environ, index)

    def _location(self) -> tuple[str, str, str]:
        """The file, table and key to read; constructor arguments win over the environment."""
        environ = self.environ
        path = os.fspath(self.db_path) if self.db_path is not None else environ.get(TASK_CONFIG_DB, "")
        if not path:
            raise ConfigError(
                "batch runtime", [f"no TinyDB file given: pass db_path (--db) or set {TASK_CONFIG_DB}"]
            )
        table = self.table or environ.get(TASK_CONFIG_TABLE) or TINYDB_DEFAULT_TABLE
        key = self.key or environ.get(TASK_CONFIG_KEY) or self.name
        return path, table, key


class LambdaTask(Task):
    """Parameters from an AWS Lambda event, or from one unit of work the trigger layer found in it.

    Whoever invokes the function writes the event, so its $env references may
    name only the variables TASK_ENV_REFS lists, and only for Secret parameters.
    """

    runtime = "lambda"
    origin = "what the invoker sent"
    invoker_written = True

    def __init__(
        self,
        event: object,
        context: object | None = None,
        *,
        environ: Mapping[str, str] | None = None,
        unit: Unit | None = None,
    ) -> None:
        self.event = event
        #: The invocation's context, for business logic that wants the deadline.
        self.context = context
        #: The request, message or record of the event this task runs (task_lambda);
        #: None when the event itself holds the parameters.
        self.unit = unit
        if environ is not None:
            self.environ = environ

    def load_config(self) -> object:
        return self.event if self.unit is None else self.unit.raw_parameters()

    def describe_source(self) -> str:
        return "Lambda event" if self.unit is None else self.unit.source

    def log_fields(self) -> dict[str, object]:
        fields: dict[str, object] = {"request_id": getattr(self.context, "aws_request_id", None)}
        if self.unit is not None and self.unit.message_id is not None:  # a queue or topic message
            fields["message_id"] = self.unit.message_id
        if self.unit is not None and self.unit.sequence_number is not None:  # a stream record
            fields["sequence_number"] = self.unit.sequence_number
        return fields


class EnvTask(Task):
    """Parameters from environment variables: WIDGET_HOST, WIDGET_PORT, ...

    A variable that carries the prefix but names no parameter is an error;
    variables without the prefix are ignored, and an empty one counts as unset.
    """

    runtime = "env"
    references_are_the_source = True

    def __init__(self, prefix: str | None = None, *, environ: Mapping[str, str] | None = None) -> None:
        self.prefix = prefix
        if environ is not None:
            self.environ = environ

    def load_config(self) -> object:
        # Each parameter is a reference to its variable, so run() parses it by its
        # declared type exactly as it parses any other $env value, and names the
        # variable of a required one that is unset. A variable that names no
        # parameter is keyed "$VARIABLE", which no parameter can be named, for
        # run() to report as unknown.
        prefix = self._prefix()
        variables = {f"{prefix}{name.upper()}": name for name in self.parameters.field_names()}
        raw = {
            variables.get(variable, f"${variable}"): {REFERENCE_KEY: variable}
            for variable, text in self.environ.items()
            if variable.startswith(prefix) and text
        }
        for variable, name in variables.items():
            if name not in raw and self.parameters.is_required(name):
                raw[name] = {REFERENCE_KEY: variable}
        return raw

    def describe_source(self) -> str:
        return f"environment variables {shown(self._prefix())}*"

    def _prefix(self) -> str:
        if self.prefix == "":
            raise ConfigError("env runtime", ["the prefix is empty: every variable would be a parameter"])
        return f"{self.name.upper()}_" if self.prefix is None else self.prefix


#: Names this module exports from the modules around it, imported on first use
#: so that neither a Lambda cold start nor an import cycle pays for them.
_ELSEWHERE = {
    "CheckReport": "task_check",
    "FakeLambdaContext": "task_testing",
    "run_command_line": "task_cli",
}


def __dir__() -> list[str]:
    return sorted([*globals(), *_ELSEWHERE])


def __getattr__(name: str) -> object:
    module = _ELSEWHERE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)


if __name__ == "__main__":  # python -m task: a library, not a program
    import sys

    print(
        "task is a library: run a task with task-run MODULE:NAME [options] (task-run --help says more)",
        file=sys.stderr,
    )
    sys.exit(2)
