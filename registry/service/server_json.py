"""``server.json`` for the official MCP Registry: how to launch a box's bundle as a stdio MCP server.

The document follows the MCP Registry's ``server.json`` schema (``SCHEMA_URL``, release 2025-12-11):
one ``pypi`` package, ``distillery``, run with ``uvx`` and the arguments ``mcp --bundle <file>`` over
stdio. The bundle path is a ``filepath`` argument whose default is the file named at export; the
publisher-provided ``_meta`` names the served tools and, when the bundle file exists, its payload
checksum, so a client can tell which box a listing describes.
"""

from __future__ import annotations

import re
from importlib import metadata
from typing import Any

from registry.errors import InvalidRequest
from registry.service.bundle_records import BundleContents

__all__ = ["SCHEMA_URL", "server_json"]

SCHEMA_URL = "https://static.modelcontextprotocol.io/schemas/2025-12-11/server.schema.json"
_NAME = re.compile(r"^[a-zA-Z0-9.-]+/[a-zA-Z0-9._-]+$")
_META = "io.modelcontextprotocol.registry/publisher-provided"
_SERVED = frozenset({"active", "deprecated"})


def _package_version() -> str:
    try:
        return metadata.version("distillery")
    except metadata.PackageNotFoundError:  # a source checkout that was never installed
        return "0.1.0"


def server_json(contents: BundleContents, *, name: str, bundle_file: str, version: str = "1.0.0",
                payload_sha256: str | None = None) -> dict[str, Any]:
    """The ``server.json`` document for serving the box ``contents`` from ``bundle_file``."""
    if not 3 <= len(name) <= 200 or not _NAME.match(name):
        raise InvalidRequest(f"server name {name!r} is not in reverse-DNS form with one slash, e.g. "
                             "'io.github.you/my-box' (letters, digits, '.', '-' before the slash; also '_' after it)")
    if not version or len(version) > 255 or version == "latest":
        raise InvalidRequest(f"server version {version!r} must be a specific version such as 1.0.0")
    tools = {t.id: f"{t.namespace}.{t.name}" for t in contents.tools}
    served = sorted({tools[v.tool_id] for v in contents.versions if v.status.value in _SERVED})
    description = f"A Distillery box of {len(served)} tested Python tool(s), served read-only over stdio."
    meta: dict[str, Any] = {"tool": "distillery", "tools": served}
    if payload_sha256 is not None:
        meta["bundle_payload_sha256"] = payload_sha256
    return {
        "$schema": SCHEMA_URL,
        "name": name,
        "title": "Distillery box",
        "description": description[:100],
        "version": version,
        "packages": [{
            "registryType": "pypi",
            "identifier": "distillery",
            "version": _package_version(),
            "runtimeHint": "uvx",
            "transport": {"type": "stdio"},
            "packageArguments": [
                {"type": "positional", "value": "mcp", "description": "The stdio MCP server command."},
                {"type": "named", "name": "--bundle", "format": "filepath", "isRequired": True,
                 "default": bundle_file,
                 "description": "The box to serve: a bundle written by 'distillery export'."},
            ],
        }],
        "_meta": {_META: meta},
    }
