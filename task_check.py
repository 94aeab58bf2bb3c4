"""Pre-flight checks: what `--check` reports, for one task or for every document of an array job."""

from __future__ import annotations

import json
from collections.abc import Mapping

from task import (
    MASK,
    MAX_ARRAY_INDEX,
    READ_ERRORS,
    REFERENCE_KEY,
    ConfigError,
    Secret,
    SourceError,
    is_reference,
    shown,
)
from task_engines import CLOUD_RUN_TASK_COUNT, LARGEST_ARRAY, array_size, indexed_engine
from task_fields import json_kind
from task_sources import array_index_of, config_error_from, params_of

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence

    from task import BatchTask, Task

    #: One checked document: its id, its array index (None without one, "invalid"
    #: when it is no index) and its problems.
    DocumentCheck = tuple[str, int | str | None, tuple[str, ...]]

__all__ = ["ArrayCheckReport", "CheckReport", "check_every_document", "check_task"]

#: How many ranges of indices a line lists before it says how many more there are.
LISTED_RANGES = 20
#: How many invalid documents a report lists with their problems; the rest it names on one line.
LISTED_DOCUMENTS = 50
#: What --check --no-resolve shows for a parameter whose value a reference names.
NOT_READ = "reference, not read"


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
        #: The source as the report shows it, escaped (see _escaped).
        self.source = _escaped(source)
        #: One (name, value as shown, where it came from) per parameter, e.g.
        #: ("port", "5432", "default") or ("password", "***", "from $env DB_PASSWORD").
        self.parameters = tuple(parameters)
        self.problems = tuple(problems)

    @property
    def ok(self) -> bool:
        """Whether the task would run with these parameters."""
        return not self.problems

    def render(self, runtime_reason: str | None = None) -> str:
        """The report for a person; runtime_reason says why this runtime was chosen."""
        lines = _heading(self.runtime, self.source, runtime_reason)
        if self.ok:
            name_width = max((len(name) for name, _, _ in self.parameters), default=0)
            value_width = max((len(value) for _, value, _ in self.parameters), default=0)
            lines.append(f"Parameters ({len(self.parameters)}):")
            for name, value, origin in self.parameters:
                lines.append(f"  {name:<{name_width}}  {value:<{value_width}}  {origin}")
            lines.append("Valid: the task would run with these parameters.")
        else:
            lines.append(f"Problems ({len(self.problems)}):")
            lines.extend(f"  - {problem}" for problem in self.problems)
            lines.append("Invalid: fix every problem above; nothing was run.")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.render()


