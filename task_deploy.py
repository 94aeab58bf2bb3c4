"""`python -m task_deploy`: what a task needs to run in AWS and on Kubernetes, from its declaration.

Two steps, as Chalice's `package` takes them: `plan()` decides what to deploy
(a `Deployment`: the task, its triggers, how each secret is delivered), then
one writer per format turns that into text (task_deploy_sam,
task_deploy_formats). `zip` builds the Lambda code (task_deploy_zip).
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import re
import sys
from pathlib import Path

from task import ConfigError, Parameters
from task_run import TargetError, find_business_task

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence

__all__ = [
    "DELIVERY_KINDS",
    "TRIGGERS",
    "WRITER_DELIVERIES",
    "Delivery",
    "Deployment",
    "load_task",
    "main",
    "parse_delivery",
    "plan",
]


#: The triggers `sam --trigger` takes, in the order the template lists them.
TRIGGERS = ("direct", "http", "url", "sqs", "sqs-fifo", "sns", "eventbridge", "kinesis", "dynamodb")

#: How a Secret parameter reaches the task: env:VAR, secret:ID[#KEY], ssm:NAME, file:PATH.
DELIVERY_KINDS = ("env", "secret", "ssm", "file")

#: The deliveries each writer can wire; any other is refused, naming the writer and the delivery.
WRITER_DELIVERIES = {
    "sam": ("env", "secret", "ssm"),
    "batch-job": ("env", "secret", "ssm"),
    "k8s-job": ("env", "file"),
}

#: Where the Kubernetes Job mounts its ConfigMap: the TinyDB file is CONFIG_DIR/tasks.json.
CONFIG_DIR = "/etc/task"
#: How many indices a Kubernetes Indexed Job may have here: the TinyDB runtime's range, 0 to 99,999.
MAX_COMPLETIONS = 100_000


# What each kind's id may hold: enough for real names and ARNs, nothing that could break out of
# a template string (`${`), a comma-separated allow-list or a YAML line.
_ID_PATTERNS = {
    "env": r"[A-Za-z_][A-Za-z0-9_]*",
    "secret": r"[A-Za-z0-9/_+=.@:-]{1,2048}",
    "ssm": r"[A-Za-z0-9/_.:-]{1,2048}",
    "file": r"/[A-Za-z0-9/_.@+-]{1,4095}",
}
_KEY_PATTERN = r"[A-Za-z0-9_.+=@-]{1,256}"
#: Top-level directories a secret's directory may not be mounted under: the image needs what is there.
_SYSTEM_DIRECTORIES = frozenset({"bin", "dev", "lib", "lib64", "proc", "sbin", "sys", "usr"})
#: Variables a secret may not be delivered as: the library's settings, AWS's and the platforms' own
#: (a password in TASK_CONFIG_DB would be logged as a path; AWS_* are reserved in Lambda).
_PLATFORM_PREFIXES = ("TASK_", "AWS_", "LAMBDA_", "PYTHON", "LD_", "JOB_", "CLOUD_RUN_", "_")
_PLATFORM_VARIABLES = frozenset({"PATH", "HOME", "LANG", "TZ"})
_DELIVERY_FORMS = "env:VAR, secret:ID[#KEY], ssm:NAME or file:/PATH"
_RUNTIME_PATTERN = r"python3\.\d{1,2}"


@dataclasses.dataclass(frozen=True)
class Delivery:
    """How one Secret parameter reaches the task: `kind` is one of DELIVERY_KINDS."""

    parameter: str
    kind: str
    id: str
    key: str | None = None

    @property
    def allowed_reference(self) -> str:
        """The entry of TASK_ENV_REFS (env) or TASK_SECRET_REFS (the others) that lets invokers use it."""
        return self.id if self.kind == "env" else f"{self.kind}:{self.id}"

    def __str__(self) -> str:
        key = f"#{self.key}" if self.key is not None else ""
        return f"{self.parameter}={self.kind}:{self.id}{key}"


@dataclasses.dataclass(frozen=True)
class Deployment:
    """What to deploy, decided from the task's declaration; the writers only format it."""

    #: `MODULE:NAME`, as `task-run` takes it.
    task: str
    #: The business mixin's class name, the base of every resource's logical id.
    class_name: str
    #: The task's `name`: its TinyDB key, the default prefix of its variables.
    name: str
    #: One per Secret parameter, in declared order.
    deliveries: tuple[Delivery, ...]
    triggers: tuple[str, ...] = ()
    handler: str = ""
    runtime: str = ""

    def delivered(self, *kinds: str) -> tuple[Delivery, ...]:
        """The deliveries of these kinds, in declared order."""
        return tuple(delivery for delivery in self.deliveries if delivery.kind in kinds)


