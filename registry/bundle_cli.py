"""``distillery export`` and ``distillery import``: the box as one portable bundle file, and back.

``export -o box.distillery`` writes the bundle (``--namespace``, ``--include-drafts``, ``--trajectories``);
``export --format server-json -o server.json`` writes the MCP Registry description of serving a bundle
with ``distillery mcp --bundle``. ``import box.distillery`` verifies, checks and restores a bundle in
one transaction. Results are JSON on stdout; a bad bundle is one red line and exit code 1, with
nothing written.
"""

from __future__ import annotations

import json
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from registry.cli_support import cli_actor, registry_engine
from toolbox.cli_edge import cli_edge, emit_json
from toolbox.settings import Settings

__all__ = ["export_app", "import_app"]

export_app = typer.Typer(help="Write the box as one portable bundle file.", invoke_without_command=True,
                         add_completion=False)
import_app = typer.Typer(help="Restore a bundle file into the registry.", invoke_without_command=True,
                         add_completion=False)


class ExportFormat(StrEnum):
    """What ``distillery export`` writes."""

    bundle = "bundle"
    server_json = "server-json"


@export_app.callback()
@cli_edge
def export(
    output: Annotated[Path, typer.Option("-o", "--output", dir_okay=False, help="The file to write.")],
    namespace: Annotated[str | None, typer.Option(help="Only this namespace.")] = None,
    include_drafts: Annotated[bool, typer.Option(help="Also the drafts waiting for review.")] = False,
    trajectories: Annotated[bool, typer.Option(help="Also the teacher trajectories.")] = False,
    output_format: Annotated[ExportFormat, typer.Option("--format", help="bundle, or server-json (MCP Registry).")]
    = ExportFormat.bundle,
    bundle_file: Annotated[str, typer.Option(help="server-json: the bundle the server is given.")] = "box.distillery",
    server_name: Annotated[str, typer.Option(help="server-json: reverse-DNS name, e.g. io.github.you/box.")]
    = "io.github.distillery/box",
    server_version: Annotated[str, typer.Option(help="server-json: this server's version.")] = "1.0.0",
) -> None:
    """Write the box as a bundle (every version, aliases, pins, audit log), or its server.json."""
    from registry.service.bundle_export import export_bundle

    settings = Settings()
    if output_format == ExportFormat.server_json:
        _write_server_json(output, bundle_file, server_name, server_version, namespace, settings)
        return
    with registry_engine(settings) as engine:
        bundle = export_bundle(engine, output, namespace=namespace, include_drafts=include_drafts,
                               trajectories=trajectories)
    box = json.loads(bundle.members["box.json"])
    emit_json({"path": str(output), "format_version": bundle.manifest["format_version"],
               "payload_sha256": bundle.payload_sha256, "counts": box["counts"]})


def _write_server_json(output: Path, bundle_file: str, name: str, version: str, namespace: str | None,
                       settings: Settings) -> None:
    """Describe serving ``bundle_file``: from the bundle itself when it exists, else from the database."""
    from registry.service.bundle_export import read_box
    from registry.service.bundle_import import BundleImporter
    from registry.service.server_json import server_json

    bundle = Path(bundle_file)
    with registry_engine(settings) as engine:
        if bundle.is_file():
            contents, payload_sha256 = BundleImporter(engine, settings).read(bundle)
        else:
            contents, payload_sha256 = read_box(engine, namespace=namespace), None
    document = server_json(contents, name=name, bundle_file=bundle_file, version=version,
                           payload_sha256=payload_sha256)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    emit_json({"path": str(output), "name": name, "tools": len(document["_meta"][
        "io.modelcontextprotocol.registry/publisher-provided"]["tools"]), "bundle_file": bundle_file})


@import_app.callback()
@cli_edge
def import_bundle(
    file: Annotated[Path, typer.Argument(dir_okay=False, help="A bundle written by 'distillery export'.")],
) -> None:
    """Verify a bundle and restore it: what is already here is kept (provenance merged), nothing duplicated."""
    from registry.service.bundle_import import BundleImporter

    settings = Settings()
    with registry_engine(settings) as engine:
        emit_json(BundleImporter(engine, settings).import_file(file, actor=cli_actor()))
