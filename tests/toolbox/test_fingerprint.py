"""``toolbox.fingerprint``: probes from the schema by position, run in the real sandbox, hashed."""

from __future__ import annotations

from toolbox.analysis import build_spec
from toolbox.fingerprint import (
    MAX_PROBES,
    PROBE_LIMITS,
    UNMATCHABLE_PREFIX,
    align_args,
    fingerprint,
    probe_inputs,
    probe_limits,
    signature_shape,
)
from toolbox.sandbox import Sandbox
from toolbox.sandbox.base import Limits
from toolbox.settings import SandboxSettings
from toolbox.spec import ToolSpec


def tool(name: str, params: str, body: str, returns: str = "float") -> ToolSpec:
    """A one-function tool ``name(params) -> returns``."""
    source = f'def {name}({params}) -> {returns}:\n    """Tool {name}."""\n    {body}\n'
    return build_spec(source, entrypoint=name, name=name, allowed_imports=SandboxSettings().allowed_imports)


MEAN = tool("mean", "values: list[float]", "return sum(values) / len(values)")
AVERAGE = tool("average", "numbers: list[float]", "return sum(numbers) / len(numbers)")


def test_renamed_parameters_get_the_same_shape_and_probes() -> None:
    assert signature_shape(MEAN.input_schema) == signature_shape(AVERAGE.input_schema) == "(array<number>)"
    probes = probe_inputs(MEAN.input_schema)
    assert probes == probe_inputs(AVERAGE.input_schema)
    assert [] in [p[0] for p in probes] and any(len(p[0]) >= 3 for p in probes)
    assert align_args(probes[0], AVERAGE.input_schema) == {"numbers": probes[0][0]}


def test_probes_mix_values_of_several_parameters_and_stay_bounded() -> None:
    pair = tool("power", "base: int, exponent: int = 2", "return base ** exponent", returns="int")
    assert signature_shape(pair.input_schema) == "(integer, integer?)"
    probes = probe_inputs(pair.input_schema)
    assert len(probes) == MAX_PROBES == len({tuple(p) for p in probes})  # 25 combinations, 12 distinct picked
    assert len({p[0] for p in probes}) == 5 and len({p[1] for p in probes}) == 5
    nested = tool("pick", "table: dict[str, int], flag: bool | None = None, mode: str = 'a'", "return 0", "int")
    assert all(isinstance(p[0], dict) and p[1] in (True, False, None) for p in probe_inputs(nested.input_schema))
    assert probe_inputs(tool("zero", "", "return 0.0").input_schema) == [[]]


def test_equal_behaviour_under_other_names_gives_equal_fingerprints(sandbox: Sandbox) -> None:
    mean, average = fingerprint(sandbox, MEAN), fingerprint(sandbox, AVERAGE)
    assert mean == average and mean.matchable
    assert mean.shape == "(array<number>)" and mean.probes == len(probe_inputs(MEAN.input_schema))
    statistics_mean = tool("fmean", "xs: list[float]", "return sum(xs) * 1.0 / len(xs)")
    assert fingerprint(sandbox, statistics_mean) == mean  # float noise and 2 vs 2.0 do not count
    median = tool("median", "values: list[float]", "return sorted(values)[len(values) // 2]")
    assert fingerprint(sandbox, median).digest != mean.digest


def test_a_tool_that_never_answers_matches_nothing(sandbox: Sandbox) -> None:
    broken = tool("broken", "values: list[float]", "raise ValueError('no')")
    also_broken = tool("also_broken", "numbers: list[float]", "raise ValueError('no')")
    first, second = fingerprint(sandbox, broken), fingerprint(sandbox, also_broken)
    assert not first.matchable and first.digest.startswith(UNMATCHABLE_PREFIX)
    assert first.digest != second.digest and len(first.digest) <= 64
    assert first.shape == second.shape and first.probes == len(probe_inputs(broken.input_schema))


def test_a_hanging_tool_stops_after_two_timeouts(sandbox: Sandbox) -> None:
    hang = tool("hang", "n: int", "while True:\n        pass", returns="int")
    result = fingerprint(sandbox, hang, Limits(timeout_s=0.5, cpu_s=1))
    assert not result.matchable and result.probes == 2


def test_probe_limits_only_shorten_time() -> None:
    base = Limits(timeout_s=30, cpu_s=30, memory_mb=1024)
    short = probe_limits(base)
    assert (short.timeout_s, short.cpu_s, short.memory_mb) == (PROBE_LIMITS.timeout_s, PROBE_LIMITS.cpu_s, 1024)
    assert probe_limits(Limits(timeout_s=1, cpu_s=1)).timeout_s == 1
