"""Build the docker sandbox's image from this machine's own Python, without pulling anything.

The image is a bare root filesystem made with ``docker import`` from a tarball written here:

- ``/opt/python``: the interpreter of ``sys.base_prefix`` and its standard library, minus the
  parts a tool never needs (tests, tkinter, idlelib, ensurepip, the static libpython, ...);
- ``/opt/python/lib/python3.X/site-packages``: the third-party packages the sandbox may import
  (the non-stdlib names in ``allowed_imports`` and ``preload_modules``, e.g. numpy, scipy, sympy)
  and what they require (mpmath), copied from this environment without their tests;
- the shared libraries all of that links against, found with ``ldd``, at the same paths;
- ``/opt/distillery/worker/`` (the ``toolbox.sandbox.worker`` package) and ``/opt/distillery/boot.py``,
  which makes the worker non-dumpable (a tool running as the same uid cannot ptrace it or read its
  file descriptors) and then runs the package's ``boot.py``.

The tag is ``<settings.docker_image>:<12 hex digits>``, a hash of the inputs (paths, sizes and
modification times of every file taken, the worker's source, this builder's version), so the
image is rebuilt only when one of them changes. Compiled ``.pyc`` files are kept: the root
filesystem is read-only, and without them every warm worker would compile sympy at start.
"""

from __future__ import annotations

import hashlib
import importlib.metadata as metadata
import io
import os
import re
import subprocess
import sys
import sysconfig
import tarfile
import tempfile
import threading
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO, Any

from toolbox.errors import SandboxError
from toolbox.logging import get_logger
from toolbox.settings import SandboxSettings

__all__ = ["IMAGE_PYTHON", "IMAGE_WORKER", "BuildPlan", "ensure_image", "plan_image"]

BUILDER_VERSION = "2"
PY_VER = f"{sys.version_info.major}.{sys.version_info.minor}"
IMAGE_PREFIX = "/opt/python"
IMAGE_PYTHON = f"{IMAGE_PREFIX}/bin/python{PY_VER}"
IMAGE_WORKER = "/opt/distillery/boot.py"
IMAGE_SITE = f"{IMAGE_PREFIX}/lib/python{PY_VER}/site-packages"
PYC_TAG = f".{sys.implementation.cache_tag}.pyc"

STDLIB_SKIP_TOP = {
    "site-packages", "dist-packages", "test", "tkinter", "idlelib", "ensurepip", "turtledemo", "lib2to3",
    "pydoc_data", "venv", "distutils", "__phello__", "turtle.py", "antigravity.py", "this.py",
}
SKIP_DIRS = {"__pycache__", "tests", "test", "testing_data", "idle_test"}
DYNLOAD_SKIP = re.compile(
    r"^(_test|_ctypes_test|_xxtestfuzz|_xxsubinterpreters|xxlimited|_tkinter|readline|_curses|nis|ossaudiodev|spwd)"
)
SITE_SKIP_SUFFIXES = (".pyx", ".pxd", ".c", ".cpp", ".h", ".f", ".f90", ".pyi")
BOOT_PY = '''"""Make the worker non-dumpable (no ptrace, no /proc/<pid>/fd for same-uid tools), then run it."""
import ctypes
import runpy
import sys

if ctypes.CDLL(None, use_errno=True).prctl(4, 0, 0, 0, 0) != 0:  # PR_SET_DUMPABLE = 0
    sys.exit("boot: prctl(PR_SET_DUMPABLE, 0) failed")
# Debian's own Python searches dist-packages, not site-packages: name the image's packages explicitly.
if SITE not in sys.path:
    sys.path.append(SITE)
sys.argv[0] = "/opt/distillery/worker/boot.py"
runpy.run_path("/opt/distillery/worker/boot.py", run_name="__main__")
'''.replace("SITE", repr(IMAGE_SITE))
WORKER_DIR = Path(__file__).with_name("worker")
ETC_PASSWD = "root:x:0:0:root:/nonexistent:/bin/false\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n"
ETC_GROUP = "root:x:0:\nnogroup:x:65534:\n"

