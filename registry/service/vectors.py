"""Tool vectors shared by publishing, near-duplicate detection and search.

What text a tool is embedded from, how its vector is stored in ``ToolVersion.embedding``, and a
single-threaded matrix-vector product for scoring.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import numpy as np
from numpy.typing import NDArray

from toolbox.spec import ToolSpec

__all__ = ["decode_vector", "embedding_text", "encode_vector", "matvec", "parameter_docs"]

_SPLIT = re.compile(r"[_\W]+")


def parameter_docs(input_schema: Mapping[str, Any] | None) -> list[tuple[str, str]]:
    """``(name, description)`` of each top-level parameter in a JSON schema (description may be empty)."""
    if not input_schema:
        return []
    properties = input_schema.get("properties")
    if not isinstance(properties, Mapping):
        return []
    out = []
    for name, schema in properties.items():
        doc = schema.get("description", "") if isinstance(schema, Mapping) else ""
        out.append((str(name), doc if isinstance(doc, str) else ""))
    return out


def embedding_text(spec_or_name: ToolSpec | str, description: str = "",
                   input_schema: Mapping[str, Any] | None = None) -> str:
    """The text a tool is embedded from: name words, description and parameter docs.

    Call with a ``ToolSpec`` or with ``(name, description, input_schema)``; both give the same text,
    so vectors stored at publish time match what the index would compute.
    """
    if isinstance(spec_or_name, ToolSpec):
        name, description, input_schema = spec_or_name.name, spec_or_name.description, spec_or_name.input_schema
    else:
        name = spec_or_name
    parts = [" ".join(w for w in _SPLIT.split(name) if w)]
    if description.strip():
        parts.append(description.strip())
    params = [" ".join(w for w in _SPLIT.split(p) if w) + (f" ({doc.strip()})" if doc.strip() else "")
              for p, doc in parameter_docs(input_schema)]
    if params:
        parts.append("Parameters: " + "; ".join(params))
    return ". ".join(parts)


def matvec(matrix: NDArray[np.float32], vector: NDArray[np.float32]) -> NDArray[np.float32]:
    """``matrix @ vector`` on the calling thread.

    ``@`` hands anything above ~9k elements to multithreaded OpenBLAS, whose worker threads keep
    spinning after the call: on a small shared machine that burns a core and made a 10k-tool
    search 4x slower in CPU time than numpy's own single-threaded loop used here.
    """
    result: NDArray[np.float32] = np.einsum("ij,j->i", matrix, vector)
    return result


def encode_vector(vector: NDArray[Any]) -> bytes:
    """A 1-D vector as little-endian float32 bytes (what ``ToolVersion.embedding`` stores)."""
    array = np.asarray(vector, dtype="<f4")
    if array.ndim != 1:
        raise ValueError(f"expected a 1-D vector, got shape {array.shape}")
    return array.tobytes()


def decode_vector(blob: bytes, dimensions: int | None = None) -> NDArray[np.float32]:
    """The float32 vector stored by ``encode_vector``; ``dimensions``, when given, must match."""
    if len(blob) % 4:
        raise ValueError(f"an embedding blob has a multiple of 4 bytes, got {len(blob)}")
    vector = np.frombuffer(blob, dtype="<f4").astype(np.float32)
    if dimensions is not None and vector.shape[0] != dimensions:
        raise ValueError(f"expected a {dimensions}-dimensional vector, got {vector.shape[0]}")
    return vector
