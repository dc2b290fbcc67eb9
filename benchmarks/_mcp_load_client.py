"""One load-generating process for ``benchmarks/mcp_server.py``.

``.venv/bin/python benchmarks/_mcp_load_client.py --url URL --mode call|list --clients C --calls N``
opens ``C`` ``mcp.Client`` connections (SDK default mode: modern 2026-07-28 over HTTP), lists the
tools once per client and warms up, prints ``READY`` and waits for a line on stdin, then has every
client make ``N`` sequential requests (all clients concurrently). It prints one JSON line:
per-request latencies in ms, the ``time.monotonic()`` start and end of the measured phase (comparable
across processes on Linux), this process's CPU seconds, and any errors. Exits on EOF of stdin.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from typing import Any

import anyio
from mcp import Client

__all__ = ["main"]


def _cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def _one(client: Client, mode: str, tool: str, i: int, expect_tools: int | None) -> None:
    if mode == "call":
        result = await client.call_tool(tool, {"a": i, "b": 1})
        if result.is_error or result.structured_content != {"result": i + 1}:
            raise RuntimeError(f"bad call result: {result}")
    else:
        listing = await client.list_tools(cache_mode="bypass")
        if expect_tools is not None and len(listing.tools) != expect_tools:
            raise RuntimeError(f"listed {len(listing.tools)} tools, expected {expect_tools}")


async def _run(args: argparse.Namespace) -> dict[str, Any]:
    latencies: list[float] = []
    errors: list[str] = []
    go = anyio.Event()
    ready = 0
    all_ready = anyio.Event()
    window: dict[str, float] = {}

    async def worker(index: int) -> None:
        nonlocal ready
        async with Client(args.url) as client:
            await client.list_tools()
            for i in range(args.warmup):
                await _one(client, args.mode, args.tool, i, args.expect_tools)
            ready += 1
            if ready == args.clients:
                all_ready.set()
            await go.wait()
            for i in range(args.calls):
                started = time.perf_counter()
                try:
                    await _one(client, args.mode, args.tool, i + index * 1000, args.expect_tools)
                except Exception as exc:  # counted and reported, the run goes on
                    errors.append(f"{type(exc).__name__}: {exc}"[:300])
                    continue
                latencies.append((time.perf_counter() - started) * 1000)

    async def conductor() -> None:
        await all_ready.wait()
        print("READY", flush=True)
        line = await anyio.to_thread.run_sync(sys.stdin.readline)
        if not line:
            raise SystemExit(1)
        window["cpu0"] = _cpu_s()
        window["start"] = time.monotonic()
        go.set()

    async with anyio.create_task_group() as group:
        group.start_soon(conductor)
        for index in range(args.clients):
            group.start_soon(worker, index)
    window["end"] = time.monotonic()
    return {"latencies_ms": latencies, "errors": errors, "start": window["start"], "end": window["end"],
            "cpu_s": _cpu_s() - window["cpu0"]}


def main() -> None:
    """Parse arguments, run, print one JSON line."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--url", required=True)
    parser.add_argument("--mode", choices=["call", "list"], default="call")
    parser.add_argument("--tool", default="bench.add")
    parser.add_argument("--clients", type=int, default=1)
    parser.add_argument("--calls", type=int, default=100, help="measured requests per client")
    parser.add_argument("--warmup", type=int, default=10, help="unmeasured requests per client first")
    parser.add_argument("--expect-tools", type=int, default=None, help="list mode: check the listed count")
    args = parser.parse_args()
    result = anyio.run(_run, args)
    sys.stdout.write(json.dumps(result) + "\n")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
