"""The docker sandbox backend against a real engine: calls, containment and clean-up.

Skips, saying why, where no engine can be reached even after one try of ``scripts/docker-engine.sh``;
fails instead when ``DISTILLERY_TEST_DOCKER=required`` (``scripts/dev.sh`` sets it once it has
started the engine), where a skip would hide a broken setup.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from toolbox.sandbox.base import CancelToken, Limits, RunResult
from toolbox.sandbox.docker import (
    LABEL,
    OWNER_LABEL,
    POOL_LABEL,
    DockerSandbox,
    connect_engine,
    probe,
    remove_stale_containers,
)
from toolbox.settings import SandboxSettings
from toolbox.spec import ToolSpec

pytestmark = pytest.mark.docker

ROOT = Path(__file__).resolve().parents[3]
SECRET_ENV = "DISTILLERY_SECRET_X"


def _spec(source: str, entrypoint: str = "f") -> ToolSpec:
    return ToolSpec(name="tool", source=source, entrypoint=entrypoint)


def _settings(**overrides: Any) -> SandboxSettings:
    values: dict[str, Any] = {"backend": "docker", "workers": 2, "timeout_s": 5.0, "cpu_s": 3, "memory_mb": 256,
                              "max_processes": 32, "preload_modules": ["numpy"]}
    values.update(overrides)
    return SandboxSettings.model_validate(values)


def _limits(**overrides: Any) -> Limits:
    values: dict[str, Any] = {"timeout_s": 2.0, "cpu_s": 1, "memory_mb": 128, "max_processes": 16}
    values.update(overrides)
    return Limits.model_validate(values)


def _must_have_engine(reason: str) -> None:
    if os.environ.get("DISTILLERY_TEST_DOCKER") == "required":
        pytest.fail(f"a Docker engine is required here but unreachable: {reason}")
    pytest.skip(f"no Docker engine: {reason}")


def _ping() -> tuple[Any | None, str]:
    try:
        return connect_engine(30), ""
    except Exception as exc:
        return None, f"{type(exc).__name__}: {exc}"


@pytest.fixture(scope="module")
def client() -> Iterator[Any]:
    """A docker client for a reachable engine, starting one with scripts/docker-engine.sh if needed."""
    found, reason = _ping()
    if found is None:
        script = subprocess.run(["bash", str(ROOT / "scripts" / "docker-engine.sh")], capture_output=True,
                                text=True, timeout=300, check=False)
        found, reason = _ping()
        if found is None:
            _must_have_engine(f"{reason}; scripts/docker-engine.sh said: {(script.stdout + script.stderr).strip()}")
    assert found is not None
    yield found
    found.close()


@pytest.fixture(scope="module")
def box(client: Any) -> Iterator[DockerSandbox]:
    """A 2-container pool started while the host process holds a secret in its environment."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(SECRET_ENV, "hunter2-env")
        sandbox = DockerSandbox(_settings(), client=client)
        try:
            sandbox.start()
            yield sandbox
        finally:
            sandbox.close()


def _eventually(check: Any, timeout_s: float = 20.0) -> bool:
    """Poll ``check()`` until it is true (background clean-up) or ``timeout_s`` passes."""
    end = time.monotonic() + timeout_s
    while not check():
        if time.monotonic() > end:
            return False
        time.sleep(0.1)
    return True


def _serves(box: DockerSandbox, times: int = 3) -> None:
    """The pool still answers ordinary calls (on every container, given enough calls)."""
    for i in range(times):
        result = box.run(_spec("def f(x):\n    return x + 1\n"), {"x": i})
        assert result.ok, result.error
        assert result.value == i + 1


def test_probe_reports_a_reachable_engine(client: Any) -> None:
    available, detail = probe()
    assert available
    assert "Docker engine" in detail


def test_ordinary_call_returns_value_and_output(box: DockerSandbox) -> None:
    source = "import numpy as np\ndef f(xs):\n    print('summing', len(xs))\n    return float(np.sum(xs))\n"
    result = box.run(_spec(source), {"xs": [1, 2, 3.5]})
    assert result.ok, result.error
    assert result.value == 6.5
    assert result.stdout == "summing 3\n"
    assert result.isolation == "docker" == box.isolation


def test_state_does_not_leak_between_calls(box: DockerSandbox) -> None:
    poison = ("import builtins, json\ndef f():\n    builtins.LEAK = 1\n    json.LEAK = 1\n"
              "    open('/tmp/leak.txt', 'w').write('x')\n    return 'set'\n")
    probe_src = ("import builtins, json, os\ndef f():\n"
                 "    return [hasattr(builtins, 'LEAK'), hasattr(json, 'LEAK'), os.path.exists('/tmp/leak.txt')]\n")
    for _ in range(3):  # more calls than containers: every container gets poisoned and probed
        assert box.run(_spec(poison), {}).value == "set"
    for _ in range(4):
        result = box.run(_spec(probe_src), {})
        assert result.ok, result.error
        assert result.value == [False, False, False]


