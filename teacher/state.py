"""Resumable run state: a JSONL journal per task file and namespace in the data directory.

Each finished task is appended as one line and fsynced before the run moves on, so an
interrupted run loses nothing it finished and a rerun skips those tasks. A torn line (the process
died mid-write) is skipped with a warning: that task simply runs again.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from teacher.distil_errors import JournalError
from toolbox.logging import get_logger

__all__ = ["JournalEntry", "RunJournal", "journal_path"]

log = get_logger("teacher.state")


class JournalEntry(BaseModel):
    """One finished task: its trajectory and what became of each tool drafted from it."""

    task_id: str
    trajectory_id: str | None = None
    status: str
    tools: list[dict[str, Any]] = Field(default_factory=list, description="{name, outcome, reason, version_id}")
    prompt_tokens: int = 0
    completion_tokens: int = 0


def journal_path(data_dir: Path, tasks_file: Path, namespace: str) -> Path:
    """Where the journal of ``tasks_file`` taught into ``namespace`` lives."""
    resolved = str(tasks_file.resolve())
    digest = hashlib.sha256(f"{resolved}\0{namespace}".encode()).hexdigest()[:12]
    return data_dir / "teach" / f"{tasks_file.stem}-{namespace}-{digest}.jsonl"


class RunJournal:
    """The append-only journal of one task file + namespace."""

    def __init__(self, path: Path) -> None:
        """Open (lazily create) the journal at ``path``."""
        self.path = path
        self._lock = threading.Lock()

    def finished(self) -> dict[str, JournalEntry]:
        """Every finished task so far, by task id (the last entry wins)."""
        if not self.path.exists():
            return {}
        entries: dict[str, JournalEntry] = {}
        try:
            lines = self.path.read_text(encoding="utf-8", errors="replace").splitlines()
        except OSError as exc:
            raise JournalError(f"cannot read the run journal {self.path}: {exc}") from exc
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                entry = JournalEntry.model_validate(json.loads(line))
            except ValueError:
                log.warning("%s:%d: not a journal entry (a torn write?); that task runs again", self.path, number)
                continue
            entries[entry.task_id] = entry
        return entries

    def append(self, entry: JournalEntry) -> None:
        """Append ``entry`` and fsync it before returning."""
        line = (entry.model_dump_json() + "\n").encode()
        with self._lock:
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                with self.path.open("ab+") as stream:
                    if stream.tell() > 0:
                        stream.seek(-1, os.SEEK_END)
                        if stream.read(1) != b"\n":
                            line = b"\n" + line
                    stream.write(line)
                    stream.flush()
                    os.fsync(stream.fileno())
            except OSError as exc:
                raise JournalError(f"cannot write the run journal {self.path}: {exc}") from exc