class ArrayCheckReport:
    """What --check --all shows: every document of a key, and whether an array job finds each index once."""

    __slots__ = (
        "document_count",
        "invalid",
        "missing",
        "never_run",
        "read_problems",
        "repeated",
        "runtime",
        "size",
        "size_origin",
        "source",
        "unindexed",
    )

    def __init__(
        self,
        runtime: str,
        source: str,
        checks: Sequence[DocumentCheck] = (),
        *,
        read_problems: Sequence[str] = (),
        size: int | None = None,
        size_origin: str = "as given",
    ) -> None:
        self.runtime = runtime
        #: The source as the report shows it, escaped (see _escaped).
        self.source = _escaped(source)
        #: Why the documents could not be read at all (then nothing else is known).
        self.read_problems = tuple(read_problems)
        #: How many documents the key has.
        self.document_count = len(checks)
        #: The invalid documents, in file order: (doc id, array index, problems).
        self.invalid = tuple(check for check in checks if check[2])
        counts: dict[int, int] = {}
        for _, index, _ in checks:
            if isinstance(index, int):
                counts[index] = counts.get(index, 0) + 1
        #: How many documents have no array_index (what a job that is no array job reads).
        self.unindexed = sum(1 for _, index, _ in checks if index is None)
        #: The array's size: as given, else the highest array_index plus one.
        self.size = max(counts, default=-1) + 1 if size is None else size
        #: Where the size came from, for a person.
        self.size_origin = "the highest array_index plus one" if size is None else size_origin
        #: The indices from 0 to size - 1 that no document has.
        self.missing = tuple(index for index in range(self.size) if index not in counts)
        #: The indices of size or more that documents have: an array of this size never runs them.
        self.never_run = tuple(sorted(index for index in counts if index >= self.size))
        #: The indices that more than one document has.
        self.repeated = tuple(sorted(index for index, count in counts.items() if count > 1))

    @property
    def problems(self) -> tuple[str, ...]:
        """Every problem, one line each: what makes the key unfit for its jobs."""
        if self.read_problems:
            return self.read_problems
        per_document = []
        for doc_id, index, found in self.invalid:
            label = _label(doc_id, index)
            per_document += [f"{label}: {problem}" for problem in found]
        return (*per_document, *self._key_problems())

    @property
    def ok(self) -> bool:
        """Whether every document is valid and an array job of `size` finds each index exactly once."""
        return not (self.read_problems or self.invalid or self._key_problems())

    def render(self, runtime_reason: str | None = None) -> str:
        """The report for a person, short whatever the number of documents: index ranges, capped lists."""
        lines = _heading(self.runtime, self.source, runtime_reason)
        if self.read_problems:
            lines.append(f"Problems ({len(self.read_problems)}):")
            lines.extend(f"  - {problem}" for problem in self.read_problems)
            lines.append("Invalid: the documents could not be read; nothing was run.")
            return "\n".join(lines)
        if self.invalid:
            lines.append(f"Invalid documents ({len(self.invalid)}):")
            for doc_id, index, problems in self.invalid[:LISTED_DOCUMENTS]:
                lines.append(f"  {_label(doc_id, index)}:")
                lines.extend(f"    - {problem}" for problem in problems)
            unlisted = self.invalid[LISTED_DOCUMENTS:]
            if unlisted:
                lines.append(f"  and {len(unlisted)} more invalid documents: {_named_together(unlisted)}")
        valid = self.document_count - len(self.invalid)
        lines.append(
            f"Documents: {valid} of {self.document_count} valid; {self.unindexed} without array_index"
        )
        if self.size:
            lines.append(f"Array size: {self.size} ({self.size_origin})")
            lines.append(f"Missing indices ({len(self.missing)}): {_ranges(self.missing) or 'none'}")
            lines.append(
                f"Indices in several documents ({len(self.repeated)}): {_ranges(self.repeated) or 'none'}"
            )
            if self.never_run:
                lines.append(
                    f"Indices beyond the array, never run ({len(self.never_run)}): {_ranges(self.never_run)}"
                )
        else:
            lines.append("Array size: 0 (no document has an array_index)")
        if self.ok:
            lines.append(
                "Valid: every document would run, and an array job of this size finds each index once."
            )
        else:
            lines.append("Invalid: fix every problem above; nothing was run.")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.render()

    def _key_problems(self) -> list[str]:
        """What is wrong with the documents together, whatever each one holds."""
        problems = []
        if not self.document_count:
            problems.append("no document has this key")
        if self.missing:
            problems.append(f"array indices no document has: {_ranges(self.missing)}")
        if self.repeated:
            problems.append(f"array indices more than one document has: {_ranges(self.repeated)}")
        if self.never_run:
            problems.append(
                f"array indices an array of {self.size} never runs, so their documents never do: "
                f"{_ranges(self.never_run)}"
            )
        if self.unindexed > 1:
            problems.append(
                f"{self.unindexed} documents without array_index; a job that is no array job needs one"
            )
        return problems


def check_task(task: Task, *, resolve: bool = True) -> CheckReport:
    """What Task.check() returns: the task's parameters as run() would read them, each with where it
    came from; or every problem. Nothing runs; with resolve=False no reference is read."""
    try:
        raw = task.load_raw()
        params = task.validate(raw, resolve=resolve)
    except ConfigError as error:
        return CheckReport(task.runtime, error.source, (), error.problems)
    assert isinstance(raw, Mapping)  # validate() accepted it
    values = vars(params)
    lines = [
        (name, _shown(values, raw, name), _origin(task, raw, name)) for name in task.parameters.field_names()
    ]
    return CheckReport(task.runtime, task.describe_source(), lines, ())


def _shown(values: Mapping[str, object], raw: Mapping[str, object], name: str) -> str:
    """A parameter's value as a report shows it: *** for a secret or what a store or file holds."""
    if name not in values:  # a reference that --no-resolve did not read
        return NOT_READ
    value, given = values[name], raw.get(name)
    from_store = is_reference(given) and REFERENCE_KEY not in given
    return MASK if isinstance(value, Secret) or from_store else json.dumps(value)


def _origin(task: Task, raw: Mapping[str, object], name: str) -> str:
    """Where a parameter's value came from: its default, a variable, a store, a file, or the source."""
    if name not in raw:
        return "default"
    value = raw[name]
    if is_reference(value) and REFERENCE_KEY in value:
        return f"from $env {shown(value[REFERENCE_KEY])}"
    if is_reference(value):
        from task_stores import Reference

        return f"from {Reference(value)}"  # validate() accepted its form
    return f"from {task.origin}"


