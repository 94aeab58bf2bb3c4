"""`task-run MODULE:NAME [options]`: the command line for any task, found by name.

Also `python -m task_cli MODULE:NAME`. The options and everything after them are
task_cli's run_command_line(); this module finds the business task (and the
handler --handler names) and turns what cannot be found into one line, exit 2.
"""

from __future__ import annotations

import importlib
import os
import sys

from task import LocalTask, Task, TaskError, runnable, shown
from task_cli import EXIT_CONFIG_ERROR, EXIT_OK, run_command_line

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

__all__ = ["TargetError", "find_business_task", "find_handler", "main"]

USAGE = """\
usage: {prog} MODULE:NAME [--runtime {{local,batch,env,lambda}}] [--config PATH] [--db PATH] [--key KEY]
       [--table T] [--prefix P] [--event PATH [--handler MODULE.FUNCTION]]
       [--check [--all [--array-size N]] [--no-resolve]]

Runs or checks the business task NAME of module MODULE (imported from the current directory, as
Python imports it): locally from a JSON file, in AWS Batch from a TinyDB document, from environment
variables, or on a Lambda event (through its trigger layer, or the handler --handler names).
NAME is the business mixin, or one of its runnable classes.

Exit status: 0 done (or valid), 2 a configuration or usage error, 1 any other failure.
"{prog} MODULE:NAME --help" describes every option for that task.
"""


class TargetError(TaskError):
    """What the command line names cannot be imported, or is not what it should be."""


def main(argv: Sequence[str] | None = None, *, prog: str = "task-run") -> int:
    """`task-run MODULE:NAME [options]`: run or check that task; return the exit status."""
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help"):
        print(USAGE.format(prog=prog), end="", file=sys.stdout if args else sys.stderr)
        return EXIT_OK if args else EXIT_CONFIG_ERROR
    target, options = args[0], args[1:]
    try:
        business = find_business_task(target)
    except TargetError as error:
        print(f"{prog}: error: {error}", file=sys.stderr)
        return EXIT_CONFIG_ERROR
    return run_command_line(business, options, prog=f"{prog} {target}")


def find_business_task(target: str) -> type:
    """The business mixin `MODULE:NAME` names: NAME itself, or the one its runnable class combines."""
    module_name, colon, name = target.partition(":")
    if not (colon and module_name and name):
        raise TargetError(f"{shown(target)} is not MODULE:NAME (for example mymodule:MyTask)")
    found = _attribute(_module(module_name), name, f"module {module_name}")
    if not isinstance(found, type):
        raise TargetError(
            f"{shown(target)} is not a class but {type(found).__name__}: name the business task"
        )
    business = _business_of(found, target) if Task in found.__mro__ else found
    if not callable(getattr(business, "execute", None)):
        raise TargetError(f"{shown(target)} is not a business task: it has no execute(self, params) method")
    try:
        runnable(business, LocalTask)  # what a runtime needs of it, checked as a class statement checks it
    except TypeError as error:
        raise TargetError(f"{shown(target)} is not a business task: {error}") from error
    return business


def find_handler(target: str) -> Callable[[object, object], object]:
    """The Lambda entry point `MODULE.FUNCTION` names, as Lambda's handler setting names it."""
    module_name, dot, name = target.rpartition(".")
    if not (dot and module_name and name):
        raise TargetError(f"--handler {shown(target)} is not MODULE.FUNCTION (for example mymodule.handler)")
    try:
        found = _attribute(_module(module_name), name, f"module {module_name}")
    except TargetError as error:
        raise TargetError(f"--handler {shown(target)}: {error}") from error
    if not callable(found):
        raise TargetError(f"--handler {shown(target)} is not a function but {type(found).__name__}")
    return found


def _module(name: str) -> object:
    """Import a module as Python imports it from the current directory."""
    here = os.getcwd()
    if "" not in sys.path and here not in sys.path:  # a console script's sys.path starts at its bin/
        sys.path.insert(0, here)
    try:
        return importlib.import_module(name)
    except BaseException as error:  # whatever its code raised, sys.exit() too, it cannot be imported
        why = shown(f"{type(error).__name__}: {error}", limit=300)
        raise TargetError(f"cannot import module {shown(name)}: {why}") from error


def _attribute(module: object, path: str, where: str) -> object:
    """`module`'s attribute at a dotted path (Outer.Inner works)."""
    found = module
    for part in path.split("."):
        try:
            found = getattr(found, part)
        except Exception:  # AttributeError, or what a module's own __getattr__ raises
            raise TargetError(f"{where} has no {shown(path)}") from None
    return found


def _business_of(runnable_class: type, target: str) -> type:
    """The business mixin a runnable class (LocalWidget) combines with its runtime (Widget)."""
    mixins = [base for base in runnable_class.__bases__ if Task not in base.__mro__]
    if len(mixins) != 1:
        raise TargetError(
            f"{shown(target)} is a runtime class without one business task: name the business task"
        )
    return mixins[0]
