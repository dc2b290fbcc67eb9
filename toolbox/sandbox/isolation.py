"""Isolation levels for the process backend: probing, worker command lines and ``doctor_report``.

Levels, strongest first:

* ``bwrap`` — bubblewrap: new PID, network, IPC, UTS, mount and cgroup namespaces; the filesystem is
  only read-only binds of /usr, the Python installation and the venv, plus a private tmpfs /tmp.
  As root the worker runs without a user namespace and drops each call to a per-worker uid (so
  RLIMIT_NPROC binds); without root bubblewrap adds an unprivileged user namespace instead.
* ``unshare`` — util-linux unshare: new PID, network, IPC, UTS and mount namespaces, but the host
  filesystem stays visible (only Unix permissions of the dropped uid protect it).
* ``none`` — rlimits and the uid drop only: network and filesystem are NOT isolated.

A level that cannot run here raises ``IsolationUnavailable``; nothing falls back silently.
"""

from __future__ import annotations

import importlib
import os
import shutil
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from toolbox.errors import IsolationUnavailable
from toolbox.settings import SandboxSettings

__all__ = [
    "LEVELS",
    "WORKER_BOOT",
    "WORKER_DIR",
    "LaunchPlan",
    "LevelProbe",
    "doctor_report",
    "plan_launch",
    "probe_level",
    "worker_env",
]

