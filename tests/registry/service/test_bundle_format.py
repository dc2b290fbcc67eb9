"""The bundle file format: deterministic payloads, and a clear refusal of every corrupt or hostile file."""

from __future__ import annotations

import hashlib
import json
import warnings
import zipfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from registry.errors import InvalidRequest
from registry.service.bundle_format import (
    FORMAT,
    MANIFEST,
    BundleError,
    canonical_json,
    read_bundle,
    write_bundle,
)

ALLOWED = frozenset({"a.json", "b.json", "c.json"})
REQUIRED = frozenset({"a.json", "b.json"})
MEMBERS: dict[str, Any] = {"b.json": [{"z": 1, "a": "é"}], "a.json": {"k": [1, 2, 3]}}


def read(path: Path, **kwargs: Any) -> Any:
    """``read_bundle`` with this module's member rules."""
    return read_bundle(path, allowed_members=ALLOWED, required_members=REQUIRED, **kwargs)


def raw_zip(path: Path, entries: list[tuple[str, bytes]]) -> Path:
    """A zip holding exactly ``entries`` (repeats allowed), as a hostile writer would make it."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # zipfile warns about a repeated name; that is the point here
        with zipfile.ZipFile(path, "w") as archive:
            for name, data in entries:
                archive.writestr(name, data, compress_type=zipfile.ZIP_DEFLATED)
    return path


def manifest_of(payload: dict[str, bytes], **overrides: Any) -> bytes:
    """A manifest that correctly describes ``payload`` unless ``overrides`` say otherwise."""
    entries = [{"path": name, "sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)}
               for name, data in sorted(payload.items())]
    manifest = {"format": FORMAT, "format_version": 1, "exported_at": "2025-01-01T00:00:00.000000Z",
                "members": entries, "payload_sha256": hashlib.sha256(canonical_json(entries)).hexdigest()}
    return canonical_json({**manifest, **overrides})


def good_members() -> dict[str, bytes]:
    """The payload bytes of ``MEMBERS``."""
    return {name: canonical_json(value) for name, value in MEMBERS.items()}


def test_round_trip_is_deterministic_and_only_the_export_time_differs(tmp_path: Path) -> None:
    first = write_bundle(tmp_path / "one.distillery", MEMBERS, exported_at=datetime(2025, 1, 1, tzinfo=UTC))
    second = write_bundle(tmp_path / "two.distillery", dict(reversed(MEMBERS.items())),
                          exported_at=datetime(2026, 6, 1, tzinfo=UTC))
    assert first.members == second.members and first.payload_sha256 == second.payload_sha256
    assert {k: v for k, v in first.manifest.items() if k != "exported_at"} == \
           {k: v for k, v in second.manifest.items() if k != "exported_at"}
    loaded = read(tmp_path / "one.distillery")
    assert loaded.members == first.members and loaded.json_member("b.json") == MEMBERS["b.json"]
    assert loaded.members["b.json"] == '[{"a":"é","z":1}]'.encode()
    with zipfile.ZipFile(tmp_path / "one.distillery") as archive:
        assert archive.namelist() == [MANIFEST, "a.json", "b.json"]
        assert {info.date_time for info in archive.infolist()} == {(1980, 1, 1, 0, 0, 0)}
    assert not list(tmp_path.glob(".*partial"))


def test_a_bundle_error_is_an_invalid_request() -> None:
    assert issubclass(BundleError, InvalidRequest)


def test_not_a_zip_and_a_truncated_file_are_refused(tmp_path: Path) -> None:
    junk = tmp_path / "junk.distillery"
    junk.write_bytes(b"this is not a bundle at all")
    with pytest.raises(BundleError, match="not a bundle"):
        read(junk)
    whole = write_bundle(tmp_path / "box.distillery", MEMBERS)
    data = (tmp_path / "box.distillery").read_bytes()
    for cut in (len(data) // 2, len(data) - 10):
        truncated = tmp_path / f"cut{cut}.distillery"
        truncated.write_bytes(data[:cut])
        with pytest.raises(BundleError):
            read(truncated)
    assert whole.members  # the intact file was fine
    with pytest.raises(BundleError, match="cannot read bundle"):
        read(tmp_path / "missing.distillery")


def test_a_member_changed_without_its_manifest_fails_its_checksum(tmp_path: Path) -> None:
    members = good_members()
    tampered = {**members, "a.json": canonical_json({"k": [1, 2, 4]})}
    path = raw_zip(tmp_path / "t.distillery", [(MANIFEST, manifest_of(members)), *sorted(tampered.items())])
    with pytest.raises(BundleError, match="does not match its checksum"):
        read(path)


def test_a_manifest_whose_payload_checksum_was_changed_is_refused(tmp_path: Path) -> None:
    members = good_members()
    path = raw_zip(tmp_path / "t.distillery",
                   [(MANIFEST, manifest_of(members, payload_sha256="0" * 64)), *sorted(members.items())])
    with pytest.raises(BundleError, match="payload checksum"):
        read(path)


@pytest.mark.parametrize(("overrides", "message"), [
    ({"format_version": 2}, "format version 2"),
    ({"format": "something-else"}, "not a Distillery bundle"),
    ({"members": "everything"}, "does not list its members"),
])
def test_an_unknown_format_or_a_malformed_manifest_is_refused(tmp_path: Path, overrides: dict[str, Any],
                                                              message: str) -> None:
    members = good_members()
    path = raw_zip(tmp_path / "t.distillery", [(MANIFEST, manifest_of(members, **overrides)), *sorted(members.items())])
    with pytest.raises(BundleError, match=message):
        read(path)


def test_a_manifest_that_is_not_json_is_refused(tmp_path: Path) -> None:
    path = raw_zip(tmp_path / "t.distillery", [(MANIFEST, b"{not json"), *sorted(good_members().items())])
    with pytest.raises(BundleError, match="not valid JSON"):
        read(path)


def test_missing_unlisted_repeated_and_unexpected_members_are_refused(tmp_path: Path) -> None:
    members = good_members()
    only_a = {"a.json": members["a.json"]}
    cases = [
        ([(MANIFEST, manifest_of(members)), ("a.json", members["a.json"])], "lacks member"),
        ([(MANIFEST, manifest_of(only_a)), *sorted(members.items())], "not in its manifest"),
        ([(MANIFEST, manifest_of(members)), *sorted(members.items()), ("a.json", members["a.json"])], "more than once"),
        ([(MANIFEST, manifest_of(members)), *sorted(members.items()), ("d.json", b"[]")], "unexpected member"),
        ([*sorted(members.items())], "has no manifest.json"),
    ]
    for index, (entries, message) in enumerate(cases):
        with pytest.raises(BundleError, match=message):
            read(raw_zip(tmp_path / f"case{index}.distillery", entries))


@pytest.mark.parametrize("name", ["../a.json", "/etc/passwd", "dir\\..\\a.json", "c:a.json"])
def test_a_member_path_that_escapes_is_refused(tmp_path: Path, name: str) -> None:
    members = {**good_members(), name: b"[]"}
    path = raw_zip(tmp_path / "t.distillery", [(MANIFEST, manifest_of(members)), *sorted(members.items())])
    with pytest.raises(BundleError, match="escapes the bundle"):
        read(path)


def test_a_bundle_too_big_on_disk_or_unpacked_is_refused(tmp_path: Path) -> None:
    write_bundle(tmp_path / "box.distillery", MEMBERS)
    with pytest.raises(BundleError, match="the limit is 100 bytes"):
        read(tmp_path / "box.distillery", max_bytes=100)
    bomb = {"a.json": canonical_json(["x" * 200_000]), "b.json": b"[]"}
    path = raw_zip(tmp_path / "bomb.distillery", [(MANIFEST, manifest_of(bomb)), *sorted(bomb.items())])
    with zipfile.ZipFile(path) as archive:
        assert sum(i.compress_size for i in archive.infolist()) < 100_000 < sum(i.file_size for i in archive.infolist())
    with pytest.raises(BundleError, match="unpacks to more than"):
        read(path, max_bytes=100_000)


def test_a_member_bigger_than_its_manifest_says_is_read_with_a_bound(tmp_path: Path) -> None:
    members = good_members()
    lying = json.loads(manifest_of(members))
    big = canonical_json(["x" * 50_000])
    path = raw_zip(tmp_path / "t.distillery", [(MANIFEST, canonical_json(lying)), ("a.json", big),
                                               ("b.json", members["b.json"])])
    with pytest.raises(BundleError, match="does not match its checksum"):
        read(path)


def test_a_member_that_is_not_json_is_refused_when_parsed(tmp_path: Path) -> None:
    members = {**good_members(), "a.json": b"{broken"}
    path = raw_zip(tmp_path / "t.distillery", [(MANIFEST, manifest_of(members)), *sorted(members.items())])
    bundle = read(path)
    with pytest.raises(BundleError, match=r"a\.json is not valid UTF-8 JSON"):
        bundle.json_member("a.json")
