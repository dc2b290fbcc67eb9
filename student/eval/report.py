"""Report files: ``summary.json`` and ``summary.md`` per run, a comparison table, the comparison chart."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from student.eval.metrics import figures
from student.eval.results import EvalError, TaskResult

__all__ = ["SUMMARY_JSON", "SUMMARY_MD", "compare_chart", "comparison_table", "read_summary", "summarise",
           "write_comparison", "write_summary"]

SUMMARY_JSON = "summary.json"
SUMMARY_MD = "summary.md"
COMPARISON_MD = "comparison.md"
COMPARISON_JSON = "comparison.json"


def summarise(results: Sequence[TaskResult], settings: Mapping[str, Any],
              box_tools: Sequence[str] | None = None) -> dict[str, Any]:
    """The summary of one run: the overall figures, ``by_family`` (the same per family) and ``settings``."""
    families = sorted({r.family for r in results})
    summary = figures(results, box_tools)
    summary["system"] = results[0].system if results else settings.get("system")
    summary["by_family"] = {family: figures([r for r in results if r.family == family], box_tools)
                            for family in families}
    summary["settings"] = dict(settings)
    return summary


def _percent(value: float) -> str:
    return f"{100 * value:.1f}%"


def _row(name: str, figs: Mapping[str, Any]) -> str:
    low, high = figs["ci95"]
    reuse = "-" if figs.get("reuse_rate") is None else _percent(figs["reuse_rate"])
    return (f"| {name} | {figs['n']} | {figs['correct']} | {_percent(figs['accuracy'])} | "
            f"{_percent(low)}-{_percent(high)} | {figs['tokens_per_task']:.0f} | {figs['seconds_per_task']:.2f} | "
            f"{reuse} |")


TABLE_HEAD = ("| system | n | correct | accuracy | ci95 | tokens/task | s/task | reuse |\n"
              "|---|---:|---:|---:|---|---:|---:|---:|")


def _summary_md(summary: Mapping[str, Any]) -> str:
    lines = [f"# Evaluation: {summary.get('system') or 'run'}", "", TABLE_HEAD, _row("all", summary)]
    lines += [_row(family, figs) for family, figs in summary["by_family"].items()]
    lines += ["", "## Settings", "", "```json", json.dumps(summary["settings"], indent=2, default=str), "```", ""]
    return "\n".join(lines)


def write_summary(out_dir: Path, summary: Mapping[str, Any]) -> Path:
    """Write ``summary.json`` and ``summary.md`` into ``out_dir``; returns the JSON path."""
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / SUMMARY_JSON
    path.write_text(json.dumps(summary, indent=2, default=str) + "\n")
    (out_dir / SUMMARY_MD).write_text(_summary_md(summary))
    return path


def read_summary(run_dir: Path) -> dict[str, Any]:
    """The ``summary.json`` of a run folder (an ``EvalError`` that says so when there is none)."""
    path = run_dir / SUMMARY_JSON if run_dir.is_dir() else run_dir
    try:
        data: dict[str, Any] = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise EvalError(f"{path}: no readable summary ({exc}); pass a folder written by `distillery eval`") from exc
    return data


def comparison_table(summaries: Mapping[str, Mapping[str, Any]]) -> str:
    """One markdown table: a row per system overall, then one per system and family."""
    lines = [TABLE_HEAD, *(_row(name, s) for name, s in summaries.items())]
    families = sorted({f for s in summaries.values() for f in s.get("by_family", {})})
    if len(families) > 1:
        lines += ["", "By family:", "", TABLE_HEAD]
        lines += [_row(f"{name} / {family}", s["by_family"][family])
                  for family in families for name, s in summaries.items() if family in s.get("by_family", {})]
    return "\n".join(lines) + "\n"


def write_comparison(out_dir: Path, summaries: Mapping[str, Mapping[str, Any]],
                     extra: Mapping[str, Any] | None = None) -> Path:
    """Write ``comparison.md`` (the table, then ``extra`` such as the matched budget) and ``comparison.json``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    text = "# Comparison\n\n" + comparison_table(summaries)
    if extra:
        text += "\n```json\n" + json.dumps(dict(extra), indent=2, default=str) + "\n```\n"
    (out_dir / COMPARISON_MD).write_text(text)
    payload = {"systems": {name: {k: v for k, v in s.items() if k != "settings"} for name, s in summaries.items()},
               **(dict(extra) if extra else {})}
    (out_dir / COMPARISON_JSON).write_text(json.dumps(payload, indent=2, default=str) + "\n")
    return out_dir / COMPARISON_MD


def _label(run_dir: Path, summary: Mapping[str, Any]) -> str:
    system = summary.get("system") or run_dir.name
    return str(system) if system == run_dir.name else f"{system}\n({run_dir.name})"


def compare_chart(run_dirs: Sequence[Path], out_png: Path) -> Path:
    """A bar chart of accuracy per run with Wilson 95% whiskers, written as PNG (matplotlib Agg)."""
    if not run_dirs:
        raise EvalError("compare needs at least one run folder")
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot

    summaries = [read_summary(d) for d in run_dirs]
    labels = [_label(d, s) for d, s in zip(run_dirs, summaries, strict=True)]
    accuracy = [float(s["accuracy"]) for s in summaries]
    lower = [a - float(s["ci95"][0]) for a, s in zip(accuracy, summaries, strict=True)]
    upper = [float(s["ci95"][1]) - a for a, s in zip(accuracy, summaries, strict=True)]
    figure, axes = pyplot.subplots(figsize=(max(4.0, 1.6 * len(labels)), 4.0))
    try:
        axes.bar(range(len(labels)), accuracy, yerr=[lower, upper], capsize=6, color="#4C72B0")
        axes.set_xticks(range(len(labels)), labels, fontsize=8)
        axes.set_ylim(0, 1)
        axes.set_ylabel("accuracy (95% Wilson CI)")
        for i, s in enumerate(summaries):
            axes.annotate(f"n={s['n']}\n{float(s['tokens_per_task']):.0f} tok", (i, 0.02), ha="center", fontsize=7)
        figure.tight_layout()
        out_png.parent.mkdir(parents=True, exist_ok=True)
        figure.savefig(out_png, format="png", dpi=120)
    finally:
        pyplot.close(figure)
    return out_png
