"""Clustering by embedding and fingerprint, and consolidation published over the REST API."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from registry.api import create_api
from registry.container import RegistryServices, build_services
from registry.models import Role
from registry.service import queries
from registry.service.keys import clear_key_cache, create_key
from teacher.candidates import DistilContext
from teacher.cluster import cluster_tools
from teacher.consolidate import consolidate_batch, translate_tests
from teacher.extract import TokenCount
from teacher.prompts import load_prompt
from teacher.publishing import BoxTool, RemoteBoxWriter
from tests.teacher.distil_fixtures import (
    SOLVE_COUNTDOWN,
    WEEKDAY,
    WEEKDAY_INDEX,
    WEEKDAY_NAME,
    TeacherBrain,
    tool_answer,
)
from toolbox.analysis import build_spec
from toolbox.embeddings import HashingEmbedder
from toolbox.sandbox.base import Limits
from toolbox.sandbox.process import ProcessSandbox
from toolbox.settings import DEFAULT_ALLOWED_IMPORTS, SandboxSettings, Settings, TeacherSettings
from toolbox.spec import ToolSpec

pytestmark = pytest.mark.anyio
MONDAY = {"args": {"year": 2024, "month": 1, "day": 1}}


def spec_of(source: str, expected: object, name: str | None = None,
            args: dict[str, object] | None = None) -> ToolSpec:
    call = MONDAY if args is None else {"args": args}
    return build_spec(source, name=name, namespace="box", tests=[{**call, "expected": expected}],
                      allowed_imports=DEFAULT_ALLOWED_IMPORTS)


def test_related_tools_cluster_and_equivalent_ones_count_once(tool_sandbox: ProcessSandbox) -> None:
    renamed = WEEKDAY_NAME.replace("def weekday_name(year: int, month: int, day: int)",
                                   "def name_of_day(y: int, m: int, d: int)").replace(
        "datetime.date(year, month, day)", "datetime.date(y, m, d)")
    new = [BoxTool("v-name", spec_of(WEEKDAY_NAME, "Monday")), BoxTool("v-index", spec_of(WEEKDAY_INDEX, 0))]
    box = [BoxTool("v-renamed", spec_of(renamed, "Monday", name="name_of_day", args={"y": 2024, "m": 1, "d": 1})),
           BoxTool("v-count", build_spec(SOLVE_COUNTDOWN, namespace="box", allowed_imports=DEFAULT_ALLOWED_IMPORTS))]
    groups = cluster_tools(tool_sandbox, HashingEmbedder(), new, box, limits=Limits(timeout_s=5), threshold=0.6)
    assert len(groups) == 1
    ids = [m.tool.version_id for m in groups[0]]
    assert sorted(ids) == ["v-index", "v-name"]  # the renamed copy behaves like weekday_name: counted once
    assert cluster_tools(tool_sandbox, HashingEmbedder(), new[:1], box[1:], threshold=0.6) == []


def test_member_tests_are_translated_by_the_arg_map() -> None:
    tests = translate_tests(spec_of(WEEKDAY_INDEX, 0), {"rename": {"day": "day"}, "fixed": {"as_name": False}})
    assert [t.args for t in tests] == [{"year": 2024, "month": 1, "day": 1, "as_name": False}]


@pytest.fixture
def remote(tmp_path: Path, sandbox_settings: SandboxSettings,
           tool_sandbox: ProcessSandbox) -> Iterator[tuple[RemoteBoxWriter, RegistryServices, Settings]]:
    """A RemoteBoxWriter talking to the registry's REST app with a curator key."""
    settings = Settings(data_dir=tmp_path, sandbox=sandbox_settings,
                        teacher=TeacherSettings(repair_rounds=0, holdout_instances=0))
    services = build_services(settings, sandbox=tool_sandbox, embedder=HashingEmbedder())
    secret = create_key(services.engine, name="teacher", role=Role.curator, actor="test")[1]
    client = TestClient(create_api(services, settings))
    writer = RemoteBoxWriter(str(client.base_url), secret, client=client)
    yield writer, services, settings
    client.close()
    clear_key_cache(services.engine)
    services.close()


def context(brain: TeacherBrain, sandbox: ProcessSandbox, settings: Settings) -> DistilContext:
    prompts = {name: load_prompt(name) for name in ("extract", "abstract", "repair", "consolidate")}
    return DistilContext(model=brain.model, sandbox=sandbox, settings=settings, limits=Limits(timeout_s=5),
                         prompts=prompts, tokens=TokenCount(), teacher_model="brain", embedder=HashingEmbedder(),
                         cluster_threshold=0.6)


async def test_a_cluster_is_consolidated_and_supersedes_its_members_over_rest(
    remote: tuple[RemoteBoxWriter, RegistryServices, Settings], tool_sandbox: ProcessSandbox
) -> None:
    writer, services, settings = remote
    members = []
    for spec in (spec_of(WEEKDAY_NAME, "Monday"), spec_of(WEEKDAY_INDEX, 0)):
        outcome = writer.publish(spec, activate=True)
        assert outcome.kind == "new_tool" and outcome.version is not None
        members.append(BoxTool(outcome.version.id, spec))
    assert {t.spec.name for t in writer.box_tools("box")} == {"weekday_name", "weekday_index"}

    answer = tool_answer(WEEKDAY, name="weekday", arg_maps={"weekday_index": {"fixed": {"as_name": False}}})
    brain = TeacherBrain([], lambda kind, prompt: answer)
    result = await consolidate_batch(context(brain, tool_sandbox, settings), writer, members, "box", activate=True)
    assert (result.groups, result.consolidations, dict(result.rejected)) == (1, 1, {})
    assert "weekday_name" in brain.distil_prompts[0][1] and "weekday_index" in brain.distil_prompts[0][1]
    merged = queries.get_version(services.engine, "box", "weekday", "latest")
    assert sorted(link.other_id for link in merged.links if link.kind == "consolidates") == sorted(
        m.version_id for m in members)
    for member in members:
        old = queries.get_version(services.engine, "box", member.spec.name, member.version_id)
        assert old.status == "deprecated" and old.replacement_id == merged.id


async def test_a_consolidation_that_breaks_a_members_tests_is_not_published(
    remote: tuple[RemoteBoxWriter, RegistryServices, Settings], tool_sandbox: ProcessSandbox
) -> None:
    writer, _services, settings = remote
    members = []
    for spec in (spec_of(WEEKDAY_NAME, "Monday"), spec_of(WEEKDAY_INDEX, 0)):
        outcome = writer.publish(spec, activate=True)
        assert outcome.version is not None
        members.append(BoxTool(outcome.version.id, spec))
    brain = TeacherBrain([], lambda kind, prompt: tool_answer(WEEKDAY, name="weekday"))  # no arg map: index tests fail
    result = await consolidate_batch(context(brain, tool_sandbox, settings), writer, members, "box", activate=True)
    assert result.consolidations == 0 and dict(result.rejected) == {"consolidation-failed": 1}
    assert {t.spec.name for t in writer.box_tools("box")} == {"weekday_name", "weekday_index"}
