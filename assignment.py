"""The example business task, Widget, and its runnable forms for each runtime."""

from __future__ import annotations

import sys

from task import BatchTask, EnvTask, LambdaTask, LocalTask, Parameters, Secret, between
from task_lambda import handle_event

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence
    from typing import ClassVar

__all__ = [
    "BatchWidget",
    "EnvWidget",
    "LambdaWidget",
    "LocalWidget",
    "Widget",
    "WidgetParams",
    "handler",
    "main",
]


class WidgetParams(Parameters):
    """What Widget needs to reach its database."""

    host: str
    port: int = between(1, 65535, default=5432)
    database: str
    user: str
    password: Secret


class Widget:
    """Prepares the widget service's database connection; knows nothing of runtimes.

    Its logic is deliberately small and deterministic: it describes the
    connection it would open, so the result shows which parameters reached it.
    """

    #: The default TinyDB key; upper-cased plus "_", the environment prefix.
    name: ClassVar[str] = "widget"
    #: Set by the runtime class this mixin is combined with.
    runtime: ClassVar[str]

    #: The parameters Widget declares; run() validates against them.
    parameters: ClassVar[type[Parameters]] = WidgetParams

    def execute(self, params: WidgetParams) -> dict[str, object]:
        return {
            "runtime": self.runtime,
            **params.masked(),
            "connection": f"{params.user}@{params.host}:{params.port}/{params.database}",
        }


class LocalWidget(Widget, LocalTask):
    """Widget with its parameters in a JSON file."""


class BatchWidget(Widget, BatchTask):
    """Widget with its parameters in a TinyDB document, as an AWS Batch job."""


class LambdaWidget(Widget, LambdaTask):
    """Widget with its parameters in an AWS Lambda event."""


class EnvWidget(Widget, EnvTask):
    """Widget with its parameters in WIDGET_* environment variables."""


def handler(event: object, context: object = None) -> object:
    """The AWS Lambda entry point, `assignment.handler`: any trigger, one run per unit of work."""
    return handle_event(LambdaWidget, event, context)


def main(argv: Sequence[str] | None = None) -> int:
    """`python assignment.py`: run Widget locally, in AWS Batch, from the environment, or on an event."""
    from task_cli import run_command_line  # the command line's imports are no Lambda's business

    return run_command_line(Widget, argv, handler=handler)


if __name__ == "__main__":
    sys.exit(main())
