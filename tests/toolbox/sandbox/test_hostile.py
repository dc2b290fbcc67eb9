"""Hostile tools: each is contained with a clear error, and the pool keeps serving afterwards."""

from __future__ import annotations

import os
import socket
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.toolbox.sandbox.conftest import UID_BASE, wait_until_idle
from toolbox.sandbox.base import Limits, RunResult
from toolbox.sandbox.process import ProcessSandbox
from toolbox.spec import ToolSpec

SpecFactory = Callable[..., ToolSpec]
LimitsFactory = Callable[..., Limits]


@dataclass(frozen=True)
class Case:
    """One hostile tool and the error types that count as contained."""

    name: str
    source: str
    errors: frozenset[str]
    limits: dict[str, object] = field(default_factory=dict)
    value_ok: bool = False


CASES = [
    Case("infinite_loop", "def f():\n    while True:\n        pass\n", frozenset({"Timeout", "CPULimit"}),
         {"cpu_s": 30}),
    Case("huge_power", "def f():\n    return 10**10**8\n", frozenset({"CPULimit", "Timeout"}), {"timeout_s": 5}),
    Case("memory_bomb", "def f():\n    x = bytearray(4 << 30)\n    return len(x)\n", frozenset({"MemoryLimit"})),
    Case("memory_bomb_list", "def f():\n    a = []\n    while True:\n        a.append(' ' * 10**6)\n",
         frozenset({"MemoryLimit"})),
    Case("numpy_memory_bomb", "import numpy as np\ndef f():\n    return np.ones(10**10).sum()\n",
         frozenset({"MemoryLimit"})),
    Case("deep_recursion", "def f(n=0):\n    return f(n + 1)\n", frozenset({"RecursionError"})),
    Case("deep_recursion_raised_limit",
         "import sys\nsys.setrecursionlimit(10**7)\ndef f(n=0):\n    return f(n + 1) + 1\n",
         frozenset(), {"timeout_s": 10, "cpu_s": 5}),  # any clear error: CPython fails in varied ways here
    Case("kill_parent", "import os\ndef f():\n    os.kill(os.getppid(), 9)\n    return 'survived'\n",
         frozenset({"PermissionError", "WorkerLost"})),
    Case("kill_everything", "import os\ndef f():\n    os.kill(-1, 9)\n    return 'only itself is left'\n",
         frozenset(), value_ok=True),
    Case("sys_exit", "import sys\ndef f():\n    sys.exit(3)\n", frozenset({"Exited"})),
    Case("os_exit", "import os\ndef f():\n    os._exit(0)\n", frozenset({"Exited"})),
    Case("ignore_signals",
         "import signal\ndef f():\n    for s in (signal.SIGALRM, signal.SIGTERM, signal.SIGXCPU, signal.SIGINT):\n"
         "        signal.signal(s, signal.SIG_IGN)\n    while True:\n        pass\n",
         frozenset({"Timeout", "CPULimit"})),
    Case("segfault", "import ctypes\ndef f():\n    return ctypes.string_at(0)\n", frozenset({"Crashed"})),
    Case("thread_bomb",
         "import threading, time\ndef f():\n    ts = []\n    for _ in range(10000):\n"
         "        t = threading.Thread(target=time.sleep, args=(60,))\n        t.start()\n        ts.append(t)\n"
         "    return len(ts)\n", frozenset({"RuntimeError", "MemoryLimit", "Timeout"})),
    Case("fork_bomb",
         "import os, time\ndef f():\n    for _ in range(10000):\n        try:\n            if os.fork() == 0:\n"
         "                os.setsid()\n                time.sleep(600)\n        except OSError:\n            break\n"
         "    return 'forked'\n", frozenset(), value_ok=True),
    Case("setsid_daemon",
         "import os, time\ndef f():\n    if os.fork() == 0:\n        os.setsid()\n        if os.fork() == 0:\n"
         "            time.sleep(600)\n        os._exit(0)\n    return 'daemonised'\n", frozenset(), value_ok=True),
    Case("non_json_set", "def f():\n    return {1, 2}\n", frozenset({"ResultNotJSON"})),
    Case("non_json_object", "class A:\n    pass\ndef f():\n    return A()\n", frozenset({"ResultNotJSON"})),
    Case("non_json_cycle", "def f():\n    a = []\n    a.append(a)\n    return a\n", frozenset({"ResultNotJSON"})),
    Case("non_json_nan", "def f():\n    return float('nan')\n", frozenset({"ResultNotJSON"})),
    Case("result_too_large", "def f():\n    return 'x' * (4 << 20)\n", frozenset({"ResultTooLarge"})),
    Case("dns_lookup", "import socket\ndef f():\n    return socket.getaddrinfo('example.com', 80)\n",
         frozenset({"gaierror", "OSError"})),
    Case("write_usr", "def f():\n    open('/usr/x', 'w').write('pwned')\n",
         frozenset({"OSError", "PermissionError"})),
    Case("read_etc_passwd", "def f():\n    return open('/etc/passwd').read()\n", frozenset({"FileNotFoundError"})),
    Case("read_project_source", f"def f():\n    return open({str(Path(__file__).resolve())!r}).read()\n",
         frozenset({"PermissionError", "FileNotFoundError"})),
]


def assert_contained(result: RunResult, case: Case) -> None:
    """The call ended with one of the expected errors (or a bounded value) and a readable message."""
    if case.value_ok:
        assert result.ok or (result.error is not None and result.error.message), result
        return
    assert not result.ok, f"{case.name} was not contained: {result}"
    assert result.error is not None, result
    assert not case.errors or result.error.type in case.errors, result.error
    assert result.error.message


