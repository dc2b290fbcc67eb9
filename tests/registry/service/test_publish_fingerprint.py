"""Publishing with behavioural fingerprints: renamed tools are found whatever the embedder says."""

from __future__ import annotations

import numpy as np
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from registry.models import ToolVersion, VersionLink
from registry.service.publishing import Publisher
from registry.service.vectors import embedding_text
from tests.registry.factories import make_spec
from toolbox.embeddings import HashingEmbedder
from toolbox.sandbox import Sandbox
from toolbox.settings import Settings
from toolbox.spec import ToolSpec

MEAN = make_spec("mean", params="values: list[float]", body="return sum(values) / len(values)", returns="float",
                 doc="Arithmetic mean of the values.", tests=[({"values": [1.0, 2.0, 3.0]}, 2.0)])
AVERAGE = make_spec("average", params="numbers: list[float]", body="return sum(numbers) / len(numbers)",
                    returns="float", doc="Average of some numbers.", tests=[({"numbers": [4.0, 6.0]}, 5.0)])


def publisher(engine: Engine, sandbox: Sandbox | None) -> Publisher:
    """A publisher with the hashing embedder and the default near-duplicate threshold."""
    return Publisher(engine, sandbox=sandbox, embedder=HashingEmbedder(), settings=Settings())


def versions(engine: Engine) -> list[ToolVersion]:
    """Every stored version, oldest first."""
    with Session(engine) as session:
        return list(session.exec(select(ToolVersion).order_by(col(ToolVersion.changed_revision))).all())


def cosine(first: ToolSpec, second: ToolSpec) -> float:
    """The hashing embedder's similarity of two specs (what the embedding path sees)."""
    a, b = HashingEmbedder().embed([embedding_text(first), embedding_text(second)])
    return float(np.dot(a, b) / (np.linalg.norm(a) * np.linalg.norm(b)))


def test_a_renamed_tool_with_renamed_parameters_is_equivalent_to_the_original(engine: Engine,
                                                                              sandbox: Sandbox) -> None:
    pub = publisher(engine, sandbox)
    first = pub.publish(MEAN, activate=True)
    assert first.kind == "new_tool" and first.version is not None
    assert cosine(MEAN, AVERAGE) < pub.near_threshold  # the embedder alone would not find it
    outcome = pub.publish(AVERAGE, activate=True, actor="bob")
    assert outcome.kind == "equivalent_to", outcome
    assert outcome.version is not None and outcome.version.id == first.version.id
    assert "same behavioural fingerprint" in outcome.reasons[0] and "2 inputs" in outcome.reasons[0]
    [stored] = versions(engine)
    assert stored.fingerprint is not None and len(stored.fingerprint) == 64
    report = stored.validation_report["fingerprint"]
    assert report["digest"] == stored.fingerprint and report["shape"] == "(array<number>)" and report["matchable"]
    with Session(engine) as session:
        [link] = session.exec(select(VersionLink)).all()
    assert link.detail["spec"] == "default.average" and link.detail["actor"] == "bob"
    assert link.detail["differential"] == {"equivalent": True, "inputs": 2, "mismatches": []}


def test_an_equal_fingerprint_is_only_a_candidate_the_differential_test_decides(sqlite_engine: Engine,
                                                                                sandbox: Sandbox) -> None:
    pub = publisher(sqlite_engine, sandbox)
    pub.publish(make_spec("clip_small", params="x: int", body="return x if x < 50 else 0", returns="int",
                          doc="Small numbers or zero.", tests=[({"x": 3}, 3)]))
    identity = make_spec("identity", params="y: int", body="return y", returns="int", doc="The number itself.",
                         tests=[({"y": 100}, 100)])
    outcome = pub.publish(identity)
    assert outcome.kind == "new_tool"
    first, second = versions(sqlite_engine)
    assert first.fingerprint == second.fingerprint is not None  # equal on every small probe
    [near] = second.validation_report["near_duplicates"]
    assert near["same_fingerprint"] is True and near["similarity"] is None
    assert near["differential"]["mismatches"][0] == {"args": {"y": 100}, "new": 100, "existing": 0,
                                                     "reason": "outputs differ"}


def test_versions_of_the_same_tool_are_not_candidates(sqlite_engine: Engine, sandbox: Sandbox) -> None:
    pub = publisher(sqlite_engine, sandbox)
    pub.publish(MEAN)
    rewritten = make_spec("mean", params="values: list[float]", body="return sum(values) / float(len(values))",
                          returns="float", doc="Arithmetic mean.", tests=[({"values": [2.0]}, 2.0)])
    outcome = pub.publish(rewritten)
    assert outcome.kind == "new_version" and outcome.semver == "1.0.1"
    first, second = versions(sqlite_engine)
    assert first.fingerprint == second.fingerprint and second.validation_report["near_duplicates"] == []


def test_a_tool_no_probe_can_call_gets_no_fingerprint(sqlite_engine: Engine, sandbox: Sandbox) -> None:
    pub = publisher(sqlite_engine, sandbox)
    for name, guard in (("over_hundred", "n < 100"), ("above_hundred", "n <= 99")):
        outcome = pub.publish(make_spec(name, params="n: int", returns="int", doc=f"{name} of n.",
                                        body=f"if {guard}:\n    raise ValueError('too small')\nreturn n - 100",
                                        tests=[({"n": 150}, 50)]))
        assert outcome.kind == "new_tool"  # every probe raises: no fingerprint to match on
    first, second = versions(sqlite_engine)
    assert first.fingerprint is None and second.fingerprint is None
    report = first.validation_report["fingerprint"]
    assert report["matchable"] is False and report["probes"] == 5


def test_without_a_sandbox_nothing_is_probed(sqlite_engine: Engine) -> None:
    outcome = publisher(sqlite_engine, None).publish(MEAN)
    assert outcome.kind == "new_tool"
    [stored] = versions(sqlite_engine)
    assert stored.fingerprint is None and stored.validation_report["fingerprint"] is None
