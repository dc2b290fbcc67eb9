"""Where the teacher writes its box: the registry in this process, or a remote one over REST.

``BoxWriter`` is what the pipeline needs: publish a spec (optionally superseding versions it
consolidates), store a trajectory, and read the box's current tools back for clustering.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import httpx

from registry.container import RegistryServices
from registry.errors import RegistryError
from registry.schemas import PublishOutcome, TrajectoryRecord, VersionDetail
from registry.service import queries
from teacher.distil_errors import BoxWriteError
from toolbox.spec import ToolSpec, ToolTest

__all__ = ["BoxTool", "BoxWriter", "InProcessBoxWriter", "RemoteBoxWriter", "spec_of_detail"]

_PAGE = 200


@dataclass(frozen=True)
class BoxTool:
    """A tool already in the box: its served version's id and spec."""

    version_id: str
    spec: ToolSpec


class BoxWriter(Protocol):
    """Publishes tools and records trajectories in a registry."""

    def publish(self, spec: ToolSpec, *, activate: bool, changelog: str = "",
                supersedes: Sequence[str] = ()) -> PublishOutcome:
        """Publish ``spec``; the registry's outcome (rejections are outcomes, not errors)."""
        ...

    def record_trajectory(self, record: TrajectoryRecord) -> str:
        """Store one trajectory (idempotent on its id); its id."""
        ...

    def box_tools(self, namespace: str) -> list[BoxTool]:
        """The served version of every tool in ``namespace``."""
        ...


def spec_of_detail(detail: VersionDetail) -> ToolSpec:
    """A stored version as a runnable ``ToolSpec``."""
    return ToolSpec(namespace=detail.namespace, name=detail.name, description=detail.description,
                    source=detail.source, entrypoint=detail.entrypoint, input_schema=detail.input_schema,
                    output_schema=detail.output_schema, tests=[ToolTest.model_validate(t) for t in detail.tests],
                    allowed_imports=detail.allowed_imports, tags=detail.tags)


class InProcessBoxWriter:
    """Writes through the registry's service layer in this process."""

    def __init__(self, services: RegistryServices, *, actor: str = "teacher") -> None:
        """``services`` stays owned by the caller (it is not closed here)."""
        self.services = services
        self.actor = actor

    def publish(self, spec: ToolSpec, *, activate: bool, changelog: str = "",
                supersedes: Sequence[str] = ()) -> PublishOutcome:
        """Publish through ``Publisher.publish``."""
        try:
            return self.services.publisher.publish(spec, actor=self.actor, activate=activate, changelog=changelog,
                                                   supersedes=list(supersedes))
        except RegistryError as exc:
            raise BoxWriteError(f"publishing {spec.qualified_name} failed: {exc}") from exc

    def record_trajectory(self, record: TrajectoryRecord) -> str:
        """Store through ``TrajectoryService.record``."""
        try:
            return self.services.trajectories.record(record, actor=self.actor)
        except RegistryError as exc:
            raise BoxWriteError(f"storing trajectory {record.id} failed: {exc}") from exc

    def box_tools(self, namespace: str) -> list[BoxTool]:
        """Every tool of ``namespace`` with its served version."""
        engine = self.services.engine
        tools: list[BoxTool] = []
        cursor: str | None = None
        while True:
            page = queries.list_tools(engine, namespace=namespace, cursor=cursor, limit=_PAGE)
            for summary in page.items:
                if summary.latest is not None:
                    detail = queries.get_version(engine, namespace, summary.name, summary.latest.id)
                    tools.append(BoxTool(detail.id, spec_of_detail(detail)))
            cursor = page.next_cursor
            if cursor is None:
                return tools


class RemoteBoxWriter:
    """Writes to a registry over its REST API (``/api/v1``) with a curator API key."""

    def __init__(self, base_url: str, api_key: str | None, *, client: httpx.Client | None = None,
                 timeout_s: float = 60.0) -> None:
        """``client`` is injected in tests; otherwise one is made (and closed by ``close``)."""
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._own = client is None
        self.client = client or httpx.Client(timeout=timeout_s)
        self.base = base_url.rstrip("/") + ("" if base_url.rstrip("/").endswith("/api/v1") else "/api/v1")
        self.headers = headers

    def close(self) -> None:
        """Close the HTTP client if it was made here."""
        if self._own:
            self.client.close()

    def _send(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            return self.client.request(method, self.base + path, headers=self.headers, **kwargs)
        except httpx.HTTPError as exc:
            raise BoxWriteError(f"{method} {self.base + path} failed: {exc}; check --registry and that the "
                                "server is running") from exc

    @staticmethod
    def _fail(response: httpx.Response, what: str) -> BoxWriteError:
        return BoxWriteError(f"{what}: HTTP {response.status_code}: {response.text[:500]}")

    def publish(self, spec: ToolSpec, *, activate: bool, changelog: str = "",
                supersedes: Sequence[str] = ()) -> PublishOutcome:
        """``POST /tools`` with the spec as JSON; a 422 rejection comes back as a ``rejected`` outcome."""
        params = {"activate": str(activate).lower(), "changelog": changelog}
        body: dict[str, Any] = spec.model_dump(mode="json")
        if supersedes:
            body["supersedes"] = list(supersedes)
        response = self._send("POST", "/tools", params=params, json=body)
        if response.status_code in (200, 201):
            return PublishOutcome.model_validate(response.json())
        if response.status_code == 422:
            body = response.json()
            return PublishOutcome(kind="rejected", reasons=body.get("reasons") or [str(body.get("detail"))],
                                  findings=body.get("findings") or [], test_report=body.get("test_report"))
        raise self._fail(response, f"publishing {spec.qualified_name} failed")

    def record_trajectory(self, record: TrajectoryRecord) -> str:
        """``POST /trajectories``."""
        response = self._send("POST", "/trajectories", json=record.model_dump(mode="json"))
        if response.status_code not in (200, 201):
            raise self._fail(response, f"storing trajectory {record.id} failed")
        return str(response.json()["id"])

    def box_tools(self, namespace: str) -> list[BoxTool]:
        """``GET /tools?namespace=`` then each served version."""
        tools: list[BoxTool] = []
        cursor: str | None = None
        while True:
            params = {"namespace": namespace, "limit": str(_PAGE), **({"cursor": cursor} if cursor else {})}
            response = self._send("GET", "/tools", params=params)
            if response.status_code != 200:
                raise self._fail(response, f"listing the tools of {namespace} failed")
            page = response.json()
            for item in page.get("items", []):
                latest = item.get("latest")
                if not latest:
                    continue
                got = self._send("GET", f"/tools/{namespace}/{item['name']}/versions/{latest['id']}")
                if got.status_code != 200:
                    raise self._fail(got, f"reading {namespace}.{item['name']} failed")
                detail = VersionDetail.model_validate(got.json())
                tools.append(BoxTool(detail.id, spec_of_detail(detail)))
            cursor = page.get("next_cursor")
            if not cursor:
                return tools
