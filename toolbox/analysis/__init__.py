"""Static analysis of tool source: checks, schemas from signatures, and the normalised hash.

Nothing here imports or executes the tool's code; everything works on its AST.
"""

from __future__ import annotations

from toolbox.analysis.build import build_spec, check_source, derive_schemas, find_entrypoint, parse_source
from toolbox.analysis.docstrings import Docstring, parse_docstring
from toolbox.analysis.findings import AnalysisReport, Finding
from toolbox.analysis.identity import version_hash
from toolbox.analysis.normalize import normalized_hash
from toolbox.analysis.output import as_output_schema, is_wrapped_output, wrap_output_schema, wrap_output_value
from toolbox.analysis.prose import PROSE_KEYWORDS, strip_schema_prose

__all__ = [
    "PROSE_KEYWORDS",
    "AnalysisReport",
    "Docstring",
    "Finding",
    "as_output_schema",
    "build_spec",
    "check_source",
    "derive_schemas",
    "find_entrypoint",
    "is_wrapped_output",
    "normalized_hash",
    "parse_docstring",
    "parse_source",
    "strip_schema_prose",
    "version_hash",
    "wrap_output_schema",
    "wrap_output_value",
]
