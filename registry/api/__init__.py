"""The registry's REST API (FastAPI) under ``/api/v1``."""

from __future__ import annotations

from registry.api.app import API_PREFIX, create_api, include_registry_routes

__all__ = ["API_PREFIX", "create_api", "include_registry_routes"]
