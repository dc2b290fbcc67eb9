"""After a call: delete what it left in the file system, and remember its compiled code for the next spares."""

from __future__ import annotations

import contextlib
import json
import os
import shutil

from .child import CODE_CACHE, tool_filename

__all__ = ["CACHE_ENTRIES", "CACHE_MAX_SOURCE", "clean_files", "remember"]

CACHE_ENTRIES = 128
CACHE_MAX_SOURCE = 64 * 1024  # bytes of one source; the cache holds at most ENTRIES * this much source
TEMP_ROOTS = ("/tmp", "/dev/shm", "/var/tmp")


def _mine(root: str, uid: int | None, private_tmp: bool, tmp_at_start: frozenset[str]) -> list[os.DirEntry[str]]:
    """Entries of a shared temp dir that a call may have left: all of a private /tmp, else the call uid's."""
    try:
        entries = list(os.scandir(root))
    except OSError:
        return []
    found = []
    for entry in entries:
        if private_tmp and root == "/tmp":
            if entry.name not in tmp_at_start:  # not a mount point of the sandbox itself
                found.append(entry)
            continue
        try:
            owner = entry.stat(follow_symlinks=False).st_uid
        except OSError:
            continue
        if uid is not None and owner == uid:
            found.append(entry)
    return found


def clean_files(scratch: str, uid: int | None, private_tmp: bool, tmp_at_start: frozenset[str]) -> bool:
    """Delete the call's scratch dir and its files in /tmp, /dev/shm, /var/tmp; False if some remain."""
    shutil.rmtree(scratch, ignore_errors=True)
    clean = not os.path.lexists(scratch)
    for root in TEMP_ROOTS:
        for entry in _mine(root, uid, private_tmp, tmp_at_start):
            if entry.is_dir(follow_symlinks=False):
                shutil.rmtree(entry.path, ignore_errors=True)
            else:
                with contextlib.suppress(OSError):
                    os.unlink(entry.path)
        clean = clean and not _mine(root, uid, private_tmp, tmp_at_start)
    return clean


def remember(code_id: str, body: bytes) -> None:
    """Keep the compiled code of a request whose source compiled in its child, for the spares that follow."""
    if not code_id:
        return
    if code_id in CODE_CACHE:
        CODE_CACHE.move_to_end(code_id)
        return
    try:
        request = json.loads(body)
        source = str(request.get("source", ""))
        if len(source) > CACHE_MAX_SOURCE:
            return
        CODE_CACHE[code_id] = compile(source, tool_filename(request), "exec", dont_inherit=True)
    except Exception:  # compiled in the child, so this is not expected; just do not cache it
        return
    while len(CODE_CACHE) > CACHE_ENTRIES:
        CODE_CACHE.popitem(last=False)
