"""Distillery's MCP server vs a bare low-level MCP SDK server, side by side over modern HTTP.

Run: ``.venv/bin/python benchmarks/mcp_server.py [--quick] [--sizes 10,100,1000]``. Prints one JSON object.

Both servers are single uvicorn processes serving exactly ``/mcp``; clients are ``mcp.Client`` in
its default mode (modern protocol 2026-07-28), in separate processes (``_mcp_load_client.py``).

* bare: ``_bare_mcp_server.py``, the SDK's low-level ``Server`` with a static tool list,
  ``get_tool_input_schema`` and ``add(a, b)`` run in-process.
* distillery: ``distillery serve`` on a temporary SQLite registry. ``bench.add`` is published
  through ``distillery tools publish --activate`` (static checks, sandbox tests); calls go through
  the catalog, argument validation and the sandbox worker pool. The synthetic tools for the
  tools/list sizes are inserted directly (``write_transaction`` + Core bulk insert, as
  ``tests/registry/service/rows.py`` does) and picked up by the server's revision watcher;
  ``DISTILLERY_SERVER__PAGE_SIZE=5000`` makes one tools/list return everything.

Metrics: tools/call p50/p95 (sequential, one client; median of ``--runs`` runs); tools/list p50/p95
with N tools registered (both list the same N tool definitions; Distillery adds its two meta-tools
and per-tool title/annotations/_meta); throughput and p99 with 8 and 32 concurrent clients spread
over ``--procs`` client processes, each client making ``--conc-calls`` calls. Server CPU per request
(the server process and its sandbox workers, from /proc) is the capacity figure that does not
depend on the client's cost. Targets (reported, not asserted): tools/call <= 1.3x bare, tools/list
at 1,000 tools <= 1.0x bare, >= 500 calls/s and p99 <= 50 ms at 32 clients.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import platform
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

_HERE = Path(__file__).resolve().parent
_ROOT = _HERE.parent
if sys.path and Path(sys.path[0] or ".").resolve() == _HERE:  # benchmarks/registry.py shadows the package
    sys.path.pop(0)
sys.path.insert(0, str(_ROOT))

from sqlalchemy import insert  # noqa: E402

from registry.db import make_engine, write_transaction  # noqa: E402
from registry.models import Tool, ToolVersion, VersionStatus, new_id, utcnow  # noqa: E402
from toolbox.analysis import build_spec  # noqa: E402

__all__ = ["main", "synthetic_tool"]

PYTHON = sys.executable
NAMESPACE = "bench"
ADD_NAME = f"{NAMESPACE}.add"
ADD_SOURCE = 'def add(a: int, b: int) -> int:\n    """Add two integers and return the sum."""\n    return a + b\n'
VERBS = ["compute", "convert", "parse", "format", "validate", "estimate", "count", "merge", "normalize", "rank"]
NOUNS = ["temperature", "distance", "interval", "matrix", "polynomial", "fraction", "currency", "histogram",
         "timestamp", "sequence", "coordinate", "percentage"]


def log(message: str) -> None:
    """Progress on stderr (stdout carries only the JSON result)."""
    sys.stderr.write(f"[mcp-bench {time.strftime('%H:%M:%S')}] {message}\n")
    sys.stderr.flush()


def synthetic_tool(i: int) -> dict[str, Any]:
    """The i-th synthetic tool: name, ~100-character description, 2-property input schema."""
    verb, noun = VERBS[i % len(VERBS)], NOUNS[(i // len(VERBS)) % len(NOUNS)]
    return {
        "name": f"syn_{i:04d}",
        "description": f"{verb.capitalize()} the {noun} from two integer inputs a and b; returns an integer "
                       f"result (synthetic tool {i}).",
        "input_schema": {"type": "object", "properties": {
            "a": {"type": "integer", "description": f"the first {noun} value"},
            "b": {"type": "integer", "description": f"the second {noun} value"}},
            "required": ["a", "b"], "additionalProperties": False},
        "output_schema": {"type": "object", "properties": {"result": {"type": "integer"}}, "required": ["result"]},
    }


# ---------------------------------------------------------------- processes


class Processes:
    """Every process this benchmark starts, each in its own session; ``stop_all`` ends them by group id."""

    def __init__(self) -> None:
        self._procs: list[subprocess.Popen[Any]] = []

    def start(self, args: list[str], **kwargs: Any) -> subprocess.Popen[Any]:
        """Start ``args`` in a new session (so its children can be stopped with it)."""
        proc = subprocess.Popen(args, start_new_session=True, cwd=_ROOT, **kwargs)
        self._procs.append(proc)
        return proc

    def stop(self, proc: subprocess.Popen[Any]) -> None:
        """SIGTERM the process group, then SIGKILL it after 5 s."""
        for sig, wait_s in ((signal.SIGTERM, 5.0), (signal.SIGKILL, 5.0)):
            if proc.poll() is not None:
                break
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, sig)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(wait_s)
        with contextlib.suppress(ProcessLookupError):  # children left behind in the group
            os.killpg(proc.pid, signal.SIGKILL)
        if proc in self._procs:
            self._procs.remove(proc)

    def stop_all(self) -> None:
        """Stop everything still registered, newest first."""
        for proc in reversed(list(self._procs)):
            self.stop(proc)


def free_port() -> int:
    """A free loopback TCP port (the benchmark is standalone; tests share ``tests/support/serve.py``)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_port(port: int, proc: subprocess.Popen[Any], timeout_s: float = 120.0) -> None:
    """Block until ``port`` accepts connections; fail if ``proc`` exits first."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode} before listening on {port}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
            return
        time.sleep(0.1)
    raise RuntimeError(f"nothing listens on {port} after {timeout_s} s")


def tree_cpu_s(root: int) -> tuple[float, float]:
    """CPU seconds (user + system) of ``root`` itself, and of its descendants, from /proc.

    The second figure includes reaped children (cutime/cstime of live descendants and of ``root``),
    so the sandbox's short-lived per-call children are counted.
    """
    parents: dict[int, int] = {}
    cpu: dict[int, float] = {}
    reaped: dict[int, float] = {}
    tick = os.sysconf("SC_CLK_TCK")
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parents[int(entry)] = int(fields[1])
        cpu[int(entry)] = (int(fields[11]) + int(fields[12])) / tick
        reaped[int(entry)] = (int(fields[13]) + int(fields[14])) / tick
    total, frontier = 0.0, [root]
    while frontier:
        pid = frontier.pop()
        total += cpu.get(pid, 0.0) + reaped.get(pid, 0.0)
        frontier.extend(child for child, parent in parents.items() if parent == pid)
    own = cpu.get(root, 0.0)
    return own, total - own


# ---------------------------------------------------------------- servers


class Server:
    """One benchmarked server: how to (re)start it and register N tools."""

    def __init__(self, kind: str, procs: Processes, workdir: Path, env: dict[str, str]) -> None:
        self.kind, self.procs, self.workdir, self.env = kind, procs, workdir, env
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/mcp"
        self.proc: subprocess.Popen[Any] | None = None
        self.extra_listed = 0  # meta-tools a listing adds to the registered ones

    def start(self, args: list[str]) -> None:
        """Start the server process and wait until it listens."""
        log(f"starting {self.kind} on {self.port}")
        self.proc = self.procs.start(args, env=self.env, stdout=subprocess.DEVNULL,
                                     stderr=open(self.workdir / f"{self.kind}.log", "ab"))  # noqa: SIM115
        wait_port(self.port, self.proc)

    def stop(self) -> None:
        """Stop the server process."""
        if self.proc is not None:
            self.procs.stop(self.proc)
            self.proc = None

    def cpu_s(self) -> tuple[float, float]:
        """CPU seconds used so far by the server process and by its children (sandbox workers)."""
        return tree_cpu_s(self.proc.pid) if self.proc is not None else (0.0, 0.0)


class BareServer(Server):
    """The low-level SDK baseline; restarted with the requested tool list."""

    def set_tools(self, count: int, add_spec: dict[str, Any]) -> None:
        """Serve ``bench.add`` plus ``count - 1`` synthetic tools."""
        specs = [add_spec] + [{**synthetic_tool(i), "name": f"{NAMESPACE}.{synthetic_tool(i)['name']}"}
                              for i in range(count - 1)]
        path = self.workdir / "bare_tools.json"
        path.write_text(json.dumps(specs))
        self.stop()
        self.start([PYTHON, str(_HERE / "_bare_mcp_server.py"), "--port", str(self.port), "--tools", str(path),
                    "--add-name", ADD_NAME])


class DistilleryServer(Server):
    """``distillery serve`` over a temporary SQLite registry."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.extra_listed = 2  # search_tools, call_tool
        self.synthetic = 0
        self.db_url = self.env["DISTILLERY_DATABASE__URL"]

    def publish_add(self) -> dict[str, Any]:
        """Publish ``bench.add`` with tests through the CLI (static checks + sandbox test run)."""
        (self.workdir / "add.py").write_text(ADD_SOURCE)
        (self.workdir / "add_tests.json").write_text(json.dumps([{"args": {"a": 2, "b": 3}, "expected": 5},
                                                                  {"args": {"a": -1, "b": 1}, "expected": 0}]))
        started = time.perf_counter()
        done = subprocess.run([str(Path(PYTHON).parent / "distillery"), "tools", "publish",
                               str(self.workdir / "add.py"), "--namespace", NAMESPACE, "--tests",
                               str(self.workdir / "add_tests.json"), "--activate"],
                              env=self.env, cwd=_ROOT, capture_output=True, text=True, timeout=300)
        if done.returncode != 0:
            raise RuntimeError(f"publish failed ({done.returncode}): {done.stdout[-2000:]} {done.stderr[-2000:]}")
        outcome: dict[str, Any] = json.loads(done.stdout)
        return {"publish_s": round(time.perf_counter() - started, 2), "outcome_keys": sorted(outcome)}

    def serve(self) -> None:
        """Start ``distillery serve``."""
        self.start([str(Path(PYTHON).parent / "distillery"), "serve", "--port", str(self.port)])

    def set_tools(self, count: int, add_spec: dict[str, Any]) -> None:
        """Insert synthetic rows until ``count`` tools (with ``bench.add``) are registered."""
        wanted = count - 1
        if wanted <= self.synthetic:
            if wanted < self.synthetic:
                raise ValueError("--sizes must be increasing")
            return
        engine = make_engine(self.db_url)
        try:
            with write_transaction(engine) as (session, revision):
                tools: list[dict[str, Any]] = []
                versions: list[dict[str, Any]] = []
                for i in range(self.synthetic, wanted):
                    spec = synthetic_tool(i)
                    tool_id = new_id()
                    tools.append({"id": tool_id, "namespace": NAMESPACE, "name": spec["name"],
                                  "created_at": utcnow(), "changed_revision": revision})
                    source = f"def {spec['name']}(a: int, b: int) -> int:\n    return a + b + {i}\n"
                    versions.append({
                        "id": new_id(), "tool_id": tool_id, "semver": "1.0.0", "major": 1, "minor": 0, "patch": 0,
                        "content_hash": f"{i:064x}", "ast_hash": f"{i:064x}", "entrypoint": spec["name"],
                        "description": spec["description"], "source": source, "input_schema": spec["input_schema"],
                        "output_schema": spec["output_schema"], "tests": [], "allowed_imports": None, "tags": [],
                        "provenance": {}, "validation_report": {}, "changelog": "", "flagged": False,
                        "status": VersionStatus.active, "replacement_id": None, "embedder": "", "embedding": None,
                        "created_at": utcnow(), "created_by": "benchmark", "changed_revision": revision,
                    })
                session.execute(insert(Tool), tools)
                session.execute(insert(ToolVersion), versions)
        finally:
            engine.dispose()
        self.synthetic = wanted


