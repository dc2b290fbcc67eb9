"""``distillery review list|approve|reject``: the review queue, working directly on the configured database.

Output is JSON on stdout like the other registry commands; errors are one red line and exit code 1.
"""

from __future__ import annotations

from typing import Annotated

import typer

from registry.cli_support import ReasonOpt, RefArg, ToolArg, cli_actor, registry_engine, split_qualified
from toolbox.cli_edge import cli_edge, emit_json

__all__ = ["review_app"]

review_app = typer.Typer(help="The review queue: drafts and flagged versions waiting for a curator.",
                         no_args_is_help=True, add_completion=False)


@review_app.command("list")
@cli_edge
def review_list(
    namespace: Annotated[str | None, typer.Option(help="Only this namespace.")] = None,
    flagged: Annotated[bool, typer.Option("--flagged", help="Only versions flagged at publish.")] = False,
    limit: Annotated[int, typer.Option(min=1, max=500, help="At most this many entries.")] = 100,
) -> None:
    """List the versions waiting for review, flagged first, with their poisoning findings."""
    from registry.service.review import review_queue

    with registry_engine() as engine:
        emit_json(review_queue(engine, namespace=namespace, flagged_only=flagged, limit=limit))


def _decide(action: str, tool: str, ref: str, reason: str) -> None:
    from registry.service.curation import Curator

    namespace, name = split_qualified(tool)
    with registry_engine() as engine:
        emit_json(getattr(Curator(engine), action)(namespace, name, ref, actor=cli_actor(), reason=reason))


@review_app.command("approve")
@cli_edge
def review_approve(tool: ToolArg, ref: RefArg, reason: ReasonOpt = "") -> None:
    """Approve a queued version: draft → active, served from now on (audited with its findings)."""
    _decide("approve", tool, ref, reason)


@review_app.command("reject")
@cli_edge
def review_reject(tool: ToolArg, ref: RefArg, reason: ReasonOpt = "") -> None:
    """Reject a queued version: draft → yanked, never served (audited with its findings)."""
    _decide("reject", tool, ref, reason)