def processes_of(uid: int) -> list[int]:
    """Host pids owned by ``uid`` (the sandbox's call uids are distinct per worker and per test session)."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if os.stat(f"/proc/{entry}").st_uid == uid:
                    found.append(int(entry))
            except OSError:
                continue
    return found


def assert_no_leftovers(box: ProcessSandbox, name: str) -> None:
    """Once idle, each worker's uid owns at most one process: the child pre-forked for its next call."""
    wait_until_idle(box)
    for uid in box.stats().uids:
        assert len(processes_of(uid)) <= 1, f"{name} left processes behind"


@pytest.fixture(scope="module")
def hostile_box() -> Iterator[ProcessSandbox]:
    """A 2-worker bwrap pool with tight limits, shared by every hostile case."""
    from toolbox.settings import SandboxSettings

    settings = SandboxSettings(workers=2, timeout_s=3, cpu_s=2, memory_mb=256, max_processes=16,
                               preload_modules=["numpy"], max_output_bytes=64 * 1024, run_as_uid=UID_BASE)
    box = ProcessSandbox(settings)
    box.start()
    yield box
    box.close()


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_hostile_case_is_contained(case: Case, hostile_box: ProcessSandbox, spec_factory: SpecFactory,
                                   limits_factory: LimitsFactory) -> None:
    result = hostile_box.run(spec_factory(case.source), {}, limits_factory(**case.limits))
    assert_contained(result, case)
    follow_up = hostile_box.run(spec_factory("def f(x: int) -> int:\n    return x + 1\n"), {"x": 1})
    assert follow_up.ok and follow_up.value == 2, follow_up
    if os.geteuid() == 0:
        assert_no_leftovers(hostile_box, case.name)


def test_ten_megabytes_of_output_is_truncated(hostile_box: ProcessSandbox, spec_factory: SpecFactory,
                                              limits_factory: LimitsFactory) -> None:
    source = "import sys\ndef f():\n    sys.stdout.write('z' * (10 << 20))\n    print('tail')\n    return 'done'\n"
    result = hostile_box.run(spec_factory(source), {}, limits_factory(max_output_bytes=4096))
    assert result.ok and result.value == "done"
    assert result.truncated and len(result.stdout) == 4096 and "tail" not in result.stdout


def test_killing_the_worker_keeps_the_pool_serving(hostile_box: ProcessSandbox, spec_factory: SpecFactory) -> None:
    before = hostile_box.stats()
    killer = spec_factory("import os, signal\ndef f():\n    os.kill(os.getppid(), signal.SIGKILL)\n    return 1\n")
    results = [hostile_box.run(killer, {}) for _ in range(3)]
    assert all(not r.ok for r in results)
    values = [hostile_box.run(spec_factory("def f(x):\n    return x\n"), {"x": i}).value for i in range(6)]
    assert values == list(range(6))
    after = hostile_box.stats()
    assert after.calls == before.calls + 9
    if os.geteuid() == 0:  # a dropped uid cannot signal the root worker: nothing had to be replaced
        assert after.replaced == before.replaced


def test_tcp_to_host_listener_is_blocked(hostile_box: ProcessSandbox, spec_factory: SpecFactory) -> None:
    with socket.create_server(("127.0.0.1", 0)) as server:
        server.setblocking(False)
        port = server.getsockname()[1]
        source = ("import socket\ndef f(port: int):\n    s = socket.create_connection(('127.0.0.1', port), timeout=1)\n"
                  "    s.sendall(b'leak')\n    return 'connected'\n")
        result = hostile_box.run(spec_factory(source), {"port": port})
        assert not result.ok and result.error is not None
        assert result.error.type in {"ConnectionRefusedError", "OSError", "TimeoutError"}, result.error
        with pytest.raises(BlockingIOError):
            server.accept()


def test_host_secret_file_is_invisible(hostile_box: ProcessSandbox, spec_factory: SpecFactory,
                                       tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("hunter2")
    secret.chmod(0o644)
    result = hostile_box.run(spec_factory("def f(path: str) -> str:\n    return open(path).read()\n"),
                             {"path": str(secret)})
    assert not result.ok and result.error is not None
    assert result.error.type in {"FileNotFoundError", "PermissionError"}
    assert "hunter2" not in result.model_dump_json()


def test_writes_outside_scratch_do_not_reach_the_host(hostile_box: ProcessSandbox, spec_factory: SpecFactory,
                                                      tmp_path: Path) -> None:
    target = tmp_path / "planted.txt"
    source = "def f(path: str) -> str:\n    open(path, 'w').write('planted')\n    return 'wrote'\n"
    result = hostile_box.run(spec_factory(source), {"path": str(target)})
    assert not result.ok and result.error is not None
    assert result.error.type in {"FileNotFoundError", "PermissionError", "OSError"}
    assert not target.exists()
    assert not Path("/usr/x").exists()


def test_host_environment_is_invisible(hostile_box: ProcessSandbox, spec_factory: SpecFactory,
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DISTILLERY_SECRET_TOKEN", "s3cr3t")
    source = "import os\ndef f() -> dict:\n    return dict(os.environ)\n"
    result = hostile_box.run(spec_factory(source), {})
    assert result.ok and "DISTILLERY_SECRET_TOKEN" not in result.value
    assert "s3cr3t" not in result.model_dump_json()


def test_tmp_files_do_not_survive_a_call(hostile_box: ProcessSandbox, spec_factory: SpecFactory) -> None:
    plant = spec_factory(
        "import os\ndef f():\n    open('/tmp/left-behind', 'w').write('x')\n    return os.listdir('/tmp')\n")
    look = spec_factory("import os\ndef f():\n    return os.listdir('/tmp')\n")
    assert "left-behind" in hostile_box.run(plant, {}).value
    for _ in range(2):  # both workers
        assert "left-behind" not in hostile_box.run(look, {}).value