def load_task(spec: str) -> type:
    """The business task `MODULE:NAME` names, found as task-run finds it (from the current directory)."""
    try:
        return find_business_task(spec)
    except TargetError as error:
        raise ConfigError(str(error)) from error


def parse_delivery(text: str) -> Delivery:
    """`PARAM=env:VAR | secret:ID[#KEY] | ssm:NAME | file:/PATH` as a Delivery; the form is checked here."""
    parameter, equals, rest = text.partition("=")
    kind, colon, target = rest.partition(":")
    ident, hash_sign, key = target.partition("#") if kind == "secret" else (target, "", "")
    problems = []
    if not (equals and colon and kind in DELIVERY_KINDS and parameter.isidentifier()):
        problems.append(f"expected PARAM={_DELIVERY_FORMS}")
    elif not re.fullmatch(_ID_PATTERNS[kind], ident) or (hash_sign and not re.fullmatch(_KEY_PATTERN, key)):
        problems.append(f"{kind}: {ident!r}{'#' + key if hash_sign else ''} is not a valid {kind} id")
    elif kind == "file" and (len(Path(ident).parts) < 4 or os.path.normpath(ident) != ident):
        problems.append(
            f"file: {ident!r} must be a normalised absolute path in a directory of its own, two levels "
            "below / at least (such as /run/secrets/NAME): the secret is mounted over that whole directory"
        )
    elif kind == "file" and Path(ident).parts[1] in _SYSTEM_DIRECTORIES:
        problems.append(f"file: {ident!r} is under /{Path(ident).parts[1]}, which the image's programs need")
    elif kind == "env" and (ident in _PLATFORM_VARIABLES or ident.startswith(_PLATFORM_PREFIXES)):
        problems.append(f"env: {ident} is the platform's or the library's own variable, not a secret's")
    if problems:
        raise ConfigError(f"--secret {text[:200]!r}", problems)
    return Delivery(parameter, kind, ident, key if hash_sign else None)


def plan(
    task: str,
    deliveries: Sequence[Delivery] = (),
    *,
    writer: str,
    triggers: Sequence[str] = (),
    handler: str = "",
    runtime: str = "",
) -> Deployment:
    """Decide what to deploy: how each Secret parameter is delivered (default env:NAME_PARAM).

    `writer` (a key of WRITER_DELIVERIES) must be able to wire every delivery.
    """
    business = load_task(task)
    params: type[Parameters] = business.parameters  # type: ignore[attr-defined]
    name: str = business.name  # type: ignore[attr-defined]
    given = {delivery.parameter: delivery for delivery in deliveries}
    twice = sorted(
        {d.parameter for d in deliveries if sum(e.parameter == d.parameter for e in deliveries) > 1}
    )
    problems = [f"{parameter}: given more than once" for parameter in twice]
    problems += [
        f"{parameter}: no such parameter of {business.__name__} (known: {', '.join(params.field_names())})"
        if parameter not in params.field_names()
        else f"{parameter}: {business.__name__}'s parameter {parameter} is not a Secret"
        for parameter in given
        if not params.is_secret(parameter)
    ]
    if problems:
        raise ConfigError("--secret", problems)
    chosen = tuple(
        given.get(parameter) or Delivery(parameter, "env", re.sub(r"\W", "_", f"{name}_{parameter}").upper())
        for parameter in params.field_names()
        if params.is_secret(parameter)
    )
    takes = ", ".join(f"{kind}:" for kind in WRITER_DELIVERIES[writer])
    refused = [
        f"cannot deliver {delivery} (it takes {takes})"
        for delivery in chosen
        if delivery.kind not in WRITER_DELIVERIES[writer]
    ]
    refused.extend(
        f"cannot deliver {delivery}: {CONFIG_DIR} holds the TinyDB file"
        for delivery in chosen
        if delivery.kind == "file" and os.path.dirname(delivery.id) == CONFIG_DIR
    )
    if refused:
        raise ConfigError(writer, refused)
    return Deployment(task, business.__name__, name, chosen, tuple(triggers), handler, runtime)


# --- The command line -------------------------------------------------------------------------


def _runtime(text: str) -> str:
    if not re.fullmatch(_RUNTIME_PATTERN, text):
        raise argparse.ArgumentTypeError(f"expected a runtime like python3.12, not {text[:40]!r}")
    return text