_log = get_logger("sandbox.docker")
_lock = threading.Lock()
_ready: dict[tuple[str, str], str] = {}  # (engine id, tag) -> tag, for images known to exist


class BuildPlan:
    """What goes into the image: ``files`` maps an absolute path in the image to a host file."""

    def __init__(self, files: dict[str, str], texts: dict[str, str]) -> None:
        self.files = files
        self.texts = texts

    def fingerprint(self) -> str:
        """A hash of every input's path, size and mtime plus the generated files' text.

        System libraries found by ``ldd`` at build time are not part of it: the image carries its
        own copies, so it stays consistent when the host's change.
        """
        digest = hashlib.sha256(f"builder {BUILDER_VERSION}\n".encode())
        for dest in sorted(self.files):
            st = os.stat(self.files[dest])
            digest.update(f"{dest}\0{self.files[dest]}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
        for dest in sorted(self.texts):
            digest.update(f"{dest}\0".encode() + self.texts[dest].encode() + b"\n")
        return digest.hexdigest()


def _walk(root: Path, dest: str, *, skip_top: Iterable[str] = ()) -> Iterator[tuple[str, str]]:
    """(image path, host path) for the files under ``root``, without tests or foreign bytecode."""
    skip = set(skip_top)
    for dirpath, dirnames, filenames in os.walk(root):
        rel = os.path.relpath(dirpath, root)
        top = rel == "."
        dirnames[:] = sorted(d for d in dirnames if not (top and d in skip) and d not in SKIP_DIRS
                             and not (top and d.startswith("config-")))
        if os.path.basename(dirpath) == "__pycache__":
            continue
        for name in sorted(filenames):
            if (top and name in skip) or name.endswith(SITE_SKIP_SUFFIXES):
                continue
            host = os.path.join(dirpath, name)
            yield os.path.normpath(os.path.join(dest, rel, name)), host
        cache = os.path.join(dirpath, "__pycache__")
        if os.path.isdir(cache):  # keep only this interpreter's plain .pyc (no opt-1/opt-2)
            for name in sorted(os.listdir(cache)):
                if name.endswith(PYC_TAG) and os.path.exists(os.path.join(dirpath, name[: -len(PYC_TAG)] + ".py")):
                    yield os.path.normpath(os.path.join(dest, rel, "__pycache__", name)), os.path.join(cache, name)


def _third_party(settings: SandboxSettings) -> list[metadata.Distribution]:
    """Installed distributions providing the allowed non-stdlib modules, with their requirements."""
    wanted = {n.split(".")[0] for n in [*settings.allowed_imports, *settings.preload_modules]}
    by_module = metadata.packages_distributions()
    queue = sorted({d for n in wanted if n not in sys.stdlib_module_names for d in by_module.get(n, [])})
    seen: dict[str, metadata.Distribution] = {}
    while queue:
        name = queue.pop()
        key = re.sub(r"[-_.]+", "-", name).lower()
        if key in seen:
            continue
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            continue
        seen[key] = dist
        for req in dist.requires or []:
            if "extra" in req.partition(";")[2]:
                continue
            match = re.match(r"[A-Za-z0-9._-]+", req)
            if match:
                queue.append(match.group(0))
    return [seen[k] for k in sorted(seen)]


def _dist_tops(dist: metadata.Distribution) -> list[Path]:
    """The top-level files and folders a distribution installed into site-packages."""
    base = Path(str(dist.locate_file("")))
    tops = {Path(str(f)).parts[0] for f in dist.files or [] if Path(str(f)).parts[0] not in ("..", "__pycache__")}
    return [base / t for t in sorted(tops) if (base / t).exists()]


def _ldd(paths: list[str]) -> tuple[set[str], list[str]]:
    """Shared libraries (resolved paths) that ``paths`` need, and the names ldd could not find."""
    found: set[str] = set()
    missing: list[str] = []
    for i in range(0, len(paths), 200):
        out = subprocess.run(["ldd", *paths[i:i + 200]], capture_output=True, text=True, check=False).stdout
        for line in out.splitlines():
            line = line.strip()
            if "=> not found" in line:
                missing.append(line.split()[0])
            elif "=>" in line:
                target = line.split("=>", 1)[1].split("(")[0].strip()
                if target.startswith("/"):
                    found.add(target)
            elif line.startswith("/") and "(" in line:  # the dynamic loader
                found.add(line.split("(")[0].strip())
    return found, sorted(set(missing))


def worker_sources() -> dict[str, str]:
    """Image path -> text of every module of the worker package."""
    return {f"/opt/distillery/worker/{path.name}": path.read_text(encoding="utf-8")
            for path in sorted(WORKER_DIR.glob("*.py"))}


def plan_image(settings: SandboxSettings, worker_files: dict[str, str] | None = None) -> BuildPlan:
    """Decide every file of the image (no docker calls); raises SandboxError if Python is unusable."""
    base = Path(sys.base_prefix)
    python = base / "bin" / f"python{PY_VER}"
    stdlib = Path(sysconfig.get_paths(vars={"installed_base": str(base), "base": str(base)})["stdlib"])
    if not python.exists() or not (stdlib / "os.py").exists():
        raise SandboxError(f"cannot build the sandbox image: no Python {PY_VER} under {base}")
    files: dict[str, str] = {IMAGE_PYTHON: str(python)}
    files.update(_walk(stdlib, f"{IMAGE_PREFIX}/lib/python{PY_VER}", skip_top=STDLIB_SKIP_TOP))
    files = {d: h for d, h in files.items() if not (
        "/lib-dynload/" in d and DYNLOAD_SKIP.match(os.path.basename(d)))}
    for dist in _third_party(settings):
        for top in _dist_tops(dist):
            if top.is_dir():
                files.update(_walk(top, f"{IMAGE_SITE}/{top.name}"))
            else:
                files[f"{IMAGE_SITE}/{top.name}"] = str(top)
    soname = sysconfig.get_config_var("INSTSONAME")
    if sysconfig.get_config_var("Py_ENABLE_SHARED") and soname and (base / "lib" / soname).exists():
        files[f"/usr/lib/{soname}"] = str(base / "lib" / soname)  # found by the loader without the host's RUNPATH
    texts = {**(worker_sources() if worker_files is None else worker_files), IMAGE_WORKER: BOOT_PY,
             "/etc/passwd": ETC_PASSWD, "/etc/group": ETC_GROUP}
    return BuildPlan(files, texts)


def _add_shared_libraries(plan: BuildPlan) -> list[str]:
    """Add the system libraries the plan's binaries link against; returns those ldd cannot find."""
    binaries = [h for d, h in plan.files.items() if d == IMAGE_PYTHON or ".so" in os.path.basename(h)]
    libs, missing = _ldd(binaries)
    inside = {os.path.realpath(h) for h in plan.files.values()}
    names = {os.path.basename(d) for d in plan.files}
    for lib in sorted(libs):
        if os.path.realpath(lib) not in inside:
            plan.files[lib] = lib
    # A bundled library (numpy.libs, scipy.libs) may name a sibling it finds through its loader's RPATH.
    return [m for m in missing if m not in names]


def _write_tar(plan: BuildPlan, fh: IO[bytes]) -> None:
    """Write the root filesystem as a tar stream (root-owned, nothing world-writable but /tmp)."""
    dirs: set[str] = set()

    def add_dir(path: str, mode: int = 0o755) -> None:
        if path in ("", "/") or path in dirs:
            return
        add_dir(os.path.dirname(path))
        dirs.add(path)
        info = tarfile.TarInfo(path.lstrip("/"))
        info.type, info.mode, info.mtime = tarfile.DIRTYPE, mode, int(time.time())
        tar.addfile(info)

    with tarfile.open(fileobj=fh, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for special, mode in (("/tmp", 0o1777), ("/proc", 0o555), ("/sys", 0o555), ("/dev", 0o755),
                              ("/etc", 0o755), ("/usr/bin", 0o755), ("/bin", 0o755)):
            add_dir(special, mode)
        for dest in sorted(plan.files):
            host = plan.files[dest]
            st = os.stat(host)
            add_dir(os.path.dirname(dest))
            info = tarfile.TarInfo(dest.lstrip("/"))
            info.size, info.mtime = st.st_size, int(st.st_mtime)
            info.mode = 0o755 if st.st_mode & 0o111 else 0o644
            with open(host, "rb") as src:
                tar.addfile(info, src)
        for dest, text in sorted(plan.texts.items()):
            add_dir(os.path.dirname(dest))
            data = text.encode()
            info = tarfile.TarInfo(dest.lstrip("/"))
            info.size, info.mode, info.mtime = len(data), 0o644, int(time.time())
            tar.addfile(info, io.BytesIO(data))
        for link, target in ((f"{IMAGE_PREFIX}/bin/python3", f"python{PY_VER}"),
                             (f"{IMAGE_PREFIX}/bin/python", f"python{PY_VER}")):
            info = tarfile.TarInfo(link.lstrip("/"))
            info.type, info.linkname, info.mode = tarfile.SYMTYPE, target, 0o777
            tar.addfile(info)


def ensure_image(client: Any, settings: SandboxSettings) -> str:
    """Return the tag of an up-to-date sandbox image, building and importing it if needed."""
    plan = plan_image(settings)
    tag = f"{settings.docker_image}:{plan.fingerprint()[:12]}"
    with _lock:
        engine = _engine_id(client)
        if _ready.get((engine, tag)):
            return tag
        try:
            client.images.get(tag)
            _ready[(engine, tag)] = tag
            return tag
        except Exception as exc:
            if type(exc).__name__ != "ImageNotFound":
                raise SandboxError(f"cannot query the Docker engine for image {tag}: {exc}") from exc
        start = time.monotonic()
        missing = _add_shared_libraries(plan)
        if missing:
            _log.warning("sandbox image: libraries not found on this machine: %s", ", ".join(missing))
        with tempfile.TemporaryFile(prefix="distillery-rootfs-") as fh:
            _write_tar(plan, fh)
            fh.seek(0)
            repo, _, version = tag.rpartition(":")
            changes = [
                f"ENV PATH={IMAGE_PREFIX}/bin:/usr/bin:/bin", "ENV LANG=C.UTF-8", "USER 65534:65534", "WORKDIR /tmp",
                f"LABEL distillery.sandbox.image=1 distillery.sandbox.fingerprint={version}",
                f'CMD ["{IMAGE_PYTHON}", "-I", "{IMAGE_WORKER}"]',
            ]
            try:
                client.api.import_image(src=fh, repository=repo, tag=version, changes=changes)
                client.images.get(tag)
            except Exception as exc:
                raise SandboxError(f"cannot import the sandbox image {tag} into the Docker engine: {exc}") from exc
        _log.info("built sandbox image %s (%d files) in %.1f s", tag, len(plan.files), time.monotonic() - start)
        _ready[(engine, tag)] = tag
        _prune(client, repo, tag)
        return tag


def _prune(client: Any, repo: str, keep: str) -> None:
    """Remove older builds of the sandbox image that no container uses (best effort)."""
    try:
        images = client.api.images(name=repo, filters={"label": "distillery.sandbox.image=1"})
    except Exception as exc:
        _log.debug("cannot list old sandbox images: %s", exc)
        return
    for image in images:
        tags = image.get("RepoTags") or []
        if keep in tags:
            continue
        try:
            client.api.remove_image(image["Id"])
            _log.info("removed old sandbox image %s", ", ".join(tags) or image["Id"][:19])
        except Exception as exc:  # still used by a container (another process's pool): keep it
            _log.debug("kept old sandbox image %s: %s", tags, exc)


def _engine_id(client: Any) -> str:
    try:
        return str(client.info().get("ID", ""))
    except Exception:
        return ""