def test_tool_exception_has_trimmed_traceback(box: DockerSandbox) -> None:
    source = "def helper(x):\n    raise ValueError(f'bad {x}')\n\ndef f(x):\n    return helper(x)\n"
    result = box.run(_spec(source), {"x": 7})
    assert not result.ok and result.error is not None
    assert result.error.type == "ValueError"
    assert result.error.message == "bad 7"
    assert "line 2, in helper" in result.error.traceback
    assert "worker" not in result.error.traceback and "/opt/" not in result.error.traceback


def test_timeout_then_next_call_succeeds(box: DockerSandbox) -> None:
    result = box.run(_spec("import time\ndef f():\n    time.sleep(60)\n"), {}, _limits(timeout_s=1.0))
    assert not result.ok and result.error is not None
    assert result.error.type == "Timeout"
    _serves(box)


def test_hung_worker_is_killed_and_replaced(box: DockerSandbox, client: Any) -> None:
    before = set(box.container_names())
    source = "import os, signal\ndef f():\n    os.kill(os.getppid(), signal.SIGSTOP)\n    return 'stopped it'\n"
    result = box.run(_spec(source), {}, _limits(timeout_s=1.0))
    assert not result.ok and result.error is not None
    assert result.error.type == "Timeout"
    assert "killed" in result.error.message
    _serves(box)
    gone = before - set(box.container_names())
    assert len(gone) == 1
    name = gone.pop()
    assert _eventually(lambda: not client.api.containers(all=True, filters={"name": name}))


def test_memory_bomb_is_contained(box: DockerSandbox) -> None:
    result = box.run(_spec("def f():\n    x = bytearray(4 << 30)\n    return len(x)\n"), {})
    assert not result.ok and result.error is not None
    assert result.error.type == "MemoryLimit"
    _serves(box)


def test_fork_bomb_hits_the_process_limit(box: DockerSandbox) -> None:
    source = (
        "import os, time\ndef f():\n    n = 0\n    try:\n        for _ in range(500):\n"
        "            if os.fork() == 0:\n                time.sleep(60)\n                os._exit(0)\n"
        "            n += 1\n    except OSError as exc:\n        return [n, type(exc).__name__]\n    return [n, None]\n"
    )
    result = box.run(_spec(source), {}, _limits(timeout_s=5.0, max_processes=16))
    assert result.ok, result.error
    forked, error = result.value
    assert error is not None
    assert forked <= 32 + 8  # settings.max_processes + the container's headroom
    count = "import os\ndef f():\n    return sorted(int(p) for p in os.listdir('/proc') if p.isdigit())\n"
    for _ in range(2):  # the leftovers were killed: tini, the worker and this call's process remain
        pids = box.run(_spec(count), {}).value
        assert len(pids) <= 3, pids


def test_network_is_blocked(box: DockerSandbox) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        port = listener.getsockname()[1]
        source = (
            "import socket\ndef f(port):\n    out = {}\n"
            "    for host in ('127.0.0.1', '172.17.0.1', '10.0.2.2'):\n        try:\n"
            "            socket.create_connection((host, port), timeout=1).close()\n"
            "            out[host] = 'connected'\n        except OSError as exc:\n"
            "            out[host] = type(exc).__name__\n    return out\n"
        )
        result = box.run(_spec(source), {"port": port}, _limits(timeout_s=5.0))
        assert result.ok, result.error
        assert "connected" not in result.value.values(), result.value
        listener.settimeout(0.2)
        with pytest.raises(TimeoutError):
            listener.accept()