# ---------------------------------------------------------------- load


def pct(samples: list[float], q: float) -> float:
    """The q-quantile (nearest rank) of ``samples``."""
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))] if ordered else float("nan")


def run_load(procs: Processes, server: Server, *, mode: str, processes: int, clients: int, calls: int,
             warmup: int, expect_tools: int | None = None, profile: Path | None = None) -> dict[str, Any]:
    """Start ``processes`` load clients, release them together, and summarise their results.

    With ``profile``, py-spy samples the server (and its sandbox workers) during the measured phase
    and writes collapsed stacks there.
    """
    args = [PYTHON, str(_HERE / "_mcp_load_client.py"), "--url", server.url, "--mode", mode, "--tool", ADD_NAME,
            "--clients", str(clients), "--calls", str(calls), "--warmup", str(warmup)]
    if expect_tools is not None:
        args += ["--expect-tools", str(expect_tools)]
    started = [procs.start(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
               for _ in range(processes)]
    results: list[dict[str, Any]] = []
    try:
        for proc in started:
            assert proc.stdout is not None
            line = proc.stdout.readline()
            if line.strip() != "READY":
                raise RuntimeError(f"load client did not get ready (exit {proc.poll()}): {line!r}")
        spy = start_py_spy(procs, server, profile) if profile is not None else None
        cpu0 = server.cpu_s()
        for proc in started:
            assert proc.stdin is not None
            proc.stdin.write("GO\n")
            proc.stdin.flush()
        for proc in started:
            assert proc.stdout is not None
            results.append(json.loads(proc.stdout.readline()))
            proc.wait(30)
        cpu1 = server.cpu_s()
        if spy is not None:
            stop_py_spy(procs, spy)
    finally:
        for proc in started:
            procs.stop(proc)
    latencies = [ms for r in results for ms in r["latencies_ms"]]
    errors = [e for r in results for e in r["errors"]]
    wall = max(r["end"] for r in results) - min(r["start"] for r in results)
    done = len(latencies)
    return {
        "n": done, "errors": len(errors), "error_sample": errors[:3],
        "p50_ms": round(statistics.median(latencies), 3) if latencies else None,
        "p95_ms": round(pct(latencies, 0.95), 3), "p99_ms": round(pct(latencies, 0.99), 3),
        "calls_per_s": round(done / wall, 1) if wall > 0 else None,
        "server_cpu_ms_per_req": round((cpu1[0] - cpu0[0]) * 1000 / max(done, 1), 3),
        "sandbox_cpu_ms_per_req": round(max(0.0, cpu1[1] - cpu0[1]) * 1000 / max(done, 1), 3),
        "total_cpu_ms_per_req": round((sum(cpu1) - sum(cpu0)) * 1000 / max(done, 1), 3),
        "client_cpu_ms_per_req": round(sum(r["cpu_s"] for r in results) * 1000 / max(done, 1), 3),
    }


def start_py_spy(procs: Processes, server: Server, out: Path) -> subprocess.Popen[Any]:
    """Start ``py-spy record`` (collapsed stacks of busy threads only, with subprocesses) on ``server``."""
    assert server.proc is not None
    spy = procs.start([str(Path(PYTHON).parent / "py-spy"), "record", "--pid", str(server.proc.pid),
                       "--subprocesses", "--rate", "200", "--format", "raw", "-o", str(out)],
                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(1.0)  # attach before the load starts
    return spy


def stop_py_spy(procs: Processes, spy: subprocess.Popen[Any]) -> None:
    """SIGINT makes py-spy write its output; then make sure it is gone."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(spy.pid, signal.SIGINT)
    with contextlib.suppress(subprocess.TimeoutExpired):
        spy.wait(30)
    procs.stop(spy)


def median_of_runs(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Median over runs of every numeric field, plus the per-run values of p50."""
    keys = ["p50_ms", "p95_ms", "p99_ms", "calls_per_s", "server_cpu_ms_per_req", "sandbox_cpu_ms_per_req",
            "total_cpu_ms_per_req", "client_cpu_ms_per_req"]
    out: dict[str, Any] = {k: round(statistics.median(r[k] for r in runs), 3) for k in keys}
    out["runs_p50_ms"] = [r["p50_ms"] for r in runs]
    out["n_per_run"] = runs[0]["n"]
    out["errors"] = sum(r["errors"] for r in runs)
    if out["errors"]:
        out["error_sample"] = next(r["error_sample"] for r in runs if r["errors"])
    return out


def ratio(dist: Any, bare: Any) -> float | None:
    """dist / bare rounded, None when undefined."""
    return round(dist / bare, 3) if isinstance(dist, int | float) and isinstance(bare, int | float) and bare else None


# ---------------------------------------------------------------- main


def machine_info() -> dict[str, Any]:
    """Where this ran."""
    from importlib.metadata import version

    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())
    mem_kib = int(Path("/proc/meminfo").read_text().split()[1])
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=_ROOT, capture_output=True, text=True).stdout
    return {"cpus": os.cpu_count(), "loadavg_1_5_15": [round(x, 2) for x in os.getloadavg()],
            "cpu_model": cpu, "mem_gib": round(mem_kib / 2**20, 1),
            "python": platform.python_version(), "platform": platform.platform(), "git_head": commit.strip(),
            "packages": {p: version(p) for p in ("mcp", "uvicorn", "starlette", "anyio", "sqlalchemy")}}


