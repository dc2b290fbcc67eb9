"""``RegistryServices``: every service of one registry process, built once from settings.

``build_services`` builds what it is not given: the engine (migrated to the newest schema), the
sandbox and the embedder; tests inject their own. ``close`` releases only what it built, so an
injected sandbox or engine stays usable for the caller.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy.engine import Engine

from registry.service.corpus import CorpusService
from registry.service.curation import Curator
from registry.service.publishing import Publisher
from registry.service.search import SearchIndex
from registry.service.trajectories import TrajectoryService
from registry.service.usage import UsageRecorder
from toolbox.embeddings import Embedder
from toolbox.logging import get_logger
from toolbox.sandbox import Sandbox
from toolbox.settings import Settings

__all__ = ["RegistryServices", "build_services"]

logger = get_logger("registry.container")


@dataclass
class RegistryServices:
    """The registry's services over one database; ``close()`` when done (idempotent)."""

    settings: Settings
    engine: Engine
    sandbox: Sandbox
    embedder: Embedder
    publisher: Publisher
    curator: Curator
    index: SearchIndex
    usage: UsageRecorder
    trajectories: TrajectoryService
    corpus: CorpusService
    _closers: list[tuple[str, Callable[[], None]]] = field(default_factory=list, repr=False)
    _closed: bool = field(default=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def close(self) -> None:
        """Flush usage, then release the sandbox and engine if they were built here."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
        for name, closer in [("usage", self.usage.close), *self._closers]:
            try:
                closer()
            except Exception:  # keep closing the rest
                logger.exception("closing %s failed", name)


def build_services(settings: Settings, *, engine: Engine | None = None, sandbox: Sandbox | None = None,
                   embedder: Embedder | None = None) -> RegistryServices:
    """The services for ``settings``; ``engine``, ``sandbox`` and ``embedder`` override what settings say."""
    closers: list[tuple[str, Callable[[], None]]] = []
    try:
        if engine is None:
            from registry.db import engine_from_settings
            from registry.migrations import upgrade

            engine = engine_from_settings(settings)
            closers.append(("engine", engine.dispose))
            upgrade(engine)
        if embedder is None:
            from toolbox.embeddings import create_embedder

            embedder = create_embedder(settings.embeddings)
        if sandbox is None:
            from toolbox.sandbox import create_sandbox

            sandbox = create_sandbox(settings.sandbox)
            closers.insert(0, ("sandbox", sandbox.close))
        services = RegistryServices(
            settings=settings,
            engine=engine,
            sandbox=sandbox,
            embedder=embedder,
            publisher=Publisher(engine, sandbox=sandbox, embedder=embedder, settings=settings),
            curator=Curator(engine),
            index=SearchIndex(engine, embedder),
            usage=UsageRecorder(engine),
            trajectories=TrajectoryService(engine),
            corpus=CorpusService(engine, embedder),
            _closers=closers,
        )
    except BaseException:
        for _name, closer in closers:
            closer()
        raise
    return services
