"""The Distillery kernel: settings, errors, the tool model, analysis, sandbox, model seams."""

from toolbox.errors import ToolboxError
from toolbox.settings import Settings, get_settings
from toolbox.spec import CompareMode, Provenance, ToolSpec, ToolTest

__all__ = ["CompareMode", "Provenance", "Settings", "ToolSpec", "ToolTest", "ToolboxError", "get_settings"]
