"""Concurrent publishers lose and duplicate nothing; a publisher killed mid-transaction leaves nothing.

These tests are about the database, so they run without a sandbox (tests are not executed, and
near duplicates are only recorded, never confirmed): the write path is the same.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter, defaultdict
from pathlib import Path

from sqlalchemy.engine import Engine
from sqlmodel import Session, col, func, select

from registry.db import current_revision
from registry.models import AuditEntry, Tool, ToolVersion
from registry.schemas import PublishOutcome
from registry.service.publishing import Publisher
from tests.registry.factories import make_spec
from toolbox.embeddings import HashingEmbedder
from toolbox.settings import Settings
from toolbox.spec import ToolSpec

REPO = Path(__file__).resolve().parents[3]


def new_publisher(engine: Engine) -> Publisher:
    """A sandbox-less publisher (the database path is what these tests exercise)."""
    return Publisher(engine, sandbox=None, embedder=HashingEmbedder(), settings=Settings())


def scale_spec(factor: int) -> ToolSpec:
    """Version ``factor`` of tool ``scale``: same schema, different code (a patch each time)."""
    return make_spec("scale", params="x: float", body=f"return x * {factor}", returns="float",
                     doc="Scale a number.", tests=[({"x": 1.0}, float(factor))])


def own_specs(index: int) -> list[ToolSpec]:
    """Two versions of a tool only publisher ``index`` writes: 1.0.0, then a minor addition."""
    name = f"own_{index}"
    first = make_spec(name, params="a: int", body=f"return a + {index}", doc=f"Offset by {index}.",
                      tests=[({"a": 0}, index)])
    second = make_spec(name, params="a: int, b: int = 0", body=f"return a + b + {index}",
                       doc=f"Offset by {index}.", tests=[({"a": 0}, index)])
    return [first, second]


def test_sixteen_concurrent_publishers_lose_and_duplicate_nothing(engine: Engine) -> None:
    shared = make_spec()  # four publishers race on the very same spec
    plans: list[list[ToolSpec]] = [[shared] for _ in range(4)]
    plans += [[scale_spec(2 + i % 4)] for i in range(8)]  # eight race on four versions of one tool
    plans += [own_specs(i) for i in range(4)]  # four publish two versions of their own tool each
    assert len(plans) == 16
    barrier = threading.Barrier(len(plans))
    outcomes: list[PublishOutcome] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def run(plan: list[ToolSpec]) -> None:
        publisher = new_publisher(engine)
        barrier.wait()
        for spec in plan:
            try:
                outcome = publisher.publish(spec, activate=True)
            except BaseException as exc:  # every failure must surface in the assertion below
                with lock:
                    errors.append(exc)
                return
            with lock:
                outcomes.append(outcome)

    threads = [threading.Thread(target=run, args=(plan,)) for plan in plans]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=100)
    assert errors == []
    assert all(not thread.is_alive() for thread in threads)

    kinds = Counter(o.kind for o in outcomes)
    assert kinds == {"new_tool": 6, "new_version": 7, "duplicate_of": 7}
    with Session(engine) as session:
        versions = session.exec(select(ToolVersion).order_by(col(ToolVersion.changed_revision))).all()
        tools = {t.id: t.name for t in session.exec(select(Tool)).all()}
        audits = session.exec(select(func.count()).select_from(AuditEntry)).one()
    assert len(versions) == len({v.content_hash for v in versions}) == 13
    assert sorted(tools.values()) == ["add", "own_0", "own_1", "own_2", "own_3", "scale"]
    semvers: dict[str, list[str]] = defaultdict(list)
    for version in versions:  # in commit (revision) order
        semvers[tools[version.tool_id]].append(version.semver)
    assert semvers["add"] == ["1.0.0"]
    assert semvers["scale"] == ["1.0.0", "1.0.1", "1.0.2", "1.0.3"]
    assert all(semvers[f"own_{i}"] == ["1.0.0", "1.1.0"] for i in range(4))
    stored_ids = {v.id for v in versions}
    assert {o.version.id for o in outcomes if o.version is not None} == stored_ids
    assert [v.changed_revision for v in versions] == list(range(1, 14))
    assert current_revision(engine) == 13 == audits


CHILD = """
import pathlib, sys, time
from registry.db import make_engine
from registry.service.publishing import Publisher
from toolbox.embeddings import HashingEmbedder
from toolbox.settings import Settings
from toolbox.spec import ToolSpec

url, marker, spec_json = sys.argv[1:4]

def block_before_commit(version):
    pathlib.Path(marker).write_text(version.id)
    time.sleep(300)

publisher = Publisher(make_engine(url), sandbox=None, embedder=HashingEmbedder(), settings=Settings(),
                      before_commit=block_before_commit)
publisher.publish(ToolSpec.model_validate_json(spec_json), activate=True)
"""


def test_publisher_killed_inside_the_transaction_leaves_nothing(engine: Engine, tmp_path: Path) -> None:
    spec = make_spec()
    marker = tmp_path / "inside-transaction"
    url = engine.url.render_as_string(hide_password=False)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    child = subprocess.Popen([sys.executable, "-c", CHILD, url, str(marker), spec.model_dump_json()],
                             cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        while not marker.exists():
            if child.poll() is not None:
                raise AssertionError(f"the child exited early: {child.communicate()[1].decode()[-2000:]}")
            assert time.monotonic() < deadline, "the child never reached the commit"
            time.sleep(0.05)
    finally:
        if child.poll() is None:
            os.kill(child.pid, signal.SIGKILL)
        child.communicate()
    assert child.returncode == -signal.SIGKILL
    assert current_revision(engine) == 0
    with Session(engine) as session:
        assert session.get(ToolVersion, marker.read_text()) is None
        for model in (Tool, ToolVersion, AuditEntry):
            assert session.exec(select(func.count()).select_from(model)).one() == 0
    outcome = new_publisher(engine).publish(spec, activate=True)
    assert outcome.kind == "new_tool" and outcome.semver == "1.0.0"
    assert current_revision(engine) == 1
