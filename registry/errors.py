"""The registry's exception hierarchy; REST routes and the CLI translate these at the edge.

    ToolboxError            (toolbox.errors: the one base every package's errors derive from)
    └── RegistryError
        ├── NotFound        no such tool, version, alias or key (404)
        ├── Conflict        the change contradicts the current state (409)
        ├── InvalidRequest  the input breaks a rule the caller can fix (422)
        ├── Unauthorized    no or unknown credentials (401)
        └── Forbidden       the credentials lack the role or namespace (403)
"""

from __future__ import annotations

from toolbox.errors import ToolboxError

__all__ = ["Conflict", "Forbidden", "InvalidRequest", "NotFound", "RegistryError", "Unauthorized"]


class RegistryError(ToolboxError):
    """Base of every error the registry raises on purpose; ``status`` suits an HTTP answer."""

    status = 400
    title = "Registry error"


class NotFound(RegistryError):
    """No such tool, version, alias or key."""

    status = 404
    title = "Not found"


class Conflict(RegistryError):
    """The change contradicts the current state (e.g. yanking a yanked version)."""

    status = 409
    title = "Conflict"


class InvalidRequest(RegistryError):
    """Input that breaks a rule the caller can fix."""

    status = 422
    title = "Invalid request"


class Unauthorized(RegistryError):
    """Missing or unknown credentials."""

    status = 401
    title = "Unauthorized"


class Forbidden(RegistryError):
    """Credentials without the needed role or namespace."""

    status = 403
    title = "Forbidden"
