"""The content identity of a tool version: code, entrypoint and schemas, without prose."""

from __future__ import annotations

import hashlib
import json

from toolbox.analysis.normalize import normalized_hash
from toolbox.analysis.prose import strip_schema_prose
from toolbox.spec import ToolSpec

__all__ = ["version_hash"]


def version_hash(spec: ToolSpec) -> str:
    """Content identity of a version: normalised code, entrypoint and schemas (text stripped)."""
    identity = {
        "code": normalized_hash(spec.source, spec.entrypoint),
        "entrypoint": spec.entrypoint,
        "input_schema": strip_schema_prose(spec.input_schema),
        "output_schema": strip_schema_prose(spec.output_schema),
    }
    canonical = json.dumps(identity, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    return hashlib.sha256(canonical.encode()).hexdigest()
