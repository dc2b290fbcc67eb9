"""Task families and deterministic scorers, shared by the teacher and the evaluation harness.

A :class:`Task` is one question plus what its scorer needs; :func:`score` judges an answer without
an LLM; :func:`make_tasks` builds train, test and holdout splits of a family; :func:`load_tasks` and
:func:`dump_tasks` read and write JSONL task files.
"""

from __future__ import annotations

from toolbox.tasks.answers import extract_final_answer
from toolbox.tasks.families import Split, families, make_tasks
from toolbox.tasks.loading import dump_tasks, load_tasks
from toolbox.tasks.model import Score, ScorerName, Task, TaskError
from toolbox.tasks.scorers import score

__all__ = [
    "Score",
    "ScorerName",
    "Split",
    "Task",
    "TaskError",
    "dump_tasks",
    "extract_final_answer",
    "families",
    "load_tasks",
    "make_tasks",
    "score",
]
