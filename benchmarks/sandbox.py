"""Sandbox call overhead: in-process vs a cold sandboxed process per call vs the warm worker pool.

Prints JSON: median and p95 (ms) of a trivial stdlib-only tool ``f(x: int) -> int`` (the ``lean``
lane) and of a numpy tool (the ``numpy`` lane) for each mode, measured on the host around
``Sandbox.run`` and inside the worker (``duration_ms``); CPU per warm call of this process (host) and
of the workers with every child they forked (sandbox); warm/cold ratios, the isolation level, worker
start times per lane and the baseline address space.

``.venv/bin/python benchmarks/sandbox.py [--n 300] [--cold-n 10] [--profile host.pstats]``
(``--profile`` writes cProfile statistics of the host side of the warm lean calls, CPU time).
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import statistics
import time
from collections.abc import Callable
from typing import Any

from toolbox.sandbox.base import Limits
from toolbox.sandbox.client import decode_result, encode_call
from toolbox.sandbox.isolation import LaunchPlan, plan_launch
from toolbox.sandbox.lanes import plan_lanes
from toolbox.sandbox.process import ProcessSandbox, ProcessWorker
from toolbox.sandbox.uids import lease_uid
from toolbox.settings import SandboxSettings
from toolbox.spec import ToolSpec

SOURCE = "def f(x: int) -> int:\n    return x * 2 + 1\n"
SPEC = ToolSpec(name="bench", source=SOURCE, entrypoint="f")
NUMPY_SPEC = ToolSpec(name="bench_np", entrypoint="f",
                      source="import numpy as np\n\ndef f(x: int) -> int:\n    return int(np.int64(x) * 2 + 1)\n")
TICKS = os.sysconf("SC_CLK_TCK")


def summary(samples: list[float]) -> dict[str, float]:
    """Median, p95 and the spread between the quartiles, in milliseconds."""
    ordered = sorted(samples)
    quartiles = statistics.quantiles(ordered, n=4) if len(ordered) > 1 else [ordered[0]] * 3
    return {"p50_ms": round(statistics.median(ordered), 3),
            "p95_ms": round(ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))], 3),
            "iqr_ms": round(quartiles[2] - quartiles[0], 3), "n": len(ordered)}


def timed(fn: Callable[[int], Any], n: int, gap_s: float = 0.0) -> list[float]:
    """Run ``fn(i)`` n times, idle ``gap_s`` before each (untimed); return milliseconds per call."""
    out = []
    for i in range(n):
        if gap_s:
            time.sleep(gap_s)
        start = time.perf_counter()
        fn(i)
        out.append((time.perf_counter() - start) * 1000)
    return out


def tree_cpu_s(roots: list[int]) -> float:
    """CPU seconds of ``roots`` and all their descendants, with the children they have reaped."""
    table: dict[int, tuple[int, int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat", "rb") as fh:
                    stat = fh.read()
            except OSError:
                continue
            fields = stat[stat.rfind(b")") + 2:].split()
            table[int(entry)] = (int(fields[1]), sum(int(x) for x in fields[11:15]))
    total, stack = 0, list(roots)
    while stack:
        pid = stack.pop()
        total += table.get(pid, (0, 0))[1]
        stack.extend(p for p, (ppid, _) in table.items() if ppid == pid)
    return total / TICKS


def in_process(i: int) -> None:
    """exec + call in this process (no isolation at all)."""
    namespace: dict[str, Any] = {}
    exec(compile(SOURCE, "<tool:bench>", "exec"), namespace)
    assert namespace["f"](i) == 2 * i + 1


def one_shot(plan: LaunchPlan, preload: tuple[str, ...], i: int) -> float:
    """Start a fresh sandboxed worker, make one call, stop it; returns the start time in ms."""
    start = time.perf_counter()
    lease = lease_uid(plan.run_as_uid) if plan.run_as_uid is not None else None
    worker = ProcessWorker(plan.command(preload, lease.uid if lease else None), lane="bench", slot=0, lease=lease)
    try:
        worker.wait_started(120)
        started = (time.perf_counter() - start) * 1000
        call_id, data = encode_call(SPEC, json.dumps({"x": i}), Limits())
        done, body = worker.client.call(data, call_id, time.monotonic() + 30, 1 << 22, None)
        assert decode_result(done, body, "none").value == 2 * i + 1, (done, body)
    finally:
        worker.close()
    return started


def warm(box: ProcessSandbox, spec: ToolSpec, n: int, gap_s: float,
         profile: cProfile.Profile | None = None) -> dict[str, Any]:
    """Host-side and worker-side latency and CPU per call of ``n`` warm calls of ``spec``."""
    for i in range(20):  # warm-up
        box.run(spec, {"x": i})
    inside: list[float] = []

    def call(i: int) -> None:
        result = box.run(spec, {"x": i})
        assert result.value == 2 * i + 1, result
        inside.append(result.duration_ms)

    pids = box.pids()
    sandbox_before, host_before = tree_cpu_s(pids), time.process_time()
    if profile is not None:
        profile.enable()
    host = timed(call, n, gap_s)
    if profile is not None:
        profile.disable()
    host_cpu, sandbox_cpu = time.process_time() - host_before, tree_cpu_s(pids) - sandbox_before
    return {"host": summary(host), "worker_side": summary(inside),
            "cpu_ms_per_call": {"host": round(host_cpu / n * 1000, 3), "sandbox": round(sandbox_cpu / n * 1000, 3)}}


def main() -> None:
    """Measure and print JSON."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=300, help="warm and in-process calls")
    parser.add_argument("--cold-n", type=int, default=10, help="cold calls")
    parser.add_argument("--isolation", default=None, choices=["bwrap", "unshare", "none"])
    parser.add_argument("--workers", type=int, default=None, help="workers per lane (default: the setting)")
    parser.add_argument("--gap-ms", type=float, default=0.0,
                        help="idle time before each warm call, so workers can finish cleaning up")
    parser.add_argument("--profile", default=None, help="write cProfile stats (CPU time) of the warm lean calls here")
    args = parser.parse_args()
    overrides = {k: v for k, v in {"isolation": args.isolation, "workers": args.workers}.items() if v is not None}
    settings = SandboxSettings(**overrides)
    plan = plan_launch(settings)
    lanes = plan_lanes(settings)

    report: dict[str, Any] = {"isolation": plan.level, "isolation_detail": plan.detail,
                              "cores": os.cpu_count(), "running_as_root": os.geteuid() == 0,
                              "lanes": {lane: len(mods) for lane, mods in lanes.items()},
                              "workers_per_lane": settings.workers, "gap_ms": args.gap_ms,
                              "load_avg_1m": round(os.getloadavg()[0], 2)}
    report["in_process"] = summary(timed(in_process, args.n))
    cold_starts: list[float] = []
    cold = timed(lambda i: cold_starts.append(one_shot(plan, (), i)), args.cold_n)
    report["cold_no_preload"] = summary(cold)
    report["worker_start_no_preload"] = summary(cold_starts)
    for lane, modules in lanes.items():
        report[f"worker_start_{lane}"] = summary([one_shot(plan, modules, i) for i in range(3)])

    profile = cProfile.Profile(time.process_time) if args.profile else None
    with ProcessSandbox(settings) as box:
        begin = time.perf_counter()
        box.start()
        report["pool_start_ms"] = round((time.perf_counter() - begin) * 1000, 1)
        report["warm_lean"] = warm(box, SPEC, args.n, args.gap_ms / 1000, profile)
        report["warm_numpy"] = warm(box, NUMPY_SPEC, args.n, args.gap_ms / 1000)
        report["baseline_vm_bytes"] = box.stats().baseline_vm_bytes
    if profile is not None:
        profile.dump_stats(args.profile)
    report["ratio_warm_to_cold_p50"] = round(report["warm_lean"]["host"]["p50_ms"]
                                             / report["cold_no_preload"]["p50_ms"], 4)
    report["target_met"] = {
        "warm_p50_le_10pct_of_cold": report["ratio_warm_to_cold_p50"] <= 0.10,
        "warm_lean_p50_le_2ms": report["warm_lean"]["host"]["p50_ms"] <= 2.0,
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
