"""``distillery report health``: the health report of the box, on the configured database.

A table for people by default, the whole report as JSON with ``--json``; errors are one red line
and exit code 1, like the other registry commands.
"""

from __future__ import annotations

import shlex
from typing import Annotated

import typer

from registry.cli_support import registry_engine
from registry.service.health_models import HealthReport, Suggestion, SuggestionKind
from toolbox.cli_edge import cli_edge, emit_json

__all__ = ["format_report", "report_app"]

report_app = typer.Typer(help="Reports on the box: its health from recorded usage.", no_args_is_help=True,
                         add_completion=False)


@report_app.callback()
def _reports() -> None:
    """Reports on the box (a group, so that ``report health`` stays a sub-command when more reports come)."""


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{100 * value:.1f}%"


def _ms(value: float | None) -> str:
    return "—" if value is None else f"{value:.1f}"


def _commands(suggestion: Suggestion) -> list[str]:
    """The ``distillery tools`` commands that do what ``suggestion`` does."""
    tool, reason = f"{suggestion.namespace}.{suggestion.name}", shlex.quote(suggestion.reason)
    if suggestion.kind == SuggestionKind.deprecate_unused:
        return [f"distillery tools deprecate {tool} {suggestion.ref} --reason {reason}"]
    replacement = suggestion.replacement or ""
    deprecate = f"distillery tools deprecate {tool} {suggestion.ref} --replacement {replacement} --reason {reason}"
    if suggestion.kind == SuggestionKind.deprecate_superseded:
        return [deprecate]
    previous = replacement.rpartition("@")[2]
    return [f"distillery tools restore {tool} {previous} --reason {reason}  # if it is not active", deprecate]


def format_report(report: HealthReport) -> str:
    """The report as text: totals, one line per version, then the findings with what to run."""
    totals = report.totals
    lines = [f"Health of the box, last {report.days} days ({report.window[0]} to {report.window[-1]}): "
             f"{totals.calls} calls, {_pct(totals.error_rate)} errors, p50 {_ms(totals.p50_ms)} ms, "
             f"p95 {_ms(totals.p95_ms)} ms, {_pct(totals.search_share)} reached via search_tools.", ""]
    if report.versions:
        lines.append(f"{'VERSION':<40} {'STATUS':<10} {'CALLS':>7} {'ERRORS':>7} {'P50 MS':>8} {'P95 MS':>8} "
                     f"{'VIA SEARCH':>10}  LAST CALL")
        for item in report.versions:
            last = item.last_called_at.strftime("%Y-%m-%d %H:%M") if item.last_called_at else "never"
            lines.append(f"{item.qualified:<40} {item.status.value:<10} {item.calls:>7} {_pct(item.error_rate):>7} "
                         f"{_ms(item.p50_ms):>8} {_ms(item.p95_ms):>8} {_pct(item.search_share):>10}  {last}")
    else:
        lines.append("No tools yet: publish one with 'distillery tools publish FILE --namespace NS'.")
    lines += ["", f"Findings: {len(report.findings)}" if report.findings else "Findings: none."]
    for finding in report.findings:
        lines.append(f"- [{finding.kind.value}] {finding.message}")
        if finding.suggestion is not None:
            lines.append(f"    suggested: {finding.suggestion.label} (one click on /ui/health, or run:)")
            lines += [f"      {command}" for command in _commands(finding.suggestion)]
    return "\n".join(lines)


@report_app.command("health")
@cli_edge
def health(
    days: Annotated[int, typer.Option(min=1, max=366, help="The last N UTC days, today included.")] = 30,
    as_json: Annotated[bool, typer.Option("--json", help="Print the whole report as JSON.")] = False,
    namespace: Annotated[list[str] | None, typer.Option(help="Only these namespaces (repeatable).")] = None,
) -> None:
    """Calls, error rate, p50/p95 latency, last call and the share reached via search per tool version, with
    findings (unused, superseded but still called, error rate jumped) and the curation each suggests."""
    from registry.service.health import health_report

    with registry_engine() as engine:
        report = health_report(engine, days=days, visible_namespaces=namespace or None)
    if as_json:
        emit_json(report)
    else:
        typer.echo(format_report(report))