def parse_args() -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="small n everywhere (a smoke run)")
    parser.add_argument("--sizes", default="10,100,1000", help="tools/list registry sizes (increasing)")
    parser.add_argument("--calls", type=int, default=300, help="sequential tools/call per run")
    parser.add_argument("--runs", type=int, default=3, help="runs per measurement (median of runs is reported)")
    parser.add_argument("--concurrency", default="8,32", help="concurrent client counts")
    parser.add_argument("--procs", type=int, default=4, help="client processes the clients are spread over")
    parser.add_argument("--conc-calls", type=int, default=100, help="calls per concurrent client")
    parser.add_argument("--list-calls", default="200,100,40", help="tools/list requests per run, per size")
    parser.add_argument("--profile", type=Path, default=None,
                        help="write py-spy collapsed stacks of Distillery here (first run at the top concurrency "
                             "level) and to NAME.listN.EXT (first tools/list run at the largest size)")
    parser.add_argument("--phases", default="call,concurrent,list",
                        help="which measurements to run: any of call, concurrent, list (comma-separated)")
    parser.add_argument("--set", action="append", default=[], metavar="DISTILLERY_X=VALUE",
                        help="extra environment for distillery serve (experiments, e.g. sandbox settings)")
    parser.add_argument("--uid-base", type=int, default=0, help="Distillery's sandbox run_as_uid (0: derived)")
    args = parser.parse_args()
    if args.quick:
        args.calls, args.runs, args.conc_calls, args.list_calls = 40, 1, 15, "20,10,5"
    return args


