"""``docker-compose.yml``, ``deploy/.env.example`` and ``deploy/nginx.conf``, checked without containers.

The compose file is validated against the Compose Specification's JSON schema (vendored, see
``compose-spec.SOURCE``) as written and after interpolation with the example env file; then the
topology the README promises is read out of it.
"""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from tests.deploy.conftest import COMPOSE_FILE, REPO_ROOT

SCHEMA = json.loads((Path(__file__).with_name("compose-spec.json")).read_text())
ENV_EXAMPLE = REPO_ROOT / "deploy" / ".env.example"
NGINX_CONF = REPO_ROOT / "deploy" / "nginx.conf"
VARIABLE = re.compile(r"\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?])(?P<arg>[^}]*))?\}")


def _compose() -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load(COMPOSE_FILE.read_text())
    return document


def _env_example() -> dict[str, str]:
    values = {}
    for line in ENV_EXAMPLE.read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            name, _, value = line.partition("=")
            values[name.strip()] = value.strip()
    return values


def _interpolate(value: Any, env: dict[str, str]) -> Any:
    """Compose's variable substitution (``${X}``, ``${X:-default}``, ``${X:?error}``, ``$$``) on every string."""
    if isinstance(value, dict):
        return {key: _interpolate(item, env) for key, item in value.items()}
    if isinstance(value, list):
        return [_interpolate(item, env) for item in value]
    if not isinstance(value, str):
        return value

    def substitute(match: re.Match[str]) -> str:
        name, op, arg = match["name"], match["op"], match["arg"]
        found = env.get(name)
        if op in (":-", "-"):
            return found if found not in (None, "") or (op == "-" and found is not None) else arg
        if op in (":?", "?") and not found:
            raise AssertionError(f"required variable {name} unset: {arg}")
        return found or ""

    return VARIABLE.sub(substitute, value.replace("$$", "\0")).replace("\0", "$")


def _errors(document: dict[str, Any]) -> list[str]:
    validator = jsonschema.Draft7Validator(SCHEMA, format_checker=jsonschema.Draft7Validator.FORMAT_CHECKER)
    return [f"{'/'.join(map(str, error.absolute_path))}: {error.message}" for error in validator.iter_errors(document)]


def test_the_compose_file_follows_the_compose_specification() -> None:
    assert _errors(_compose()) == []


def test_the_compose_file_interpolated_with_the_example_env_follows_it_too() -> None:
    resolved = _interpolate(_compose(), _env_example())
    assert _errors(resolved) == []
    assert resolved["services"]["proxy"]["ports"] == ["127.0.0.1:8000:8080"]  # loopback unless chosen
    assert resolved["services"]["distillery"]["group_add"] == ["999"]


def test_the_schema_rejects_what_compose_would() -> None:
    broken = copy.deepcopy(_compose())
    broken["services"]["proxy"]["ports"] = "8000:8080"
    broken["services"]["db"]["restart_policy"] = "always"
    broken["services"]["distillery"]["depends_on"]["migrate"]["condition"] = "service_done"
    errors = _errors(broken)
    assert any("services/proxy/ports" in error for error in errors), errors
    assert any("restart_policy" in error for error in errors), errors
    assert any(error.startswith("services/distillery/depends_on:") for error in errors), errors


def test_every_variable_is_in_the_example_env_and_no_secret_is_in_the_compose_file() -> None:
    text = COMPOSE_FILE.read_text()
    used = {match["name"] for match in VARIABLE.finditer(text)}
    documented = set(_env_example())
    assert used - documented == set(), "variables the compose file reads but deploy/.env.example does not show"
    assert documented - used == set(), "variables in deploy/.env.example that the compose file never reads"
    assert _env_example()["POSTGRES_PASSWORD"] not in text
    compose = _compose()
    assert compose["services"]["db"]["environment"]["POSTGRES_PASSWORD"].startswith("${POSTGRES_PASSWORD:?")
    url = compose["x-distillery"]["environment"]["DISTILLERY_DATABASE_URL"]
    assert re.fullmatch(r"postgresql://distillery:\$\{POSTGRES_PASSWORD:\?[^}]*\}@db:5432/distillery", url)
    assert "/.env" in (REPO_ROOT / ".gitignore").read_text().splitlines()


def test_the_topology() -> None:
    services = _compose()["services"]
    assert set(services) == {"db", "migrate", "distillery", "proxy", "model", "cli"}
    db, migrate, replicas, proxy = services["db"], services["migrate"], services["distillery"], services["proxy"]
    assert db["image"].startswith("postgres:") and "healthcheck" in db
    assert any(volume.endswith(":/var/lib/postgresql/data") for volume in db["volumes"])
    assert migrate["command"] == ["distillery", "db", "upgrade"] and migrate["restart"] == "no"
    assert migrate["depends_on"] == {"db": {"condition": "service_healthy"}}
    assert replicas["depends_on"] == {"migrate": {"condition": "service_completed_successfully"}}
    assert replicas["deploy"]["replicas"] == 2
    assert replicas["environment"]["DISTILLERY_SANDBOX__BACKEND"] == "docker"
    assert any(volume.endswith(":/var/run/docker.sock") for volume in replicas["volumes"])
    assert proxy["image"].startswith("nginx:")
    assert proxy["depends_on"] == {"distillery": {"condition": "service_healthy"}}
    mounted = [volume.split(":")[0] for volume in proxy["volumes"]]
    assert mounted == ["./deploy/nginx.conf"] and NGINX_CONF.is_file()
    published = [name for name, service in services.items() if "ports" in service]
    assert published == ["proxy"], "only the proxy publishes a port"
    for name in ("model", "cli"):
        assert services[name]["profiles"] == ["local-model"]
    assert services["cli"]["environment"]["DISTILLERY_LLM__BASE_URL"] == "http://model:8811/v1"
    for name in ("db", "migrate", "distillery", "proxy"):
        assert "profiles" not in services[name]


def _block(conf: str, header: str) -> str:
    start = conf.index(header)
    depth = 0
    for index in range(conf.index("{", start), len(conf)):
        depth += {"{": 1, "}": -1}.get(conf[index], 0)
        if depth == 0:
            return conf[start:index + 1]
    raise AssertionError(f"unbalanced block {header!r}")


@pytest.mark.parametrize("location", ["location /mcp", "location /"])
def test_nginx_retries_on_the_next_replica(location: str) -> None:
    conf = re.sub(r"#.*", "", NGINX_CONF.read_text())
    upstream = _block(conf, "upstream distillery")
    assert re.search(r"server distillery:8000\b", upstream)  # the service name and the image's port
    block = _block(conf, f"{location} {{")
    assert "proxy_pass http://distillery;" in block
    retries = re.search(r"proxy_next_upstream ([^;]+);", block) or re.search(r"proxy_next_upstream ([^;]+);", conf)
    assert retries is not None and {"error", "timeout"} <= set(retries[1].split())


def test_nginx_streams_mcp_unbuffered_with_long_timeouts() -> None:
    block = _block(re.sub(r"#.*", "", NGINX_CONF.read_text()), "location /mcp {")
    assert "proxy_buffering off;" in block
    retries = re.search(r"proxy_next_upstream ([^;]+);", block)
    assert retries is not None and "non_idempotent" in retries[1].split()  # MCP requests are POSTs
    read = re.search(r"proxy_read_timeout (\d+)([smh]);", block)
    assert read is not None and int(read[1]) * {"s": 1, "m": 60, "h": 3600}[read[2]] >= 3600
