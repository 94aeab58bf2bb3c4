"""Indexed jobs: the engines that run N copies of one container and tell each copy its index.

AWS Batch array jobs, Kubernetes Indexed Jobs and Cloud Run jobs each set
their own variables; BatchTask reads its TinyDB document by the index, by the
same rules whichever engine gives it, so one file of documents drives them all.
"""

from __future__ import annotations

from task import MAX_ARRAY_INDEX, SourceError, shown
from task_fields import decimal

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping

__all__ = [
    "ENGINES",
    "LARGEST_ARRAY",
    "Engine",
    "array_index",
    "array_size",
    "batch_job_variable",
    "engine_fields",
    "index_text",
    "indexed_engine",
]

# The variables the engines set in each copy of the container.
AWS_BATCH_JOB_ID = "AWS_BATCH_JOB_ID"
AWS_BATCH_JOB_ARRAY_INDEX = "AWS_BATCH_JOB_ARRAY_INDEX"
AWS_BATCH_JOB_ATTEMPT = "AWS_BATCH_JOB_ATTEMPT"
JOB_COMPLETION_INDEX = "JOB_COMPLETION_INDEX"
CLOUD_RUN_JOB = "CLOUD_RUN_JOB"
CLOUD_RUN_EXECUTION = "CLOUD_RUN_EXECUTION"
CLOUD_RUN_TASK_INDEX = "CLOUD_RUN_TASK_INDEX"
CLOUD_RUN_TASK_ATTEMPT = "CLOUD_RUN_TASK_ATTEMPT"
CLOUD_RUN_TASK_COUNT = "CLOUD_RUN_TASK_COUNT"

#: The most copies any engine runs: a Kubernetes Indexed Job's 100,000 completions.
LARGEST_ARRAY = MAX_ARRAY_INDEX + 1


class Engine:
    """An engine of indexed jobs, known by the variables it sets in each copy of the container."""

    __slots__ = (
        "attempt_variable",
        "first_attempt",
        "index_variable",
        "job_id_variable",
        "job_variable",
        "largest_index",
        "name",
    )

    def __init__(
        self,
        name: str,
        index_variable: str,
        largest_index: int,
        *,
        job_variable: str,
        job_id_variable: str | None = None,
        attempt_variable: str | None = None,
        first_attempt: int = 1,
    ) -> None:
        #: How the logs name it, in the field `engine`.
        self.name = name
        #: The variable that holds this copy's index, from 0.
        self.index_variable = index_variable
        #: The highest index the engine gives.
        self.largest_index = largest_index
        #: The variable, not empty in any of its jobs, by which the command line knows it runs on this engine.
        self.job_variable = job_variable
        #: The variable that names the job (or its execution), for the logs; None when it sets none.
        self.job_id_variable = job_id_variable
        #: The variable that counts this copy's attempts, for the logs; None when it sets none.
        self.attempt_variable = attempt_variable
        #: What the attempt variable holds on the first attempt: the logs count from 1 for every engine.
        self.first_attempt = first_attempt


#: Every engine, as the contract's table "Indexed jobs on other engines" lists them.
ENGINES = (
    Engine(
        "aws-batch",
        AWS_BATCH_JOB_ARRAY_INDEX,
        9_999,
        job_variable=AWS_BATCH_JOB_ID,  # also in a job that is no array job
        job_id_variable=AWS_BATCH_JOB_ID,
        attempt_variable=AWS_BATCH_JOB_ATTEMPT,
    ),
    # Only an Indexed Job sets JOB_COMPLETION_INDEX; Kubernetes names no job or attempt in a variable.
    Engine("kubernetes", JOB_COMPLETION_INDEX, MAX_ARRAY_INDEX, job_variable=JOB_COMPLETION_INDEX),
    Engine(
        "cloud-run",
        CLOUD_RUN_TASK_INDEX,
        9_999,
        job_variable=CLOUD_RUN_JOB,
        job_id_variable=CLOUD_RUN_EXECUTION,
        attempt_variable=CLOUD_RUN_TASK_ATTEMPT,
        first_attempt=0,
    ),
)


def indexed_engine(environ: Mapping[str, str]) -> Engine | None:
    """The engine whose index variable is set (empty or not), or None when none is.

    More than one set, whatever their values, is a SourceError naming each:
    no engine sets another's, so which copy this is cannot be known.
    """
    found = _with_an_index(environ)
    if len(found) > 1:
        names = ", ".join(engine.index_variable for engine in found)
        raise SourceError(
            f"{len(found)} index variables are set ({names}), but an engine sets only its own: "
            "unset all but one"
        )
    return found[0] if found else None


def array_index(environ: Mapping[str, str]) -> int | None:
    """This copy's index, from its engine's variable; None outside an indexed job.

    Decimal digits only, from 0 to the engine's highest index: anything else,
    an empty variable included (no engine sets one empty), is a SourceError
    naming the variable. More than one index variable set is one too.
    """
    engine = indexed_engine(environ)
    if engine is None:
        return None
    text = environ[engine.index_variable]
    index = decimal(text, max_digits=len(str(engine.largest_index)))
    if index is None or index > engine.largest_index:
        expected = f"an index from 0 to {engine.largest_index}"
        raise SourceError(f"{engine.index_variable} must be {expected}, got '{shown(text)}'")
    return index


def index_text(environ: Mapping[str, str]) -> str | None:
    """The text of the one index variable set, to name the source by; None when none or several are."""
    found = _with_an_index(environ)
    return environ[found[0].index_variable] if len(found) == 1 else None


def array_size(text: str) -> int | None:
    """The size of an array that text spells in decimal digits, from 1 to LARGEST_ARRAY; else None."""
    size = decimal(text, max_digits=len(str(LARGEST_ARRAY)))
    return size if size is not None and 1 <= size <= LARGEST_ARRAY else None


def batch_job_variable(environ: Mapping[str, str]) -> str | None:
    """The first of AWS_BATCH_JOB_ID, JOB_COMPLETION_INDEX and CLOUD_RUN_JOB that is not empty, or None.

    What tells the command line that it runs in an engine's job, so on the batch runtime.
    """
    engine = _engine_of_job(environ)
    return None if engine is None else engine.job_variable


def engine_fields(environ: Mapping[str, str], index: int | None) -> dict[str, object]:
    """The log fields `engine`, `job_id`, `array_index` (this copy's `index`, unless None) and
    `attempt` (an integer, from 1), where the engine sets them.

    The engine is the one whose index variable is set; without one (or with
    several), the first whose job variable is not empty (batch_job_variable);
    else there are no fields.
    """
    found = _with_an_index(environ)
    engine = found[0] if len(found) == 1 else _engine_of_job(environ)
    if engine is None:  # then there is no index either: an index names its engine
        return {}
    fields: dict[str, object] = {"engine": engine.name}
    if engine.job_id_variable is not None and environ.get(engine.job_id_variable):
        fields["job_id"] = environ[engine.job_id_variable]
    if index is not None:
        fields["array_index"] = index
    if engine.attempt_variable is not None:
        attempt = decimal(environ.get(engine.attempt_variable, ""), max_digits=9)
        if attempt is not None:
            fields["attempt"] = attempt - engine.first_attempt + 1
    return fields


def _with_an_index(environ: Mapping[str, str]) -> list[Engine]:
    return [engine for engine in ENGINES if engine.index_variable in environ]


def _engine_of_job(environ: Mapping[str, str]) -> Engine | None:
    return next((engine for engine in ENGINES if environ.get(engine.job_variable)), None)