LEVELS: tuple[str, ...] = ("bwrap", "unshare", "none")
WORKER_DIR = Path(__file__).with_name("worker")
WORKER_BOOT = WORKER_DIR / "boot.py"
SANDBOX_WORKER_DIR = "/sandbox/worker"
PROBE_TIMEOUT_S = 10.0
_CAPS = ("CAP_SETUID", "CAP_SETGID", "CAP_KILL", "CAP_DAC_OVERRIDE", "CAP_FOWNER", "CAP_CHOWN")
_NAMESPACES = ("--unshare-pid", "--unshare-net", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try")


@dataclass(frozen=True)
class LevelProbe:
    """Whether a level works on this machine, and why (or how to get it)."""

    available: bool
    detail: str


def worker_env() -> dict[str, str]:
    """The whole environment a worker starts with (nothing of the host's leaks in)."""
    return {
        "PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8",
        "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
    }


def _is_root() -> bool:
    return os.geteuid() == 0


def _ro_binds() -> list[str]:
    """bwrap arguments that show /usr, the Python installation and the venv read-only, nothing else."""
    args: list[str] = ["--ro-bind", "/usr", "/usr"]
    for name in ("bin", "sbin", "lib", "lib32", "lib64", "libx32"):
        top = Path("/") / name
        if top.is_symlink():
            args += ["--symlink", os.readlink(top), str(top)]
        elif top.is_dir():
            args += ["--ro-bind", str(top), str(top)]
    made: set[str] = {"/", "/usr", "/tmp", "/proc", "/dev"}
    bound: list[Path] = [Path("/usr")]
    for prefix in dict.fromkeys([sys.base_prefix, sys.prefix, str(Path(sys.executable).parent)]):
        path = Path(prefix)
        real = str(path)
        if any(path == b or b in path.parents for b in bound):
            continue
        bound.append(path)
        for parent in reversed(Path(real).parents):
            if str(parent) not in made:
                args += ["--perms", "0755", "--dir", str(parent)]
                made.add(str(parent))
        if real not in made:
            args += ["--ro-bind", real, real]
            made.add(real)
    return args


def _bwrap_prefix(bwrap: str, tmpfs_bytes: int) -> list[str]:
    args = [bwrap, *_NAMESPACES, "--die-with-parent", "--new-session", "--hostname", "sandbox"]
    if _is_root():
        args += ["--cap-drop", "ALL"]
        for cap in _CAPS:
            args += ["--cap-add", cap]
    else:
        args += ["--unshare-user"]
    # The private /tmp comes first: binds of a Python or venv that lives under /tmp go on top of it.
    args += ["--perms", "1777", "--size", str(tmpfs_bytes), "--tmpfs", "/tmp"]
    args += _ro_binds()
    args += ["--proc", "/proc", "--dev", "/dev"]
    args += ["--chdir", "/tmp", "--clearenv"]
    for key, value in worker_env().items():
        args += ["--setenv", key, value]
    return args


def _unshare_prefix(unshare: str) -> list[str]:
    args = [unshare, "--net", "--pid", "--fork", "--mount-proc", "--ipc", "--uts", "--kill-child"]
    if not _is_root():
        args += ["--user", "--map-root-user"]
    return [*args, "--"]


@dataclass(frozen=True)
class LaunchPlan:
    """How to start sandbox workers at one level."""

    level: str
    detail: str
    bwrap: str | None = None
    unshare: str | None = None
    run_as_uid: int | None = None
    tmpfs_bytes: int = 64 << 20
    scratch_root: str = "/tmp"

    def sandboxed(self, kind: str, options: Sequence[str], *, private_tmp: bool = False,
                  boot: Path = WORKER_BOOT) -> list[str]:
        """The argv that starts worker ``kind`` (``call`` or ``session``) with ``options``, isolated at this level.

        ``boot`` is the entry script (tests point it at a wrapper next to the real one).
        """
        if self.level == "bwrap":
            assert self.bwrap is not None
            inside = f"{SANDBOX_WORKER_DIR}/{boot.name}"
            extra = ["--pidns", "--private-tmp"] if private_tmp else ["--pidns"]
            return [*_bwrap_prefix(self.bwrap, self.tmpfs_bytes), "--ro-bind", str(boot.parent), SANDBOX_WORKER_DIR,
                    sys.executable, "-I", inside, kind, *extra, *options]
        worker = [sys.executable, "-I", str(boot), kind, "--scratch-root", self.scratch_root, *options]
        if self.level == "unshare":
            assert self.unshare is not None
            return [*_unshare_prefix(self.unshare), *worker, "--pidns"]
        return [*worker, "--die-with-parent"]

    def command(self, preload: Sequence[str], uid: int | None = None) -> list[str]:
        """The argv of a call worker that preloads ``preload`` and drops calls to ``uid`` (None: the host's uid)."""
        options = ["--preload", ",".join(preload)]
        if uid is not None:
            options += ["--uid", str(uid)]
        return self.sandboxed("call", options, private_tmp=True)


def _run_probe(argv: Sequence[str]) -> tuple[bool, str]:
    try:
        proc = subprocess.run(list(argv), capture_output=True, timeout=PROBE_TIMEOUT_S, env=worker_env(),
                              stdin=subprocess.DEVNULL, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return False, f"{type(exc).__name__}: {exc}"
    err = proc.stderr.decode(errors="replace").strip()[-500:]
    return proc.returncode == 0, err or f"exit code {proc.returncode}"


def probe_level(level: str, *, bwrap_path: str | None = None, unshare_path: str | None = None) -> LevelProbe:
    """Check that ``level`` really runs here (the binary exists and a sandboxed ``python`` starts)."""
    python_ok = [sys.executable, "-I", "-c", "pass"]
    if level == "bwrap":
        bwrap = bwrap_path or shutil.which("bwrap")
        if not bwrap or not os.access(bwrap, os.X_OK):
            return LevelProbe(False, "bubblewrap is not installed: `apt-get install bubblewrap` (Debian/Ubuntu) or "
                                     "`dnf install bubblewrap`, or set DISTILLERY_SANDBOX__ISOLATION=unshare|none "
                                     "(weaker) or DISTILLERY_SANDBOX__BACKEND=docker")
        ok, why = _run_probe([*_bwrap_prefix(bwrap, 1 << 20), *python_ok])
        if not ok:
            return LevelProbe(False, f"{bwrap} is installed but cannot create namespaces here ({why}); enable "
                                     "unprivileged user namespaces (sysctl kernel.unprivileged_userns_clone=1) or run "
                                     "as root, or choose DISTILLERY_SANDBOX__ISOLATION=unshare|none")
        who = "root: calls drop to per-worker uids" if _is_root() else "unprivileged user namespace, no uid drop"
        return LevelProbe(True, f"{bwrap}: pid/net/ipc/uts/mount namespaces, read-only /usr + Python, private /tmp "
                                f"({who})")
    if level == "unshare":
        unshare = unshare_path or shutil.which("unshare")
        if not unshare or not os.access(unshare, os.X_OK):
            return LevelProbe(False, "unshare (util-linux) is not installed: `apt-get install util-linux`, or set "
                                     "DISTILLERY_SANDBOX__ISOLATION=none")
        ok, why = _run_probe([*_unshare_prefix(unshare), *python_ok])
        if not ok:
            return LevelProbe(False, f"{unshare} cannot create namespaces here ({why}); run as root or enable user "
                                     "namespaces, or set DISTILLERY_SANDBOX__ISOLATION=none")
        return LevelProbe(True, f"{unshare}: pid/net/ipc/uts namespaces; WEAKER: the host filesystem stays visible "
                                "(only Unix permissions of the call's uid protect it)")
    if level == "none":
        uid = "calls drop to per-worker uids" if _is_root() else "calls keep the host user's uid"
        return LevelProbe(True, f"rlimits only ({uid}); NOT isolated: network and filesystem are reachable")
    raise IsolationUnavailable(f"unknown isolation level {level!r}; choose one of {', '.join(LEVELS)}")


def plan_launch(settings: SandboxSettings, *, bwrap_path: str | None = None, unshare_path: str | None = None,
                scratch_root: str = "/tmp") -> LaunchPlan:
    """Probe the configured level and return how to start workers; raises ``IsolationUnavailable``."""
    level = settings.isolation
    probe = probe_level(level, bwrap_path=bwrap_path, unshare_path=unshare_path)
    if not probe.available:
        raise IsolationUnavailable(f"sandbox isolation {level!r} is unavailable: {probe.detail}")
    return LaunchPlan(
        level=level, detail=probe.detail,
        bwrap=(bwrap_path or shutil.which("bwrap")) if level == "bwrap" else None,
        unshare=(unshare_path or shutil.which("unshare")) if level == "unshare" else None,
        run_as_uid=settings.run_as_uid if _is_root() else None,
        tmpfs_bytes=max(64, 4 * settings.max_file_size_mb) << 20, scratch_root=scratch_root,
    )


def doctor_report(settings: SandboxSettings) -> dict[str, Any]:
    """What each isolation level (and docker, when its backend module offers ``probe()``) can do here."""
    levels: dict[str, dict[str, Any]] = {}
    for level in LEVELS:
        probe = probe_level(level)
        levels[level] = {"available": probe.available, "detail": probe.detail}
    try:
        docker = importlib.import_module("toolbox.sandbox.docker")
        available, detail = docker.probe()
        levels["docker"] = {"available": bool(available), "detail": str(detail)}
    except ImportError:
        levels["docker"] = {"available": False, "detail": "the docker backend is not part of this installation"}
    except Exception as exc:
        levels["docker"] = {"available": False, "detail": f"docker probe failed: {type(exc).__name__}: {exc}"}
    configured = "docker" if settings.backend == "docker" else settings.isolation
    return {
        "backend": settings.backend, "configured": configured,
        "configured_available": levels[configured]["available"], "levels": levels,
        "running_as_root": _is_root(), "python": sys.executable, "workers": settings.workers,
        "run_as_uids": (f"leased from {settings.run_as_uid} up, one per worker" if _is_root() else None),
    }
