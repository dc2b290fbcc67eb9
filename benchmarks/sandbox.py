"""Sandbox call overhead: in-process vs a cold sandboxed process per call vs the warm worker pool.

Prints JSON: median and p95 (ms) of the trivial tool ``f(x: int) -> int`` for each mode, warm/cold
ratios, the isolation level, worker start times with and without preloads, and the preloaded
baseline address space. ``.venv/bin/python benchmarks/sandbox.py [--n 200] [--cold-n 30]``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import statistics
import time
import uuid
from collections.abc import Callable
from typing import Any

from toolbox.sandbox.isolation import LaunchPlan, plan_launch, worker_env
from toolbox.sandbox.pool import WorkerProcess, encode_request
from toolbox.sandbox.process import ProcessSandbox
from toolbox.sandbox.uids import lease_uid
from toolbox.settings import SandboxSettings
from toolbox.spec import ToolSpec

SOURCE = "def f(x: int) -> int:\n    return x * 2 + 1\n"
SPEC = ToolSpec(name="bench", source=SOURCE, entrypoint="f")


def summary(samples: list[float]) -> dict[str, float]:
    """Median and p95 in milliseconds."""
    ordered = sorted(samples)
    return {"p50_ms": round(statistics.median(ordered), 3),
            "p95_ms": round(ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))], 3), "n": len(ordered)}


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


def in_process(i: int) -> None:
    """exec + call in this process (no isolation at all)."""
    namespace: dict[str, Any] = {}
    exec(compile(SOURCE, "<tool:bench>", "exec"), namespace)
    assert namespace["f"](i) == 2 * i + 1


def one_shot(plan: LaunchPlan, i: int) -> float:
    """Start a fresh sandboxed worker, make one call, stop it; returns the start time in ms."""
    start = time.perf_counter()
    lease = lease_uid(plan.run_as_uid) if plan.run_as_uid is not None else None
    worker = WorkerProcess(plan.command(0, lease.uid if lease else None), worker_env(), slot=0, lease=lease)
    try:
        worker.wait_ready(120)
        started = (time.perf_counter() - start) * 1000
        rid = uuid.uuid4().hex
        line = encode_request({"id": rid, "source": SOURCE, "entrypoint": "f", "tool_name": "bench", "limits": {}},
                              json.dumps({"x": i}))
        reply = worker.request(line, rid, 30, 1 << 22)
        assert reply["value"] == 2 * i + 1, reply
    finally:
        worker.close()
    return started


def main() -> None:
    """Measure and print JSON."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=200, help="warm and in-process calls")
    parser.add_argument("--cold-n", type=int, default=30, help="cold calls")
    parser.add_argument("--isolation", default=None, choices=["bwrap", "unshare", "none"])
    parser.add_argument("--workers", type=int, default=None, help="pool size (default: the setting)")
    parser.add_argument("--gap-ms", type=float, default=0.0,
                        help="idle time before each warm call, so workers can finish cleaning up")
    args = parser.parse_args()
    overrides = {k: v for k, v in {"isolation": args.isolation, "workers": args.workers}.items() if v is not None}
    settings = SandboxSettings(**overrides)
    plan = plan_launch(settings)
    bare = dataclasses.replace(plan, preload=())

    report: dict[str, Any] = {"isolation": plan.level, "isolation_detail": plan.detail,
                              "cores": os.cpu_count(), "running_as_root": os.geteuid() == 0,
                              "preload": list(settings.preload_modules), "workers": settings.workers,
                              "gap_ms": args.gap_ms}
    report["in_process"] = summary(timed(in_process, args.n))
    cold_starts: list[float] = []
    cold = timed(lambda i: cold_starts.append(one_shot(bare, i)), args.cold_n)
    report["cold_no_preload"] = summary(cold)
    report["worker_start_no_preload"] = summary(cold_starts)
    preload_starts: list[float] = []
    for i in range(5):
        preload_starts.append(one_shot(plan, i))
    report["worker_start_with_preload"] = summary(preload_starts)

    with ProcessSandbox(settings) as box:
        begin = time.perf_counter()
        box.start()
        report["pool_start_ms"] = round((time.perf_counter() - begin) * 1000, 1)
        for i in range(20):  # warm-up
            box.run(SPEC, {"x": i})
        results: list[float] = []

        def warm(i: int) -> None:
            result = box.run(SPEC, {"x": i})
            assert result.value == 2 * i + 1, result
            results.append(result.duration_ms)

        report["warm_pool"] = summary(timed(warm, args.n, args.gap_ms / 1000))
        report["warm_pool_worker_side"] = summary(results)
        report["baseline_vm_bytes"] = box.stats().baseline_vm_bytes
    report["ratio_warm_to_cold_p50"] = round(report["warm_pool"]["p50_ms"] / report["cold_no_preload"]["p50_ms"], 4)
    report["target_met"] = {
        "warm_p50_le_10pct_of_cold": report["ratio_warm_to_cold_p50"] <= 0.10,
        "warm_p50_le_2ms": report["warm_pool"]["p50_ms"] <= 2.0,
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
