"""Counts in this folder's README that the run reports do not give, read from the stored trajectories.

    python count_trajectories.py /tmp/run/box.db
prints, per run and family, solved/failed and why, and how many trajectories repeated a cell,
got the wrong-answer note, or hit a NameError.
"""

import collections
import json
import sqlite3
import sys

db = sqlite3.connect(sys.argv[1])
columns = [row[1] for row in db.execute("pragma table_info(trajectory)")]
rows = [dict(zip(columns, row, strict=True)) for row in db.execute("select * from trajectory")]
outcomes: collections.Counter[tuple[str, str, str, str]] = collections.Counter()
marks: collections.Counter[tuple[str, str]] = collections.Counter()
for row in rows:
    error = row["error"] or ""
    why = ("wrong answer" if error.startswith("wrong answer")
           else "no final_answer" if error.startswith("no final") else "")
    outcomes[(row["run_id"], row["family"], row["status"], why)] += 1
    observations = [step.get("observation") or "" for step in json.loads(row["steps"])]
    for mark, text in (("repeated a cell", "same code as your step"), ("wrong-answer note", "is not correct"),
                       ("NameError", "NameError")):
        if any(text in seen for seen in observations):
            marks[(row["run_id"], mark)] += 1
lines = [(*key, str(count)) for key, count in [*sorted(outcomes.items()), *sorted(marks.items())]]
sys.stdout.write("".join("\t".join(line) + "\n" for line in lines))
