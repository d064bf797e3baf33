"""A finding: a diagnostic code with a message in plain words (what, why, what to try), and the
config changes that fix it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

SEVERITY = {
    "labels_out_of_range": "error",
    "non_finite_loss": "error",
    "loss_not_decreasing": "warning",
    "loss_diverging": "warning",
    "prediction_collapse": "warning",
    "no_better_than_baseline": "warning",
    "overfitting": "warning",
    "probabilities_into_logits_loss": "warning",
    "class_imbalance": "info",
    "unscaled_inputs": "warning",
    "exploding_gradients": "warning",
    "vanishing_gradients": "warning",
    "train_eval_overlap": "warning",
}

# One fix: config keys and the values to give them, applied together ({} never occurs).
Fix = dict[str, Any]
# Turns a finding's fixes into override strings valid for the run's config, and the command.
Advisor = Callable[[list[Fix]], tuple[list[str], str | None]]


@dataclass
class Finding:
    """One diagnosis. `seen` says what was measured (with numbers), `why` why it matters,
    `advice` what to do in words; `fixes` are the config changes that cure it, best first, and
    `no_fix` says why no config change can when there are none."""

    code: str
    seen: str
    why: str = ""
    advice: str = ""
    epoch: int | None = None
    fixes: list[Fix] = field(default_factory=list)
    no_fix: str = ""
    # filled by `advise`: the fixes as overrides valid for this run's config, and its command
    tries: list[str] | None = None
    command: str | None = None
    verbatim: bool = False  # `seen` is the whole message (a finding read back from a checkpoint)

    @property
    def severity(self) -> str:
        return SEVERITY[self.code]

    @property
    def message(self) -> str:
        if self.verbatim:  # restored from a checkpoint: its words as they were written
            return self.seen
        tries = self.try_list()
        parts = [self.seen, self.why]
        if tries:
            parts.append("Try: " + "; or ".join(f"`{t}`" for t in tries) + ".")
        elif self.no_fix:
            parts.append(f"No config setting fixes this: {self.no_fix}")
        elif self.fixes:  # the usual fixes do not fit this run's config
            usual = "; ".join(f"`{render(f)}`" for f in self.fixes)
            parts.append(f"The usual fixes ({usual}) do not apply to this run's config.")
        if self.advice:
            parts.append(self.advice)
        return " ".join(p.strip() for p in parts if p)

    def try_list(self) -> list[str]:
        """The fixes as overrides: checked for this run when advised, else as plain text."""
        return self.tries if self.tries is not None else [render(f) for f in self.fixes]

    def advise(self, advisor: Advisor | None) -> None:
        """Resolve the fixes into overrides and a command for this run (once)."""
        if self.tries is not None or advisor is None:
            return
        self.tries, self.command = advisor(self.fixes)

    def to_dict(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "severity": self.severity,
            "epoch": self.epoch,
            "message": self.message,
            "try": self.try_list(),
            "command": self.command,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Finding:
        """A finding saved by `to_dict` (in a checkpoint): its words as they were."""
        return cls(
            data["code"],
            data.get("message", ""),
            epoch=data.get("epoch"),
            tries=list(data.get("try") or []),
            command=data.get("command"),
            verbatim=True,
        )


def finding(
    code: str,
    seen: str,
    why: str,
    advice: str = "",
    fixes: list[Fix] | None = None,
    no_fix: str = "",
    epoch: int | None = None,
) -> Finding:
    """A finding from its parts (see `Finding`)."""
    return Finding(code, seen, why, advice, epoch, list(fixes or []), no_fix)


def render(fix: Fix) -> str:
    """A fix as plain overrides, without knowing the run's config: `key=value ...`."""
    return " ".join(f"{key}={value_text(value)}" for key, value in fix.items())


def value_text(value: Any) -> str:
    """A value as a Hydra override writes it."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return fmt(value)
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(value_text(v) for v in value) + "]"
    return str(value)


def fmt(value: float) -> str:
    """A number as people read it (and as an override takes it): 4 significant digits."""
    return f"{value:.4g}"


def print_findings(findings: list[Finding]) -> None:
    """The doctor's findings on the console, most severe first, each with its command."""
    from rich.console import Console
    from rich.markup import escape

    console = Console()
    if not findings:
        console.print("[green]Training doctor: no findings.[/green]")
        return
    order = {"error": 0, "warning": 1, "info": 2}
    colour = {"error": "red", "warning": "yellow", "info": "cyan"}
    console.print("[bold]Training doctor:[/bold]")
    shown: set[str] = set()
    for f in sorted(findings, key=lambda f: order[f.severity]):
        # the words carry paths and overrides ([a,b]): never read as markup
        console.print(
            f"[{colour[f.severity]}]{f.severity} {f.code}[/]: {escape(f.message)}",
            highlight=False,
        )
        if f.command in shown:  # findings of one cause share their fix
            console.print("  run: the command above", highlight=False)
        elif f.command:
            console.print(f"  run: {f.command}", highlight=False, soft_wrap=True, markup=False)
            shown.add(f.command)
