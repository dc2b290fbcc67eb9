"""API keys: secrets shown once and stored hashed, roles, namespaces, revocation and the TTL cache."""

from __future__ import annotations

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from registry.errors import Conflict, InvalidRequest, NotFound
from registry.models import ApiKey, AuditEntry, Role
from registry.service.keys import (
    KEY_PREFIX,
    clear_key_cache,
    create_key,
    has_role,
    hash_secret,
    list_keys,
    revoke_key,
    verify_key,
)


def test_create_stores_only_the_hash_and_prefix(engine: Engine) -> None:
    key, secret = create_key(engine, name="ci", role=Role.curator, namespaces=["math", "text", "math"], actor="me")
    assert secret.startswith(KEY_PREFIX) and len(secret) > 40
    with Session(engine) as session:
        stored = session.exec(select(ApiKey)).one()
        audit = session.exec(select(AuditEntry)).one()
    assert stored.key_hash == hash_secret(secret) and secret not in stored.model_dump_json()
    assert stored.prefix == secret[:12] and stored.namespaces == ["math", "text"]
    assert (audit.actor, audit.action, audit.target) == ("me", "key.create", f"key:{key.id}")
    assert secret not in str(audit.detail)


def test_verify_returns_the_principal(engine: Engine) -> None:
    key, secret = create_key(engine, name="reader", role="reader", namespaces=["math"])
    principal = verify_key(engine, secret)
    assert principal is not None
    assert (principal.key_id, principal.name, principal.role, principal.namespaces) == (
        key.id, "reader", Role.reader, ["math"])
    assert principal.can_see("math") and not principal.can_see("text")


@pytest.mark.parametrize("secret", ["", "dst_", "nope", "dst_" + "x" * 43, "dst_" + "y" * 400])
def test_verify_refuses_unknown_secrets(engine: Engine, secret: str) -> None:
    create_key(engine, name="k", role=Role.admin)
    assert verify_key(engine, secret) is None


def test_revoke_by_prefix_takes_effect_at_once_despite_the_cache(engine: Engine) -> None:
    key, secret = create_key(engine, name="k", role=Role.curator)
    assert verify_key(engine, secret) is not None  # now cached
    revoked = revoke_key(engine, key.prefix, actor="admin")
    assert revoked.revoked_at is not None
    assert verify_key(engine, secret) is None
    assert list_keys(engine) == [] and [k.id for k in list_keys(engine, include_revoked=True)] == [key.id]
    with pytest.raises(Conflict, match="already revoked"):
        revoke_key(engine, key.id)
    with pytest.raises(NotFound, match="keys list"):
        revoke_key(engine, "dst_missing")


def test_cache_serves_within_ttl_and_rereads_after(sqlite_engine: Engine) -> None:
    key, secret = create_key(sqlite_engine, name="k", role=Role.reader)
    assert verify_key(sqlite_engine, secret) is not None
    with Session(sqlite_engine) as session:  # revoked behind the cache's back (another process)
        stored = session.get(ApiKey, key.id)
        assert stored is not None
        session.delete(stored)
        session.commit()
    assert verify_key(sqlite_engine, secret) is not None  # still cached
    assert verify_key(sqlite_engine, secret, ttl_s=0) is not None  # a hit does not re-read...
    clear_key_cache(sqlite_engine)
    assert verify_key(sqlite_engine, secret) is None  # ...but an expired or cleared entry does


def test_expired_cache_entry_is_reread(sqlite_engine: Engine) -> None:
    key, secret = create_key(sqlite_engine, name="k", role=Role.reader)
    assert verify_key(sqlite_engine, secret, ttl_s=0) is not None  # cached, already expired
    with Session(sqlite_engine) as session:
        stored = session.get(ApiKey, key.id)
        assert stored is not None
        session.delete(stored)
        session.commit()
    assert verify_key(sqlite_engine, secret) is None


def test_role_order() -> None:
    assert has_role(Role.admin, Role.curator) and has_role(Role.curator, Role.curator)
    assert not has_role(Role.reader, Role.curator) and not has_role(Role.curator, Role.admin)


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"name": " ", "role": "reader"}, "name"),
    ({"name": "k", "role": "owner"}, "unknown role"),
    ({"name": "k", "role": "reader", "namespaces": ["Bad-NS"]}, "invalid namespace"),
])
def test_create_rejects_bad_input(sqlite_engine: Engine, kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(InvalidRequest, match=message):
        create_key(sqlite_engine, **kwargs)  # type: ignore[arg-type]
