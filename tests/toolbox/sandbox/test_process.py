"""ProcessSandbox: ordinary calls, isolation between calls, output capture, errors, concurrency."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.toolbox.sandbox.conftest import UID_BASE, wait_until_idle
from toolbox.errors import IsolationUnavailable, SandboxError
from toolbox.sandbox import Sandbox, create_sandbox
from toolbox.sandbox.base import Limits
from toolbox.sandbox.isolation import WORKER_BOOT, WORKER_DIR, LaunchPlan, doctor_report
from toolbox.sandbox.process import ProcessSandbox
from toolbox.sandbox.procs import kill_uid
from toolbox.settings import SandboxSettings
from toolbox.spec import ToolSpec

SpecFactory = Callable[..., ToolSpec]


def test_ordinary_call_returns_value(sandbox: ProcessSandbox, spec_factory: SpecFactory) -> None:
    result = sandbox.run(spec_factory("def f(x: int) -> int:\n    return x * 2\n"), {"x": 21})
    assert result.ok and result.value == 42 and result.error is None
    assert result.isolation == "bwrap"
    assert result.peak_memory_bytes and result.peak_memory_bytes > 0


def test_is_a_sandbox(sandbox: ProcessSandbox) -> None:
    assert isinstance(sandbox, Sandbox)
    assert sandbox.isolation == "bwrap"


def test_numpy_results_become_json(sandbox: ProcessSandbox, spec_factory: SpecFactory) -> None:
    source = "import numpy as np\ndef f(n: int) -> list:\n    return np.arange(n) * 2\n"
    assert sandbox.run(spec_factory(source), {"n": 3}).value == [0, 2, 4]


def test_state_does_not_leak_between_calls(sandbox: ProcessSandbox, spec_factory: SpecFactory) -> None:
    source = ("COUNTER = []\ndef f() -> int:\n    COUNTER.append(1)\n    open('mark', 'w').write('x')\n"
              "    return len(COUNTER)\n")
    spec = spec_factory(source)
    values = [sandbox.run(spec, {}).value for _ in range(4)]
    assert values == [1, 1, 1, 1]
    probe = spec_factory("import os\ndef f() -> list:\n    return os.listdir('.')\n")
    assert sandbox.run(probe, {}).value == []


def test_stdout_and_stderr_are_captured(sandbox: ProcessSandbox, spec_factory: SpecFactory) -> None:
    source = "import sys\ndef f() -> int:\n    print('hello')\n    print('oops', file=sys.stderr)\n    return 1\n"
    result = sandbox.run(spec_factory(source), {})
    assert (result.stdout, result.stderr, result.truncated) == ("hello\n", "oops\n", False)


def test_stdout_is_truncated_at_the_limit(sandbox: ProcessSandbox, spec_factory: SpecFactory,
                                          limits_factory: Callable[..., Limits]) -> None:
    source = "def f() -> int:\n    for _ in range(1000):\n        print('y' * 99)\n    return 7\n"
    result = sandbox.run(spec_factory(source), {}, limits_factory(max_output_bytes=2048))
    assert result.ok and result.value == 7
    assert result.truncated and len(result.stdout.encode()) == 2048


def test_exception_traceback_shows_only_tool_frames(sandbox: ProcessSandbox, spec_factory: SpecFactory) -> None:
    source = "def helper(v):\n    raise ValueError(f'bad value {v}')\n\ndef f(x: int) -> int:\n    return helper(x)\n"
    result = sandbox.run(spec_factory(source, name="divider"), {"x": 3})
    assert not result.ok and result.error is not None
    assert (result.error.type, result.error.message) == ("ValueError", "bad value 3")
    tb = result.error.traceback
    assert 'File "<tool:divider>", line 5, in f' in tb and 'File "<tool:divider>", line 2, in helper' in tb
    assert "raise ValueError(f'bad value {v}')" in tb
    assert "worker" not in tb and "sandbox" not in tb and ".py" not in tb


def test_syntax_error_and_missing_entrypoint(sandbox: ProcessSandbox, spec_factory: SpecFactory) -> None:
    broken = sandbox.run(spec_factory("def f(:\n    pass\n"), {})
    assert broken.error is not None and broken.error.type == "SyntaxError" and "line 1" in broken.error.message
    missing = sandbox.run(spec_factory("def g():\n    return 1\n"), {})
    assert missing.error is not None and missing.error.type == "EntrypointMissing" and "'g'" in missing.error.message


def test_arguments_that_are_not_json(sandbox: ProcessSandbox, spec_factory: SpecFactory) -> None:
    result = sandbox.run(spec_factory("def f(x):\n    return 1\n"), {"x": {1, 2}})
    assert not result.ok and result.error is not None and result.error.type == "ArgumentsNotJSON"


@pytest.mark.parametrize("args", [[1, 2], "x", None, 3])
def test_arguments_that_are_not_an_object(sandbox: ProcessSandbox, spec_factory: SpecFactory, args: object) -> None:
    result = sandbox.run(spec_factory("def f(*a):\n    return 'ran'\n"), args)  # type: ignore[arg-type]
    assert not result.ok and result.error is not None and result.error.type == "ArgumentsNotJSON", result
    assert "object" in result.error.message


def test_bad_arguments_are_a_tool_error(sandbox: ProcessSandbox, spec_factory: SpecFactory) -> None:
    result = sandbox.run(spec_factory("def f(x: int) -> int:\n    return x\n"), {"y": 1})
    assert result.error is not None and result.error.type == "TypeError" and "'y'" in result.error.message


def test_concurrent_calls_are_all_correct(sandbox: ProcessSandbox, spec_factory: SpecFactory) -> None:
    spec = spec_factory("def f(x: int) -> int:\n    return x * x\n")
    results: dict[int, object] = {}

    def caller(t: int) -> None:
        for i in range(5):
            n = t * 100 + i
            results[n] = sandbox.run(spec, {"x": n}).value

    threads = [threading.Thread(target=caller, args=(t,)) for t in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == {t * 100 + i: (t * 100 + i) ** 2 for t in range(8) for i in range(5)}


def test_doctor_report_lists_levels(settings_factory: Callable[..., SandboxSettings]) -> None:
    report = doctor_report(settings_factory())
    assert report["configured"] == "bwrap" and report["configured_available"] is True
    assert set(report["levels"]) >= {"bwrap", "unshare", "none"}
    assert "NOT isolated" in report["levels"]["none"]["detail"]
    assert "docker" in report["levels"]


def test_missing_bwrap_raises_actionable_error(settings_factory: Callable[..., SandboxSettings],
                                               tmp_path: Path) -> None:
    with pytest.raises(IsolationUnavailable, match="apt-get install bubblewrap") as info:
        ProcessSandbox(settings_factory(), bwrap_path=str(tmp_path / "no-bwrap"))
    assert "DISTILLERY_SANDBOX__ISOLATION" in str(info.value)


def test_create_sandbox_without_bwrap_on_path(settings_factory: Callable[..., SandboxSettings],
                                              monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(IsolationUnavailable, match="bubblewrap is not installed"):
        create_sandbox(settings_factory())


def test_closed_sandbox_refuses_calls(settings_factory: Callable[..., SandboxSettings],
                                      spec_factory: SpecFactory) -> None:
    box = ProcessSandbox(settings_factory(workers=1, preload_modules=[]))
    assert box.run(spec_factory("def f():\n    return 'lazy start'\n"), {}).value == "lazy start"
    box.close()
    with pytest.raises(SandboxError, match="closed"):
        box.run(spec_factory("def f():\n    return 1\n"), {})


@pytest.mark.parametrize("level", ["unshare", "none"])
def test_weaker_levels_run_calls(level: str, settings_factory: Callable[..., SandboxSettings],
                                 spec_factory: SpecFactory, caplog: pytest.LogCaptureFixture) -> None:
    with ProcessSandbox(settings_factory(isolation=level, workers=1, preload_modules=[])) as box:
        source = "import os\ndef f(x: int) -> list:\n    return [x + 1, os.getuid(), sorted(os.environ)]\n"
        result = box.run(spec_factory(source), {"x": 1})
        assert result.isolation == level
        expected_uids = box.stats().uids if os.geteuid() == 0 else [os.getuid()]
        assert result.value[0] == 2 and result.value[2] == ["LANG", "PATH"]
        assert result.value[1] in expected_uids and result.value[1] >= UID_BASE
        spin = box.run(spec_factory("def f():\n    while True:\n        pass\n"), {}, Limits(timeout_s=1, cpu_s=5))
        assert spin.error is not None and spin.error.type == "Timeout", spin
    if level == "none":
        assert any("NOT" in r.getMessage() or "'none'" in r.getMessage() for r in caplog.records)


def test_a_child_killed_while_idle_is_replaced(sandbox: ProcessSandbox, spec_factory: SpecFactory) -> None:
    wait_until_idle(sandbox)
    if os.geteuid() == 0:  # the pre-forked children run as the workers' uids: kill them from outside
        assert sum(kill_uid(uid) for uid in sandbox.stats().uids) >= 1
    spec = spec_factory("def f(x: int) -> int:\n    return -x\n")
    assert [sandbox.run(spec, {"x": i}).value for i in range(4)] == [0, -1, -2, -3]
    assert sandbox.stats().replaced == 0


def test_other_tools_code_is_not_visible(sandbox: ProcessSandbox, spec_factory: SpecFactory) -> None:
    secret = spec_factory("def f() -> str:\n    return 'classified-7731'\n", name="secret")
    for _ in range(3):  # now in the workers' compile cache
        assert sandbox.run(secret, {}).value == "classified-7731"
    wait_until_idle(sandbox)
    probe = spec_factory("import sys\ndef f() -> list:\n"
                         "    caches = {id(m.CODE_CACHE): m.CODE_CACHE for m in list(sys.modules.values())\n"
                         "              if hasattr(m, 'CODE_CACHE')}\n"
                         "    return [len(caches), sum(len(c) for c in caches.values())]\n")
    for _ in range(2):
        found, cached = sandbox.run(probe, {}).value
        assert found == 1 and cached == 0


def test_worker_that_cannot_clean_up_is_replaced(settings_factory: Callable[..., SandboxSettings],
                                                 spec_factory: SpecFactory, monkeypatch: pytest.MonkeyPatch,
                                                 tmp_path: Path) -> None:
    wrapper = tmp_path / "failing_cleanup.py"  # the real worker, except that deleting scratch files "fails"
    wrapper.write_text("import sys\n"
                       f"sys.path.insert(0, {str(WORKER_DIR.parent)!r})\n"
                       "import worker.main as w\n"
                       "w.clean_files = lambda *args: False\nsys.exit(w.main(sys.argv[2:]))\n")
    sandboxed = LaunchPlan.sandboxed
    monkeypatch.setattr(LaunchPlan, "sandboxed", lambda self, kind, options, private_tmp=False, boot=WORKER_BOOT:
                        sandboxed(self, kind, options, private_tmp=private_tmp, boot=wrapper))
    with ProcessSandbox(settings_factory(isolation="none", workers=1, preload_modules=[])) as box:
        spec = spec_factory("def f(x: int) -> int:\n    return x + 100\n")
        assert [box.run(spec, {"x": i}).value for i in range(3)] == [100, 101, 102]
        stats = box.stats()
        assert stats.calls == 3 and stats.replaced >= 2 and stats.started >= 4


def test_two_sandboxes_never_share_a_uid(settings_factory: Callable[..., SandboxSettings],
                                         spec_factory: SpecFactory) -> None:
    """Each worker leases its own uid, so one pool's cleanup can never kill another pool's calls."""
    if os.geteuid() != 0:
        pytest.skip("calls keep the host's uid when the host is not root")
    spec = spec_factory("import os\ndef f() -> int:\n    return os.getuid()\n")
    with ProcessSandbox(settings_factory(workers=1, preload_modules=[])) as first, \
            ProcessSandbox(settings_factory(workers=1, preload_modules=[])) as second:
        first.start()
        second.start()
        assert not set(first.stats().uids) & set(second.stats().uids)
        assert first.run(spec, {}).value in first.stats().uids
        assert second.run(spec, {}).value in second.stats().uids


def test_a_sandbox_dropped_without_close_stops_its_workers(settings_factory: Callable[..., SandboxSettings],
                                                           spec_factory: SpecFactory) -> None:
    import gc

    box = ProcessSandbox(settings_factory(workers=1, preload_modules=[]))
    assert box.run(spec_factory("def f():\n    return 1\n"), {}).value == 1
    pids = box.pids()
    del box
    gc.collect()
    for pid in pids:  # killed and reaped: gone, or at most a zombie of another parent
        stat = Path(f"/proc/{pid}/stat")
        assert not stat.exists() or stat.read_text().split(") ")[1].startswith("Z"), pid
