"""Pre-flight checks: what `--check` reports, for one task or for every document of an array job."""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence

__all__ = ["CheckReport"]


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
