"""``distillery review list|approve|reject``: the review queue, working directly on the configured database.

Output is JSON on stdout like the other registry commands; errors are one red line and exit code 1.
"""

from __future__ import annotations

from typing import Annotated

import typer

from registry.cli import ReasonOpt, RefArg, ToolArg, _actor, _edge, _emit, _engine, _split

__all__ = ["review_app"]

review_app = typer.Typer(help="The review queue: drafts and flagged versions waiting for a curator.",
                         no_args_is_help=True, add_completion=False)


@review_app.command("list")
@_edge
def review_list(
    namespace: Annotated[str | None, typer.Option(help="Only this namespace.")] = None,
    flagged: Annotated[bool, typer.Option("--flagged", help="Only versions flagged at publish.")] = False,
    limit: Annotated[int, typer.Option(min=1, max=500, help="At most this many entries.")] = 100,
) -> None:
    """List the versions waiting for review, flagged first, with their poisoning findings."""
    from registry.service.review import review_queue

    with _engine() as engine:
        _emit(review_queue(engine, namespace=namespace, flagged_only=flagged, limit=limit))


def _decide(action: str, tool: str, ref: str, reason: str) -> None:
    from registry.service.curation import Curator

    namespace, name = _split(tool)
    with _engine() as engine:
        _emit(getattr(Curator(engine), action)(namespace, name, ref, actor=_actor(), reason=reason))


@review_app.command("approve")
@_edge
def review_approve(tool: ToolArg, ref: RefArg, reason: ReasonOpt = "") -> None:
    """Approve a queued version: draft → active, served from now on (audited with its findings)."""
    _decide("approve", tool, ref, reason)


@review_app.command("reject")
@_edge
def review_reject(tool: ToolArg, ref: RefArg, reason: ReasonOpt = "") -> None:
    """Reject a queued version: draft → yanked, never served (audited with its findings)."""
    _decide("reject", tool, ref, reason)
