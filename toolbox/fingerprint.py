"""Behavioural fingerprints: what a tool returns on fixed probe inputs, hashed, whatever its names.

Two tools that compute the same thing under other names (``mean(values)`` and
``average(numbers)``) have different code hashes and may embed far apart, but they answer the
same on the same inputs. ``fingerprint`` derives probe inputs from the input schema alone, so
every tool with the same *shape* gets the same probes:

- parameters are taken **by position** (the schema's property order is the signature's order)
  and typed by their schema: the shape is e.g. ``(array<number>)`` or ``(integer, integer?)``
  (``?``: has a default); names never enter the shape or the probes;
- each type has a fixed vocabulary of values (integers ``0, 1, 2, 7, -3``; floats; short strings;
  booleans; lists of a few lengths built from the item type's values; objects built from their
  properties; enum members; ``None`` for nullable types), and probe *i* picks one value per
  parameter by counting through the combinations with a stride, so two-parameter tools see mixed
  pairs; at most ``MAX_PROBES`` probes;
- each probe runs in the sandbox with short limits; its outcome is the canonical JSON of the
  value (numbers rounded to 9 significant digits, ``2 == 2.0``) or the error's type.

The digest is the SHA-256 of the shape and the outcomes. The tool's own test inputs are not
probes: they differ between tools, so they could not give equal digests; the differential test
(``toolbox.differential``) runs both tools on both tools' tests to confirm a match.

A tool whose every probe fails (or that runs out of time twice) gets an *unmatchable* fingerprint: its
digest starts with ``UNMATCHABLE_PREFIX`` and is followed by a hash of its own source, so it equals
no other tool's, and ``Fingerprint.matchable`` is False (the registry stores no fingerprint then).
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel

from toolbox.logging import get_logger
from toolbox.sandbox.base import Limits, Sandbox
from toolbox.spec import ToolSpec

__all__ = [
    "MAX_PROBES",
    "PROBE_LIMITS",
    "UNMATCHABLE_PREFIX",
    "Fingerprint",
    "align_args",
    "fingerprint",
    "parameter_names",
    "probe_inputs",
    "probe_limits",
    "signature_shape",
]

_log = get_logger("fingerprint")
MAX_PROBES = 12
PROBE_LIMITS = Limits(timeout_s=2.0, cpu_s=2)
"""Limits of one probe call when the caller gives none: probes are tiny inputs."""
UNMATCHABLE_PREFIX = "unmatchable:"
_MAX_TIMEOUTS = 2
_VOCABULARY: dict[str, list[Any]] = {
    "integer": [0, 1, 2, 7, -3],
    "number": [1.5, 0.0, -2.25, 3.0, 10.0],
    "string": ["hello", "", "a", "Hello World", "2024-03-15"],
    "boolean": [True, False],
    "null": [None],
}
_LIST_LENGTHS = (3, 1, 0, 4, 2)
_STRIDES = (7, 11, 13, 17, 19, 23, 29, 31, 37, 41, 43, 47, 1)


class Fingerprint(BaseModel):
    """A tool's behavioural fingerprint: ``digest`` of its outcomes on ``probes`` inputs of ``shape``."""

    digest: str
    shape: str
    probes: int

    @property
    def matchable(self) -> bool:
        """False when no probe succeeded: such a fingerprint equals no other tool's."""
        return not self.digest.startswith(UNMATCHABLE_PREFIX)


def _type_name(schema: dict[str, Any]) -> str:
    if "enum" in schema:
        return "enum[" + ",".join(json.dumps(v, sort_keys=True) for v in schema["enum"]) + "]"
    if "anyOf" in schema:
        return "|".join(_type_name(member) for member in schema["anyOf"])
    kind = schema.get("type")
    if kind == "array":
        if "prefixItems" in schema:
            return "tuple<" + ",".join(_type_name(item) for item in schema["prefixItems"]) + ">"
        return f"array<{_type_name(schema.get('items') or {})}>"
    if kind == "object":
        properties = schema.get("properties")
        if properties:
            return "object{" + ",".join(f"{k}:{_type_name(v)}" for k, v in properties.items()) + "}"
        extra = schema.get("additionalProperties")
        return f"map<{_type_name(extra)}>" if isinstance(extra, dict) else "object"
    return str(kind) if isinstance(kind, str) else "any"


def parameter_names(input_schema: dict[str, Any]) -> list[str]:
    """The entrypoint's parameter names in signature order."""
    return list((input_schema.get("properties") or {}).keys())


def signature_shape(input_schema: dict[str, Any]) -> str:
    """The parameters' types by position, without names: ``(array<number>, integer?)``."""
    properties: dict[str, Any] = input_schema.get("properties") or {}
    required = set(input_schema.get("required") or [])
    types = [_type_name(schema) + ("" if name in required else "?") for name, schema in properties.items()]
    return "(" + ", ".join(types) + ")"


def _within(size: float, schema: dict[str, Any], low: str, high: str) -> bool:
    return bool(schema.get(low, -math.inf) <= size <= schema.get(high, math.inf))


def _fits(value: Any, schema: dict[str, Any]) -> bool:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return _within(value, schema, "minimum", "maximum")
    if isinstance(value, str):
        return _within(len(value), schema, "minLength", "maxLength")
    if isinstance(value, list):
        return _within(len(value), schema, "minItems", "maxItems")
    return True