def check_every_document(
    task: BatchTask, array_size: int | None = None, *, resolve: bool = True
) -> ArrayCheckReport:
    """Check every document of the task's key as its own job would: one parse of the file, one pass.

    The one without array_index and every array child, whatever the task's own
    array index; indices from 0 to the highest that the engine whose index
    variable is set gives (without one, any engine's: 0 to 99,999). The array
    has `array_size` children when given, else CLOUD_RUN_TASK_COUNT's when
    set, else as many as the highest array_index plus one. With resolve=False
    no reference is read.
    """
    try:
        source = task.describe_file()
        try:
            engine = indexed_engine(task.environ)
            largest_index = MAX_ARRAY_INDEX if engine is None else engine.largest_index
            size, size_origin = _array_size(task.environ, array_size, largest_index)
            documents = task.documents()
        except READ_ERRORS as exc:
            raise config_error_from(exc, source) from exc
    except ConfigError as error:
        return ArrayCheckReport(task.runtime, error.source, read_problems=error.problems)
    checks: list[DocumentCheck] = []
    # One string per distinct problem, not one per document: documents mostly share their problems
    # (10,000 children missing one secret). Measured on 300,000 documents of 5 problems each:
    # --check --all peaks at 480 MB instead of 600 MB.
    distinct: dict[str, str] = {}
    for doc_id, document in documents.items():
        index = array_index_of(document, largest_index)
        problems = _problems_of(task, source, document, index, largest_index, resolve=resolve)
        checks.append((doc_id, index, tuple(distinct.setdefault(problem, problem) for problem in problems)))
    return ArrayCheckReport(task.runtime, source, checks, size=size, size_origin=size_origin)


def _array_size(environ: Mapping[str, str], given: int | None, largest_index: int) -> tuple[int | None, str]:
    """The array's size and where it came from: as given, else CLOUD_RUN_TASK_COUNT, else None (inferred).

    SourceError when it is no size, or more than the engine runs.
    """
    origin = "as given"
    if given is None:
        text = environ.get(CLOUD_RUN_TASK_COUNT, "")
        if not text:
            return None, ""
        given, origin = array_size(text), CLOUD_RUN_TASK_COUNT
        if given is None:
            expected = f"an array size from 1 to {LARGEST_ARRAY}"
            raise SourceError(f"{CLOUD_RUN_TASK_COUNT} must be {expected}, got '{shown(text)}'")
    if not 1 <= given <= largest_index + 1:
        raise SourceError(f"an array of {given} cannot run: its indices must be from 0 to {largest_index}")
    return given, origin


def _problems_of(
    task: BatchTask,
    source: str,
    document: dict[str, object],
    index: int | str | None,
    largest_index: int,
    *,
    resolve: bool,
) -> list[str]:
    """What keeps one document from running, as its own job would read it."""
    problems = []
    if index == "invalid":
        value = document["array_index"]
        got = shown(str(value), limit=20) if type(value) is int else json_kind(value)
        problems.append(f"array_index: expected an integer from 0 to {largest_index}, got {got}")
    try:
        task.validate(params_of(document), resolve=resolve)
    except ConfigError as error:
        problems.extend(error.problems)
    except READ_ERRORS as exc:
        problems.extend(config_error_from(exc, source).problems)
    return problems


def _heading(runtime: str, source: str, runtime_reason: str | None) -> list[str]:
    """The first lines of every report."""
    runtime = runtime if runtime_reason is None else f"{runtime}, because {runtime_reason}"
    return [f"Runtime: {runtime}", f"Source: {source}"]


def _escaped(source: str) -> str:
    """A source as reports show it: escaped as shown() escapes text, but whole, never cut short."""
    return shown(source, limit=len(source))


def _label(doc_id: str, index: int | str | None) -> str:
    """How a report names a document: by its array index, else by its id."""
    if index is None:
        return "no array_index"
    if isinstance(index, int):
        return f"array_index {index}"
    return f"document {shown(doc_id)}"


def _named_together(documents: Sequence[DocumentCheck]) -> str:
    """Documents named on one line: their array indices as ranges, then the others (the first 20)."""
    indices = sorted(index for _, index, _ in documents if isinstance(index, int))
    others = [_label(doc_id, index) for doc_id, index, _ in documents if not isinstance(index, int)]
    named = [f"array_index {_ranges(indices)}"] if indices else []
    named += others[:LISTED_RANGES]
    if len(others) > LISTED_RANGES:
        named.append(f"and {len(others) - LISTED_RANGES} more")
    return ", ".join(named)


def _ranges(indices: Sequence[int]) -> str:
    """Sorted indices as ranges, "0-4, 7, 9-12", the first LISTED_RANGES of them, then how many more."""
    ranges: list[tuple[int, int]] = []
    for index in indices:
        if ranges and index <= ranges[-1][1] + 1:
            ranges[-1] = (ranges[-1][0], max(index, ranges[-1][1]))
        else:
            ranges.append((index, index))
    listed = ", ".join(str(low) if low == high else f"{low}-{high}" for low, high in ranges[:LISTED_RANGES])
    rest = sum(high - low + 1 for low, high in ranges[LISTED_RANGES:])
    return f"{listed} and {rest} more" if rest else listed
