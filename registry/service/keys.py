"""API keys: create (the secret is shown once), verify (with a short TTL cache), list, revoke.

A secret is ``"dst_" + secrets.token_urlsafe(32)``; only its SHA-256 is stored, plus the first
characters (``prefix``) so people can tell keys apart. Roles are ordered reader < curator < admin;
a key's namespaces (empty = all) limit what it may read and write.

``verify_key`` caches valid keys for ``KEY_CACHE_TTL_S`` seconds per engine: a revocation is seen
at once in the process that revoked the key, and within the TTL everywhere else. Unknown keys are
not cached, so a key created by another process works on its first use.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import threading
import time
import weakref
from collections.abc import Sequence

from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from registry.db import audit, read_session
from registry.errors import Conflict, InvalidRequest, NotFound
from registry.models import ApiKey, Role, utcnow
from registry.schemas import Principal
from toolbox.logging import get_logger
from toolbox.spec import NAME_PATTERN

__all__ = [
    "KEY_CACHE_TTL_S",
    "KEY_PREFIX",
    "clear_key_cache",
    "create_key",
    "has_role",
    "hash_secret",
    "list_keys",
    "revoke_key",
    "verify_key",
]

logger = get_logger("registry.keys")
KEY_PREFIX = "dst_"
KEY_CACHE_TTL_S = 5.0
_PREFIX_CHARS = 12  # "dst_" + 8 characters of the token
_ROLE_RANK = {Role.reader: 0, Role.curator: 1, Role.admin: 2}

_cache_lock = threading.Lock()
_cache: weakref.WeakKeyDictionary[Engine, dict[str, tuple[float, Principal]]] = weakref.WeakKeyDictionary()


def has_role(role: Role, minimum: Role) -> bool:
    """Whether ``role`` is at least ``minimum`` (reader < curator < admin)."""
    return _ROLE_RANK[role] >= _ROLE_RANK[minimum]


def hash_secret(secret: str) -> str:
    """The SHA-256 hex digest stored for ``secret``."""
    return hashlib.sha256(secret.encode()).hexdigest()


def _principal(key: ApiKey) -> Principal:
    return Principal(key_id=key.id, name=key.name, role=key.role, namespaces=list(key.namespaces))


def _check_namespaces(namespaces: Sequence[str]) -> list[str]:
    bad = [ns for ns in namespaces if not re.fullmatch(NAME_PATTERN, ns)]
    if bad:
        raise InvalidRequest(f"invalid namespace(s) {bad}: use lowercase letters, digits and '_', "
                             "starting with a letter")
    return sorted(set(namespaces))


def create_key(engine: Engine, *, name: str, role: Role | str, namespaces: Sequence[str] = (),
               actor: str = "system") -> tuple[ApiKey, str]:
    """Store a new key and return it with its secret (the only time the secret is available)."""
    name = name.strip()
    if not name or len(name) > 128:
        raise InvalidRequest("a key needs a name of 1 to 128 characters")
    try:
        role = Role(role)
    except ValueError:
        raise InvalidRequest(f"unknown role {role!r}: use one of {[r.value for r in Role]}") from None
    secret = KEY_PREFIX + secrets.token_urlsafe(32)
    key = ApiKey(name=name, prefix=secret[:_PREFIX_CHARS], key_hash=hash_secret(secret), role=role,
                 namespaces=_check_namespaces(namespaces))
    with Session(engine, expire_on_commit=False) as session:
        session.add(key)
        audit(session, actor=actor, action="key.create", target=f"key:{key.id}", name=name, role=role.value,
              namespaces=key.namespaces, prefix=key.prefix)
        session.commit()
    logger.info("created %s key %s (%s) for namespaces %s", role.value, key.prefix, name, key.namespaces or "all")
    return key, secret


def verify_key(engine: Engine, secret: str, *, ttl_s: float = KEY_CACHE_TTL_S) -> Principal | None:
    """The principal of a valid, unrevoked key; None for anything else (never raises on bad input)."""
    if not secret.startswith(KEY_PREFIX) or len(secret) > 256:
        return None
    digest = hash_secret(secret)
    now = time.monotonic()
    with _cache_lock:
        cached = _cache.get(engine, {}).get(digest)
    if cached is not None and cached[0] > now:
        return cached[1]
    with read_session(engine) as session:
        key = session.exec(select(ApiKey).where(ApiKey.key_hash == digest)).first()
    if key is None or key.revoked_at is not None:
        with _cache_lock:
            _cache.get(engine, {}).pop(digest, None)
        return None
    principal = _principal(key)
    with _cache_lock:
        _cache.setdefault(engine, {})[digest] = (now + ttl_s, principal)
    return principal


def clear_key_cache(engine: Engine | None = None) -> None:
    """Forget cached verifications (of one engine, or all)."""
    with _cache_lock:
        if engine is None:
            _cache.clear()
        else:
            _cache.pop(engine, None)


def list_keys(engine: Engine, *, include_revoked: bool = False) -> list[ApiKey]:
    """Every key (without secrets), oldest first."""
    with read_session(engine) as session:
        query = select(ApiKey).order_by(col(ApiKey.created_at))
        if not include_revoked:
            query = query.where(col(ApiKey.revoked_at).is_(None))
        return list(session.exec(query).all())


def revoke_key(engine: Engine, key: str, *, actor: str = "system") -> ApiKey:
    """Revoke the key whose id or prefix is ``key``; revoking twice is a Conflict."""
    with Session(engine, expire_on_commit=False) as session:
        found = session.get(ApiKey, key)
        if found is None:
            matches = list(session.exec(select(ApiKey).where(ApiKey.prefix == key)).all())
            if len(matches) > 1:
                raise Conflict(f"prefix {key!r} matches {len(matches)} keys: revoke by id instead")
            found = matches[0] if matches else None
        if found is None:
            raise NotFound(f"no API key with id or prefix {key!r}; 'distillery keys list' shows them")
        if found.revoked_at is not None:
            raise Conflict(f"key {found.prefix} ({found.name}) was already revoked at {found.revoked_at.isoformat()}")
        found.revoked_at = utcnow()
        session.add(found)
        audit(session, actor=actor, action="key.revoke", target=f"key:{found.id}", name=found.name,
              prefix=found.prefix)
        session.commit()
    clear_key_cache(engine)
    logger.info("revoked key %s (%s)", found.prefix, found.name)
    return found
