"""The bundle file format: a zip of canonical JSON members and a manifest of their sha256s (no database).

A bundle (``distillery export``) is a zip archive holding ``manifest.json`` and the payload members
(``tools.json``, ``versions.json``, ... — see ``registry.service.bundle_records``)::

    {"format": "distillery-bundle", "format_version": 1, "exported_at": "...Z",
     "members": [{"path": "aliases.json", "sha256": "...", "bytes": 123}, ...],
     "payload_sha256": "<sha256 of the canonical JSON of that members list>"}

Members are canonical JSON (sorted keys, no whitespace, UTF-8) written in sorted order with a fixed
timestamp, so the same box always gives the same payload bytes and the same ``payload_sha256``;
only ``exported_at`` in the manifest differs between two exports. ``read_bundle`` trusts nothing:
it refuses a file that is not a zip, is truncated, is too big (on disk or unpacked: each member is
read with a bound, whatever its header claims), has an unknown format or version, has a member
that is missing, unexpected, repeated or whose path is not a plain allowed name, or whose bytes do
not match the manifest — each with a ``BundleError`` that says what was wrong. Nothing is ever
extracted to disk.
"""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from registry.errors import InvalidRequest

__all__ = [
    "FORMAT",
    "FORMAT_VERSION",
    "MANIFEST",
    "MAX_BUNDLE_BYTES",
    "BundleError",
    "BundleFile",
    "canonical_json",
    "read_bundle",
    "write_bundle",
]

FORMAT = "distillery-bundle"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
MAX_BUNDLE_BYTES = 512 * 1024 * 1024
"""Default limit on a bundle's size, on disk and unpacked (all members together)."""
_MAX_MANIFEST_BYTES = 1024 * 1024
_FIXED_TIME = (1980, 1, 1, 0, 0, 0)


class BundleError(InvalidRequest):
    """A bundle that cannot be read or trusted (corrupt, truncated, tampered, too big, another format).

    Raised before anything is written: an import that meets one changes nothing.
    """

    title = "Invalid bundle"


