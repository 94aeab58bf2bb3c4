"""run_everywhere(): one business task run with the same parameters in every runtime, for tests.

task_testing re-exports it.
"""

from __future__ import annotations

import json

from task import REFERENCE_KEY, BatchTask, ConfigError, EnvTask, LambdaTask, LocalTask, is_reference, runnable

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Mapping
    from pathlib import Path

    from task import Task

__all__ = ["run_everywhere"]


def run_everywhere(
    business: type,
    params: Mapping[str, object],
    tmp_path: Path,
    environ: Mapping[str, str] | None = None,
) -> dict[str, dict[str, object]]:
    """Run `business` with `params` from a JSON file, a TinyDB document, a direct Lambda event and
    environment variables; return each result by runtime: {"local": ..., "batch": ..., ...}.

    The files are written in `tmp_path`. Every run sees `environ` (default: no
    variables at all, so the machine's own cannot change a result), the env
    runtime the parameters' variables besides. The first failure propagates,
    its message naming its runtime ("local runtime: ..."). In the event, as in Lambda, a reference
    is honoured only where TASK_ENV_REFS (in `environ`) allows it.
    """
    from task_testing import FakeLambdaContext

    environ = dict(environ or {})
    name = runnable(business, LocalTask).name  # defining the runnable class checks the business task
    config_file = tmp_path / f"{name}.json"
    config_file.write_text(json.dumps(params), encoding="utf-8")
    db_file = _write_tinydb(tmp_path / f"{name}-tasks.json", name, params)
    variables = {f"{name.upper()}_{key.upper()}": _as_text(value, environ) for key, value in params.items()}
    event = json.loads(json.dumps(params))
    runs: dict[str, Callable[[], Task]] = {
        "local": lambda: runnable(business, LocalTask)(config_file, environ=environ),
        "batch": lambda: runnable(business, BatchTask)(db_file, environ=environ),
        "lambda": lambda: runnable(business, LambdaTask)(event, FakeLambdaContext(name), environ=environ),
        "env": lambda: runnable(business, EnvTask)(environ={**environ, **variables}),
    }
    results = {}
    for runtime, task in runs.items():
        try:
            results[runtime] = task().run()
        except ConfigError as error:  # its message is built from its source: name the runtime there
            raise ConfigError(f"{runtime} runtime: {error.source}", error.problems) from error
        except Exception as error:
            _name_the_runtime(error, runtime)
            raise
    return results


def _name_the_runtime(error: Exception, runtime: str) -> None:
    """Put "RUNTIME runtime: " before the message, where it is its first argument (most exceptions),
    else add a note saying it."""
    first = error.args[0] if error.args else None
    try:
        if not isinstance(first, str):
            raise TypeError("no message to name the runtime in")
        error.args = (f"{runtime} runtime: {first}", *error.args[1:])
    except Exception:  # its args cannot be set, or its message is not its first argument
        _add_note(error, f"run_everywhere: this failure comes from the {runtime} runtime")


def _write_tinydb(path: Path, key: str, params: Mapping[str, object]) -> Path:
    """The document a Batch job of this key reads, written by TinyDB itself."""
    from tinydb import TinyDB

    path.unlink(missing_ok=True)  # a second run in the same directory starts afresh
    with TinyDB(path) as db:
        db.insert({"task": key, "params": dict(params)})
    return path


def _as_text(value: object, environ: Mapping[str, str]) -> str:
    """A parameter's value as an environment variable holds it: what a reference names is put there."""
    if is_reference(value):
        return environ.get(str(value[REFERENCE_KEY]), "")
    if value is None:
        return ""  # an empty variable is unset: an optional parameter's None
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _add_note(error: BaseException, note: str) -> None:
    """BaseException.add_note(), on Python 3.10 too (where tracebacks do not show notes)."""
    notes = getattr(error, "__notes__", None)
    if isinstance(notes, list):
        notes.append(note)
    else:
        error.__notes__ = [note]  # type: ignore[attr-defined]
