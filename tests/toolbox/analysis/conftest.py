"""Hypothesis profiles for the analysis tests: deterministic in CI, randomised locally, never deadline-bound.

``CI=true`` loads "ci" (derandomized, no example database, so every CI run tries the same examples);
anything else loads "dev". Neither has a deadline or the too-slow health check, so a loaded 2-core
machine cannot make them flake. Tests here leave ``max_examples`` to the profile.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

__all__: list[str] = []

settings.register_profile(
    "ci", max_examples=100, derandomize=True, database=None, deadline=None, print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile("dev", max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("ci" if os.environ.get("CI") == "true" else "dev")