def _values(schema: dict[str, Any], depth: int = 0) -> list[Any]:
    """A fixed, short list of values of ``schema``'s type (the first is the most ordinary)."""
    if "enum" in schema:
        return list(schema["enum"])
    if "anyOf" in schema:
        members = [m for m in schema["anyOf"] if m.get("type") != "null"]
        values = [v for member in members for v in _values(member, depth)][:5]
        return [*values, None] if len(members) < len(schema["anyOf"]) else values
    kind = schema.get("type")
    candidates: list[Any]
    if kind == "array" and depth < 2:
        if "prefixItems" in schema:
            columns = [_values(item, depth + 1) for item in schema["prefixItems"]]
            return [[column[(i + k) % len(column)] for k, column in enumerate(columns)] for i in range(3)]
        elements = _values(schema.get("items") or {}, depth + 1) or [1]
        candidates = [[elements[(start + i) % len(elements)] for i in range(length)]
                      for start, length in enumerate(_LIST_LENGTHS)]
    elif kind == "object" and depth < 2:
        properties: dict[str, Any] = schema.get("properties") or {}
        if properties:
            fields = {name: _values(sub, depth + 1) for name, sub in properties.items()}
            return [{name: column[i % len(column)] for name, column in fields.items()} for i in range(3)]
        extra = schema.get("additionalProperties")
        items = _values(extra, depth + 1) if isinstance(extra, dict) else [1, "a"]
        candidates = [{"a": items[0], "b": items[1 % len(items)]}, {}, {"x": items[-1]}]
    elif isinstance(kind, str) and kind in _VOCABULARY:
        candidates = list(_VOCABULARY[kind])
    else:  # no type information: a little of everything
        candidates = [1, "a", [1, 2], None, 2.5]
    fitting = [value for value in candidates if _fits(value, schema)]
    return fitting or candidates


def probe_inputs(input_schema: dict[str, Any], max_probes: int = MAX_PROBES) -> list[list[Any]]:
    """Probe inputs as positional value lists; the same for every schema of the same shape."""
    properties: dict[str, Any] = input_schema.get("properties") or {}
    columns = [_values(schema) for schema in properties.values()]
    if not columns:
        return [[]]
    total = math.prod(len(column) for column in columns)
    count = min(total, max_probes)
    stride = next(s for s in _STRIDES if math.gcd(s, total) == 1)
    probes = []
    for i in range(count):
        index, probe = (i * stride) % total, []
        for column in columns:  # mixed-radix digits of ``index``
            index, digit = divmod(index, len(column))
            probe.append(column[digit])
        probes.append(probe)
    return probes


def align_args(values: Sequence[Any], input_schema: dict[str, Any]) -> dict[str, Any]:
    """Positional ``values`` as keyword arguments of the tool with ``input_schema``."""
    return dict(zip(parameter_names(input_schema), values, strict=False))


def probe_limits(base: Limits) -> Limits:
    """``base`` with the wall-clock and CPU time cut to those of ``PROBE_LIMITS`` (probes are tiny)."""
    return base.model_copy(update={"timeout_s": min(base.timeout_s, PROBE_LIMITS.timeout_s),
                                   "cpu_s": min(base.cpu_s, PROBE_LIMITS.cpu_s)})


def _canonical(value: Any) -> Any:
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, int | float):
        if isinstance(value, float) and not math.isfinite(value):
            return repr(value)
        return float(f"{value:.9g}")
    if isinstance(value, list | tuple):
        return [_canonical(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _canonical(v) for k, v in value.items()}
    return repr(value)


def fingerprint(sandbox: Sandbox, spec: ToolSpec, limits: Limits | None = None) -> Fingerprint:
    """Run ``spec`` on the probe inputs of its input schema and hash the outcomes (see the module docstring)."""
    shape = signature_shape(spec.input_schema)
    outcomes: list[Any] = []
    succeeded = timeouts = 0
    for values in probe_inputs(spec.input_schema):
        result = sandbox.run(spec, align_args(values, spec.input_schema), limits or PROBE_LIMITS)
        if result.ok:
            succeeded += 1
            outcomes.append({"value": _canonical(result.value)})
            continue
        kind = result.error.type if result.error else "Unknown"
        outcomes.append({"error": kind})
        if kind in {"Timeout", "CPULimit"}:
            timeouts += 1
            if timeouts >= _MAX_TIMEOUTS:
                break
    if succeeded == 0 or timeouts >= _MAX_TIMEOUTS:
        own = hashlib.sha256(f"{spec.entrypoint}\0{spec.source}".encode()).hexdigest()[:48]
        _log.debug("%s: no probe answered (%d run); unmatchable fingerprint", spec.qualified_name, len(outcomes))
        return Fingerprint(digest=UNMATCHABLE_PREFIX + own, shape=shape, probes=len(outcomes))
    canonical = json.dumps({"shape": shape, "outcomes": outcomes}, sort_keys=True, separators=(",", ":"))
    digest = hashlib.sha256(canonical.encode()).hexdigest()
    _log.debug("%s: fingerprint %s over %d probes (%d answered)", spec.qualified_name, digest[:12], len(outcomes),
               succeeded)
    return Fingerprint(digest=digest, shape=shape, probes=len(outcomes))