def bench(args: argparse.Namespace, procs: Processes, workdir: Path) -> dict[str, Any]:
    """Set up both servers, measure, return the report."""
    sizes = [int(s) for s in args.sizes.split(",")]
    list_calls = [int(n) for n in args.list_calls.split(",")]
    list_calls = (list_calls + [list_calls[-1]] * len(sizes))[:len(sizes)]
    levels = [int(c) for c in args.concurrency.split(",")]
    env = {k: v for k, v in os.environ.items() if not k.startswith("DISTILLERY_")}
    bare = BareServer("bare", procs, workdir, dict(env))
    denv = {**env, "DISTILLERY_DATA_DIR": str(workdir / "data"), "DISTILLERY_LOG_LEVEL": "WARNING",
            "DISTILLERY_DATABASE__URL": f"sqlite:///{workdir / 'registry.db'}",
            "DISTILLERY_SERVER__PAGE_SIZE": "5000",
            # a uid range of its own: another sandbox pool on this host that closes a worker SIGKILLs
            # every process of that worker's uid (toolbox/sandbox/pool.py kill_uid), ours included
            "DISTILLERY_SANDBOX__RUN_AS_UID": str(args.uid_base or 62_000 + (os.getpid() % 500) * 8)}
    for item in args.set:
        key, sep, value = item.partition("=")
        if not sep or not key.startswith("DISTILLERY_"):
            raise SystemExit(f"--set wants DISTILLERY_X=VALUE, not {item!r}")
        denv[key] = value
    dist = DistilleryServer("distillery", procs, workdir, denv)
    spec = build_spec(ADD_SOURCE, namespace=NAMESPACE, allowed_imports=[])
    add_spec = {"name": ADD_NAME, "description": spec.description, "input_schema": spec.input_schema,
                "output_schema": spec.output_schema}
    setup = dist.publish_add()
    dist.serve()
    bare.set_tools(1, add_spec)
    servers: list[Server] = [bare, dist]
    report: dict[str, Any] = {"bare": {}, "distillery": {}}
    load_start = os.getloadavg()

    phases = set(args.phases.split(","))
    log(f"tools/call sequential: {args.runs} runs x {args.calls} calls")
    call_runs: dict[str, list[dict[str, Any]]] = {s.kind: [] for s in servers}
    for _ in range(args.runs if "call" in phases else 0):
        for server in servers:
            call_runs[server.kind].append(run_load(procs, server, mode="call", processes=1, clients=1,
                                                   calls=args.calls, warmup=30))
    for server in servers:
        if call_runs[server.kind]:
            report[server.kind]["tools_call"] = median_of_runs(call_runs[server.kind])

    for level in levels if "concurrent" in phases else []:
        per_proc = max(1, level // args.procs)
        nprocs = min(args.procs, level)
        log(f"concurrency {level}: {nprocs} processes x {per_proc} clients x {args.conc_calls} calls")
        conc_runs: dict[str, list[dict[str, Any]]] = {s.kind: [] for s in servers}
        for _ in range(args.runs):
            for server in servers:
                profile = (args.profile if args.profile is not None and server is dist and level == max(levels)
                           and not conc_runs[server.kind] else None)
                conc_runs[server.kind].append(run_load(procs, server, mode="call", processes=nprocs,
                                                       clients=per_proc, calls=args.conc_calls, warmup=5,
                                                       profile=profile))
        for server in servers:
            report[server.kind][f"concurrent_{level}"] = median_of_runs(conc_runs[server.kind])

    for size, n in zip(sizes, list_calls, strict=True) if "list" in phases else []:
        log(f"tools/list with {size} tools: {args.runs} runs x {n} lists")
        bare.set_tools(size, add_spec)
        dist.set_tools(size, add_spec)
        list_runs: dict[str, list[dict[str, Any]]] = {s.kind: [] for s in servers}
        for server in servers:  # wait for the watcher / catalog to show the new rows
            expected = size + server.extra_listed
            deadline = time.monotonic() + 30
            while True:
                probe = run_load(procs, server, mode="list", processes=1, clients=1, calls=1, warmup=0,
                                 expect_tools=expected)
                if not probe["errors"]:
                    break
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{server.kind} never listed {expected} tools: {probe['error_sample']}")
                time.sleep(0.3)
        for _ in range(args.runs):
            for server in servers:
                profile = (args.profile.with_name(f"{args.profile.stem}.list{size}{args.profile.suffix}")
                           if args.profile is not None and server is dist and size == max(sizes)
                           and not list_runs[server.kind] else None)
                list_runs[server.kind].append(run_load(procs, server, mode="list", processes=1, clients=1, calls=n,
                                                       warmup=3, expect_tools=size + server.extra_listed,
                                                       profile=profile))
        for server in servers:
            report[server.kind][f"tools_list_{size}"] = median_of_runs(list_runs[server.kind])

    ratios: dict[str, Any] = {}
    for metric in report["bare"]:
        b, d = report["bare"][metric], report["distillery"][metric]
        ratios[metric] = {k: ratio(d[k], b[k]) for k in ("p50_ms", "p95_ms", "p99_ms", "calls_per_s",
                                                          "server_cpu_ms_per_req", "total_cpu_ms_per_req")}
    top = f"concurrent_{max(levels)}"
    big = f"tools_list_{max(sizes)}"
    dtop = report["distillery"].get(top, {})
    targets = {
        "tools_call_p50_le_1.3x_bare": (ratios.get("tools_call", {}).get("p50_ms") or 99) <= 1.3,
        f"{big}_p50_le_1.0x_bare": (ratios.get(big, {}).get("p50_ms") or 99) <= 1.0,
        f"{top}_ge_500_calls_per_s": (dtop.get("calls_per_s") or 0) >= 500,
        f"{top}_p99_le_50ms": (dtop.get("p99_ms") or 999) <= 50,
        "bare_reference": {f"{top}_calls_per_s": report["bare"].get(top, {}).get("calls_per_s"),
                           f"{top}_p99_ms": report["bare"].get(top, {}).get("p99_ms")},
    }
    return {
        "benchmark": "mcp_server", "protocol": "2026-07-28 over streamable HTTP (mcp.Client default mode)",
        "machine": {**machine_info(), "loadavg_at_start": [round(x, 2) for x in load_start],
                    "load_note": "loadavg_1_5_15 is at the end; other engineers share these 2 cores"},
        "settings": {"quick": args.quick, "runs": args.runs, "sequential_calls": args.calls,
                     "sequential_warmup": 30, "concurrency": levels, "client_processes": args.procs,
                     "calls_per_concurrent_client": args.conc_calls, "sizes": sizes, "list_calls": list_calls,
                     "json_response": False, "endpoint": "/mcp", "uvicorn_workers": 1,
                     "distillery_env": {k: v for k, v in denv.items() if k.startswith("DISTILLERY_")},
                     "sandbox_isolation": os.environ.get("DISTILLERY_SANDBOX__ISOLATION", "default (bwrap)"),
                     "distillery_setup": setup,
                     "listing_note": "N registered tools = bench.add + N-1 synthetic; Distillery also lists "
                                     "its 2 meta-tools and adds title/annotations/_meta per tool"},
        "results": report, "ratios_distillery_over_bare": ratios, "targets_met": targets,
    }


@contextlib.contextmanager
def _signals_raise() -> Iterator[None]:
    """SIGTERM/SIGHUP behave like Ctrl-C, so cleanup runs."""
    def handler(signum: int, _frame: Any) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGTERM, signal.SIGHUP)}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def main() -> None:
    """Run the benchmark and print the JSON report."""
    args = parse_args()
    procs = Processes()
    with _signals_raise(), tempfile.TemporaryDirectory(prefix="mcp-bench-") as tmp:
        try:
            report = bench(args, procs, Path(tmp))
        finally:
            procs.stop_all()
    sys.stdout.write(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
