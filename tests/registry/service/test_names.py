"""Names that imitate another tool of the namespace: homoglyph skeletons and one-edit neighbours."""

from __future__ import annotations

import pytest

from registry.service.names import imitated_names, one_edit_apart, skeleton


@pytest.mark.parametrize(("name", "others", "imitates"), [
    ("read_fi1e", ["read_file"], "read_file"),
    ("readfile", ["read_file"], "read_file"),
    ("solve_24", ["solve24"], "solve24"),
    ("get_weather_", ["get_weather"], "get_weather"),
    ("send_emails", ["send_email"], "send_email"),
    ("factorise", ["factorize"], "factorize"),
    ("add", ["add"], None),  # a new version of the same tool
    ("add", ["and", "odd"], None),  # short names: one edit apart by chance
    ("step2", ["step1"], None),  # siblings numbered by digits
    ("prime_factors", ["is_prime", "weekday"], None),
    ("weekday_name", ["weekday", "weekday_index"], None),
], ids=lambda value: str(value))
def test_imitated_names(name: str, others: list[str], imitates: str | None) -> None:
    findings = imitated_names(name, others)
    if imitates is None:
        assert findings == []
    else:
        [finding] = findings
        assert finding.kind == "imitation" and finding.where == "name" and repr(imitates) in finding.message


def test_skeleton_and_edit_distance() -> None:
    assert skeleton("c0unt_rn") == skeleton("countm")
    assert one_edit_apart("abcde", "abcdf") and one_edit_apart("abcde", "abde") and not one_edit_apart("ab", "ba")