def test_host_secrets_are_invisible(box: DockerSandbox, tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("hunter2-file")
    source = (
        "import os\ndef f(path):\n    seen = {'env': dict(os.environ)}\n"
        "    for p in (path, '/proc/1/environ', '/proc/self/environ', '/root/.bashrc', '/work', '/etc/shadow'):\n"
        "        try:\n            with open(p, 'rb') as fh:\n                seen[p] = fh.read().decode('latin-1')\n"
        "        except OSError as exc:\n            seen[p] = type(exc).__name__\n    return seen\n"
    )
    assert os.environ.get(SECRET_ENV) == "hunter2-env"  # the host process holds it right now
    result = box.run(_spec(source), {"path": str(secret)})
    assert result.ok, result.error
    assert set(result.value["env"]) <= {"PATH", "LANG"}
    assert result.value[str(secret)] == "FileNotFoundError"
    text = json.dumps(result.value)
    assert "hunter2" not in text and SECRET_ENV not in text


def test_writes_outside_tmp_fail(box: DockerSandbox) -> None:
    source = (
        "def f():\n    out = {}\n"
        "    for p in ('/tmp/ok.txt', '/x.txt', '/etc/passwd', '/opt/python/bin/evil', '/dev/x'):\n"
        "        try:\n            with open(p, 'w') as fh:\n                fh.write('x')\n"
        "            out[p] = 'written'\n"
        "        except OSError as exc:\n            out[p] = type(exc).__name__\n    return out\n"
    )
    result = box.run(_spec(source), {})
    assert result.ok, result.error
    assert result.value.pop("/tmp/ok.txt") == "written"
    assert "written" not in result.value.values(), result.value


def test_killed_worker_gives_clear_error_and_pool_keeps_serving(box: DockerSandbox) -> None:
    result: RunResult = box.run(_spec("import os\ndef f():\n    os.kill(os.getppid(), 9)\n    return 'alive'\n"), {})
    assert not result.ok and result.error is not None
    assert result.error.type == "WorkerLost"
    assert "died" in result.error.message
    _serves(box, times=4)


@pytest.mark.parametrize("args", [[1, 2], "x", None])
def test_arguments_that_are_not_an_object(box: DockerSandbox, args: object) -> None:
    result = box.run(_spec("def f(*a):\n    return 'ran'\n"), args)  # type: ignore[arg-type]
    assert not result.ok and result.error is not None and result.error.type == "ArgumentsNotJSON", result


def test_cancel_during_the_call_frees_the_container(box: DockerSandbox) -> None:
    before = box.stats().replaced
    token = CancelToken()
    threading.Timer(1.0, token.cancel).start()
    result = box.run(_spec("import time\ndef f():\n    time.sleep(50)\n    return 'slept'\n"), {},
                     _limits(timeout_s=60, cpu_s=30), cancel=token)
    assert not result.ok and result.cancelled, result  # only the cancel can end a 50 s sleep under 60 s
    _serves(box, times=4)
    assert box.stats().replaced == before  # freed, not replaced


def test_cancel_before_and_after_the_call(box: DockerSandbox) -> None:
    early = CancelToken()
    early.cancel()
    result = box.run(_spec("def f():\n    return 'ran'\n"), {}, cancel=early)
    assert not result.ok and result.cancelled, result
    late = CancelToken()
    result = box.run(_spec("def f():\n    return 'ran'\n"), {}, cancel=late)
    late.cancel()
    assert result.ok and result.value == "ran"
    _serves(box)


def test_stale_containers_of_dead_owners_are_removed(client: Any, box: DockerSandbox) -> None:
    stale = client.containers.create(box.image, command=["true"], labels={
        LABEL: "1", OWNER_LABEL: f"{socket.gethostname()}:999999999:1"}, network_mode="none")
    foreign = client.containers.create(box.image, command=["true"], labels={
        LABEL: "1", OWNER_LABEL: "some-other-host:1:1"}, network_mode="none")
    try:
        assert remove_stale_containers(client) >= 1
        assert not client.api.containers(all=True, filters={"id": stale.id})
        assert client.api.containers(all=True, filters={"id": foreign.id})  # not ours to judge
        for name in box.container_names():  # a live owner's containers stay
            assert client.api.containers(filters={"name": name})
        _serves(box)
    finally:
        foreign.remove(force=True)


def test_one_container_per_lane_waits_for_cleanup_then_close_removes_them(client: Any) -> None:
    sandbox = DockerSandbox(_settings(workers=1, preload_modules=[]), client=client)
    assert sandbox.container_names() == []  # the constructor starts nothing
    leaver = ("import os, time\ndef f():\n    open('/tmp/left.txt', 'w').write('x')\n"
              "    if os.fork() == 0:\n        time.sleep(60)\n        os._exit(0)\n    return 'left'\n")
    look = ("import os\ndef f():\n    return [sorted(int(p) for p in os.listdir('/proc') if p.isdigit()),"
            " os.listdir('/tmp'), os.path.basename(os.getcwd())]\n")
    for _ in range(3):  # the first call starts the pool; each next request waits for the worker's clean-up
        assert sandbox.run(_spec(leaver), {}).value == "left"
        pids, tmp, scratch = sandbox.run(_spec(look), {}).value
        assert len(pids) <= 3, pids  # tini, the worker, this call's process
        assert tmp == [scratch], tmp  # only this call's own scratch directory
    names = sandbox.container_names()
    assert len(names) == 3  # one per lane: standard library, numpy, numpy/scipy/sympy
    pool = client.containers.get(names[0]).labels[POOL_LABEL]
    sandbox.close()
    assert not client.api.containers(all=True, filters={"label": f"{POOL_LABEL}={pool}"})
    running = {n.lstrip("/") for c in client.api.containers(filters={"label": f"{LABEL}=1"}) for n in c["Names"]}
    assert not running & set(names)
    with pytest.raises(Exception, match="closed"):
        sandbox.run(_spec("def f():\n    return 1\n"), {})