def canonical_json(value: Any) -> bytes:
    """``value`` as canonical JSON bytes: sorted keys, no insignificant whitespace, UTF-8, no NaN."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      allow_nan=False).encode("utf-8")


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _entries(members: Mapping[str, bytes]) -> list[dict[str, Any]]:
    return [{"path": path, "sha256": _sha256(members[path]), "bytes": len(members[path])} for path in sorted(members)]


@dataclass(frozen=True)
class BundleFile:
    """A verified bundle: its manifest and the bytes of every payload member."""

    manifest: dict[str, Any]
    members: dict[str, bytes]

    @property
    def payload_sha256(self) -> str:
        """The checksum of the whole payload (what two equal boxes share)."""
        return str(self.manifest["payload_sha256"])

    def json_member(self, path: str) -> Any:
        """Member ``path`` parsed as JSON (a ``BundleError`` when it is not valid JSON)."""
        try:
            return json.loads(self.members[path].decode("utf-8"))
        except KeyError:
            raise BundleError(f"the bundle has no member {path}; export it again") from None
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise BundleError(f"bundle member {path} is not valid UTF-8 JSON ({exc}); the file is corrupt") from None


def write_bundle(path: Path, members: Mapping[str, Any], *, exported_at: datetime | None = None) -> BundleFile:
    """Write ``members`` (name → JSON value) and their manifest to ``path`` atomically; returns what was written."""
    payload = {name: canonical_json(value) for name, value in members.items()}
    if MANIFEST in payload:
        raise ValueError(f"{MANIFEST} is the manifest's own name, not a payload member")
    entries = _entries(payload)
    moment = (exported_at or datetime.now(UTC)).astimezone(UTC)
    manifest = {"format": FORMAT, "format_version": FORMAT_VERSION,
                "exported_at": moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
                "members": entries, "payload_sha256": _sha256(canonical_json(entries))}
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, data in [(MANIFEST, canonical_json(manifest)), *sorted(payload.items())]:
            info = zipfile.ZipInfo(name, date_time=_FIXED_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o100644 << 16
            archive.writestr(info, data)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.partial")
    partial.write_bytes(buffer.getvalue())
    partial.replace(path)
    return BundleFile(manifest=manifest, members=payload)


def read_bundle(path: Path, *, allowed_members: frozenset[str], required_members: frozenset[str],
                max_bytes: int = MAX_BUNDLE_BYTES) -> BundleFile:
    """Read and verify the bundle at ``path``; every problem is a ``BundleError`` naming it."""
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise BundleError(f"cannot read bundle {path}: {exc.strerror or exc}") from None
    if size > max_bytes:
        raise BundleError(f"bundle {path} is {size} bytes; the limit is {max_bytes} bytes")
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise BundleError(f"{path} is not a bundle (not a zip archive, or truncated: {exc})") from None
    with archive:
        infos = archive.infolist()
        names = [info.filename for info in infos]
        repeated = sorted({name for name in names if names.count(name) > 1})
        if repeated:
            raise BundleError(f"bundle {path} holds {', '.join(repeated)} more than once; it was tampered with")
        _check_names(names, allowed_members | {MANIFEST}, path)
        if MANIFEST not in names:
            raise BundleError(f"bundle {path} has no {MANIFEST}; it is not a Distillery bundle or is truncated")
        budget = _Budget(max_bytes, path)
        manifest = _manifest(_read(archive, MANIFEST, min(_MAX_MANIFEST_BYTES, max_bytes), budget), path)
        listed = {entry["path"]: entry for entry in manifest["members"]}
        _check_names(list(listed), allowed_members, path)
        missing = sorted((required_members | set(listed)) - set(names))
        if missing:
            raise BundleError(f"bundle {path} lacks member(s) {', '.join(missing)}; the file is truncated or "
                              "was tampered with")
        unlisted = sorted(set(names) - set(listed) - {MANIFEST}) or sorted(required_members - set(listed))
        if unlisted:
            raise BundleError(f"bundle {path}: member(s) {', '.join(unlisted)} are not in its manifest; "
                              "it was tampered with")
        members: dict[str, bytes] = {}
        for name, entry in sorted(listed.items()):
            data = _read(archive, name, int(entry["bytes"]), budget)
            if len(data) != entry["bytes"] or _sha256(data) != entry["sha256"]:
                raise BundleError(f"bundle {path}: member {name} does not match its checksum in the manifest; "
                                  "the file is corrupt or was tampered with")
            members[name] = data
    if _sha256(canonical_json(_entries(members))) != manifest["payload_sha256"]:
        raise BundleError(f"bundle {path}: the payload checksum does not match the manifest; it was tampered with")
    return BundleFile(manifest=manifest, members=members)


def _check_names(names: list[str], allowed: frozenset[str], path: Path) -> None:
    """Refuse a member path that could escape (absolute, ``..``, a separator) or that no bundle holds."""
    escaping = [name for name in names if name.startswith(("/", "\\")) or ".." in name or "\\" in name
                or "\0" in name or ":" in name]
    if escaping:
        raise BundleError(f"bundle {path} names member path {escaping[0]!r}, which escapes the bundle; "
                          "it was tampered with")
    unexpected = sorted(set(names) - allowed)
    if unexpected:
        raise BundleError(f"bundle {path} holds unexpected member(s) {', '.join(map(repr, unexpected[:5]))}; "
                          f"a bundle holds only {', '.join(sorted(allowed))}")


class _Budget:
    """How many unpacked bytes a bundle may still use."""

    def __init__(self, limit: int, path: Path) -> None:
        self.left = limit
        self.limit = limit
        self.path = path

    def take(self, count: int) -> None:
        self.left -= count
        if self.left < 0:
            raise BundleError(f"bundle {self.path} unpacks to more than {self.limit} bytes; refusing it")


def _read(archive: zipfile.ZipFile, name: str, expected: int, budget: _Budget) -> bytes:
    """Member ``name``, read with a bound: never more than ``expected`` + 1 bytes or the budget left."""
    bound = min(expected, budget.left) + 1
    try:
        with archive.open(name) as member:
            data = member.read(bound)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError, ValueError, NotImplementedError) as exc:
        raise BundleError(f"bundle member {name} cannot be unpacked ({exc}); the file is corrupt") from None
    budget.take(len(data))
    return data


def _manifest(data: bytes, path: Path) -> dict[str, Any]:
    """The parsed manifest, with its format and shape checked."""
    try:
        manifest = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BundleError(f"bundle {path}: {MANIFEST} is not valid JSON ({exc}); the file is corrupt") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise BundleError(f"{path} is not a Distillery bundle ({MANIFEST} does not say format {FORMAT!r})")
    version = manifest.get("format_version")
    if version != FORMAT_VERSION:
        raise BundleError(f"bundle {path} has format version {version!r}; this Distillery reads version "
                          f"{FORMAT_VERSION} only (export it again with this version, or upgrade Distillery)")
    listed = manifest.get("members")
    entries: list[Any] = listed if isinstance(listed, list) else []
    valid = isinstance(listed, list) and all(
        isinstance(e, dict) and set(e) == {"path", "sha256", "bytes"} and isinstance(e["path"], str)
        and isinstance(e["sha256"], str) and isinstance(e["bytes"], int) and not isinstance(e["bytes"], bool)
        and e["bytes"] >= 0 for e in entries)
    if not valid or not isinstance(manifest.get("payload_sha256"), str):
        raise BundleError(f"bundle {path}: {MANIFEST} does not list its members as {{path, sha256, bytes}} with a "
                          "payload_sha256; the file is corrupt")
    paths = [entry["path"] for entry in entries]
    if len(set(paths)) != len(paths) or MANIFEST in paths:
        raise BundleError(f"bundle {path}: {MANIFEST} lists a member twice; it was tampered with")
    return manifest
