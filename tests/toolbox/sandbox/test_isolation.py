"""Isolation plans that depend on where Python lives."""

from __future__ import annotations

import json
import os
import site
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]

PROBE = """
import json
from toolbox.sandbox import create_sandbox
from toolbox.settings import SandboxSettings
from toolbox.spec import ToolSpec

spec = ToolSpec(name="f", entrypoint="f", source="def f(x: int) -> int:\\n    return x * 2\\n")
box = create_sandbox(SandboxSettings(workers=1, preload_modules=[]))
try:
    results = [box.run(spec, {"x": i}) for i in range(3)]
    print(json.dumps({"values": [r.value for r in results], "isolation": results[0].isolation,
                      "replaced": box.stats().replaced}))
finally:
    box.close()
"""


def test_a_venv_under_tmp_is_visible_inside_the_private_tmp(tmp_path: Path) -> None:
    """bwrap mounts a fresh /tmp; a venv that lives under /tmp (a CI checkout) must still be bound on top."""
    assert str(tmp_path).startswith("/tmp/"), "the point of this test is a venv under /tmp"
    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=False, symlinks=True).create(env_dir)
    paths = [str(ROOT), *site.getsitepackages()]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(paths)}
    result = subprocess.run([str(env_dir / "bin" / "python"), "-c", PROBE], capture_output=True, text=True,
                            timeout=120, env=env, check=False)
    assert result.returncode == 0, result.stderr[-2000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report == {"values": [0, 2, 4], "isolation": "bwrap", "replaced": 0}
    assert sys.prefix != str(env_dir)
