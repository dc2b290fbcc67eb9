"""Entry script of the sandbox workers: ``python -I boot.py call|session [options]``.

The worker package is stdlib only and imports nothing of ``toolbox``; ``-I`` keeps the host's
environment and paths out, so this script puts the package's parent directory on ``sys.path``
itself, imports the worker, and takes that directory off again before any tool code runs.
"""

import importlib
import os
import sys


def _boot() -> int:
    here = os.path.dirname(os.path.abspath(__file__))
    parent = os.path.dirname(here)
    sys.path.insert(0, parent)
    try:
        kind = sys.argv[1] if len(sys.argv) > 1 else ""
        module = importlib.import_module(f"{os.path.basename(here)}.{'session' if kind == 'session' else 'main'}")
    finally:
        sys.path.remove(parent)
    if kind not in ("call", "session"):
        sys.stderr.write("usage: boot.py call|session [options]\n")
        return 2
    code: int = module.main(sys.argv[2:])
    return code


if __name__ == "__main__":
    sys.exit(_boot())
