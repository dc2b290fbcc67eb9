"""A small box with every kind of state a bundle must carry, built through the real services.

``build_box(engine, sandbox)`` publishes (real static checks and tests in the sandbox) and curates:

- ``math.add`` 1.0.0 (teacher ``gpt``, task ``t1``), republished as a duplicate from task ``t2``
  (merged provenance), then 1.1.0 (a compatible addition) with alias ``stable``; 1.0.0 deprecated
  with 1.1.0 as its replacement and pinned for scope ``ci``;
- ``math.mul`` 1.0.0 active, from trajectory ``traj-1`` (recorded);
- ``text.greet`` 1.0.0 active and 1.0.1 yanked;
- ``text.shout`` 1.0.0, a draft (no ``activate``): exported only with ``include_drafts``.
"""

from __future__ import annotations

from sqlalchemy.engine import Engine

from registry.schemas import TrajectoryRecord
from registry.service.curation import Curator
from registry.service.publishing import Publisher
from registry.service.trajectories import TrajectoryService
from tests.registry.factories import make_spec
from toolbox.embeddings import HashingEmbedder
from toolbox.sandbox import Sandbox
from toolbox.settings import Settings
from toolbox.spec import Provenance, ToolSpec

__all__ = ["DRAFT", "build_box"]

DRAFT = "text.shout@1.0.0"


def _published(publisher: Publisher, spec: ToolSpec, *, activate: bool = True, kind: str | None = None) -> str:
    outcome = publisher.publish(spec, actor="alice", activate=activate)
    assert outcome.version is not None and (kind is None or outcome.kind == kind), outcome
    return outcome.version.id


def build_box(engine: Engine, sandbox: Sandbox) -> None:
    """Publish and curate the box described in the module docstring into ``engine``."""
    publisher = Publisher(engine, sandbox=sandbox, embedder=HashingEmbedder(), settings=Settings())
    curator = Curator(engine)
    _published(publisher, make_spec("add", namespace="math", task_ids=["t1"], teacher="gpt"), kind="new_tool")
    _published(publisher, make_spec("add", namespace="math", task_ids=["t2"], teacher="gpt"), kind="duplicate_of")
    _published(publisher, make_spec("add", namespace="math", params="a: int, b: int, c: int = 0",
                                    body="return a + b + c"), kind="new_version")
    curator.set_alias("math", "add", "stable", "1.1.0", actor="alice")
    curator.deprecate("math", "add", "1.0.0", actor="alice", reason="use 1.1.0", replacement="math.add@1.1.0")
    curator.pin("ci", "math", "add", "1.0.0", actor="alice", reason="frozen for CI")
    TrajectoryService(engine).record(TrajectoryRecord(id="traj-1", run_id="run-1", task_id="t3", status="solved",
                                                      question="What is 2 * 3?", final_answer="6"), actor="teacher")
    mul = make_spec("mul", namespace="math", body="return a * b", doc="Multiply two integers.",
                    tests=[({"a": 2, "b": 3}, 6)])
    _published(publisher, mul.model_copy(update={"provenance": Provenance(trajectory_id="traj-1", task_ids=["t3"])}))
    for body in ('return f"Hello, {name}!"', 'return "Hello, " + name + "!"'):
        _published(publisher, make_spec("greet", namespace="text", params="name: str", returns="str", body=body,
                                        doc="Greet someone by name.", tests=[({"name": "Ada"}, "Hello, Ada!")]))
    curator.yank("text", "greet", "1.0.1", actor="alice", reason="no better")
    _published(publisher, make_spec("shout", namespace="text", params="text: str", returns="str",
                                    body="return text.upper()", doc="Shout a text.",
                                    tests=[({"text": "hi"}, "HI")]), activate=False)