def _completions(text: str) -> int:
    if not (text.isdecimal() and 1 <= int(text) <= MAX_COMPLETIONS):
        raise argparse.ArgumentTypeError(f"expected a whole number from 1 to {MAX_COMPLETIONS:,}")
    return int(text)


def _parser() -> argparse.ArgumentParser:
    running = f"python{sys.version_info.major}.{sys.version_info.minor}"
    parser = argparse.ArgumentParser(
        prog="python -m task_deploy",
        description="Write what a task needs to run in AWS Lambda, AWS Batch and Kubernetes.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="{zip,sam,batch-job,k8s-job}")
    handler_help = "the Lambda entry point, e.g. assignment.handler"
    secret_help = f"how a Secret parameter is delivered: PARAM={_DELIVERY_FORMS} (default env:NAME_PARAM)"

    def command(name: str, help_text: str, *, task: bool = True) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=help_text, description=help_text)
        if task:
            sub.add_argument("task", metavar="MODULE:NAME", help="the business task, e.g. assignment:Widget")
        sub.add_argument("-o", "--output", type=Path, required=True, help="the file to write")
        return sub

    zip_command = command("zip", "the Lambda function's code", task=False)
    zip_command.add_argument(
        "--handler", required=True, type=_handler, metavar="MODULE.FUNCTION", help=handler_help
    )
    zip_command.add_argument(
        "--include",
        action="append",
        default=[],
        metavar="PATH",
        help="a file or directory to add (repeatable)",
    )
    zip_command.add_argument("--runtime", type=_runtime, default=running, help=f"default: {running}")
    sam = command("sam", "an AWS SAM template for the task's Lambda function and its triggers")
    sam.add_argument("--handler", required=True, type=_handler, metavar="MODULE.FUNCTION", help=handler_help)
    sam.add_argument(
        "--trigger",
        action="append",
        required=True,
        choices=TRIGGERS,
        metavar="T",
        help=f"one of {', '.join(TRIGGERS)} (repeatable)",
    )
    sam.add_argument("--runtime", type=_runtime, default=running, help=f"default: {running}")
    sam.add_argument("--code-uri", default="lambda.zip", help="the zip, relative to the template")
    batch = command("batch-job", "the AWS Batch RegisterJobDefinition input")
    batch.add_argument("--image", required=True)
    k8s = command("k8s-job", "a Kubernetes Indexed Job")
    k8s.add_argument("--image", required=True)
    k8s.add_argument("--completions", type=_completions, required=True, metavar="N")
    for sub in (sam, batch, k8s):
        sub.add_argument("--secret", action="append", default=[], type=_delivery, help=secret_help)
    return parser


def _handler(text: str) -> str:
    """--handler's value: dotted Python names, as Lambda's handler setting takes them (and nothing a
    template could read as more than that)."""
    if not re.fullmatch(r"[A-Za-z_]\w*(\.[A-Za-z_]\w*)+", text, flags=re.ASCII):
        raise argparse.ArgumentTypeError(
            f"expected MODULE.FUNCTION, such as assignment.handler, got {text[:200]!r}"
        )
    return text


def _delivery(text: str) -> Delivery:
    try:
        return parse_delivery(text)
    except ConfigError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def _write(args: argparse.Namespace) -> str:
    """Run one subcommand; what it says it wrote."""
    import task_deploy_formats
    import task_deploy_sam
    import task_deploy_zip

    if args.command == "zip":
        task_deploy_zip.check_runtime(args.runtime)
        names = task_deploy_zip.build_zip(args.output, args.handler, args.include)
        return f"{args.output}: {len(names)} files for {args.runtime}"
    deployment = plan(
        args.task,
        args.secret,
        writer=args.command,
        triggers=[trigger for trigger in TRIGGERS if trigger in getattr(args, "trigger", ())],
        handler=getattr(args, "handler", ""),
        runtime=getattr(args, "runtime", ""),
    )
    if args.command == "sam":
        text = task_deploy_sam.sam_template(deployment, code_uri=args.code_uri)
    elif args.command == "batch-job":
        text = task_deploy_formats.batch_job_definition(deployment, image=args.image)
    else:
        text = task_deploy_formats.k8s_job(deployment, image=args.image, completions=args.completions)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(text, encoding="utf-8")
    return f"{args.output}: {args.command} for {deployment.task}"


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m task_deploy COMMAND ...`: 0 when written, 2 (one line, nothing written) otherwise."""
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        print(_write(args))
    except (ConfigError, OSError) as error:
        parser.exit(2, f"{parser.prog} {args.command}: error: {error}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
