"""The sandbox workers: the code that runs inside the sandbox (stdlib only, no ``toolbox`` imports).

Started as ``python -I boot.py call [options]`` (one call at a time, a fresh forked child per call)
or ``boot.py session`` (``session.py``: a stateful session of cells) inside a bubblewrap / unshare /
docker sandbox. Every backend speaks the same protocol with the call worker; the host's side of it
is ``toolbox.sandbox.client``.

Call worker options
    --uid N            run each call's child as uid/gid N (the worker must be root; setgroups([])).
    --preload a,b,c    import these modules once at start (missing ones are reported, not fatal).
    --scratch-root D   where per-call scratch directories are made (default /tmp).
    --private-tmp      /tmp belongs to this sandbox alone: empty it completely after every call.
    --pidns            the worker owns its PID namespace: after a call kill everything but pid 1 and itself.
    --die-with-parent  SIGKILL the worker when the process that started it dies.

Protocol 3: length-prefixed frames (``frames.py``: 4-byte big-endian length, payload) on stdin and
stdout; every payload is a UTF-8 JSON object except the body frames below.
    worker, at start:  {"op": "ready", "pid", "uid", "preloaded": [...], "preload_failed": {name: error},
                        "baseline_vm_bytes", "python", "protocol": 3}
    host, a call:      {"op": "call", "id", "code", "limits": {every Limits field}}, then a body frame
                       {"source", "entrypoint", "tool_name", "args": {...}}. ``code`` names the source
                       (the host's hash of tool name and source) for the worker's compiled-code cache.
    host, any time:    {"op": "cancel", "id"}: kill that call's processes now (ignored when it has ended).
    worker, answer:    {"op": "done", "id", "duration_ms", "recycle", "error"?, "peak_memory_bytes"?}, then
                       a body frame. Without ``error`` the body is the child's result: one flag byte,
                       then {"value", "ok", "error", "stdout", "stderr", "truncated", "rss_kb"} (untrusted:
                       the tool's process wrote it). With ``error`` (the worker's own verdict: Timeout,
                       Cancelled, CPULimit, Crashed, ...) the body is empty.
    worker, then:      {"op": "ready"} once it has cleaned up after the call and forked the next child;
                       send the next call only after it. A worker that cannot clean up exits instead.
    ``recycle`` true means the worker hit a bug and exits after answering. EOF on stdin ends the worker.

Per call. While idle the worker already holds the next call's child (``child.py``), forked from the
clean worker. On a call the worker hands both frames over; the child applies the call's rlimits,
runs the tool and writes its result frame; the worker answers as soon as that frame is complete (or
kills the child's tree on timeout or cancel and decodes deaths by signal). Then it kills the child
and every leftover process of the call, deletes the scratch files (``cleanup.py``), caches the
compiled tool code (bounded LRU, only for sources that compiled in a child) so the next child
inherits it, and forks the next child. A child drops the inherited cache before it runs the tool:
every call executes its module fresh and sees nothing of other calls.
"""
