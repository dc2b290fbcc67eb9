"""``check_source`` (the full static analysis of a tool module) and ``build_spec``."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterable, Sequence
from typing import Any

import jsonschema
from pydantic import ValidationError

from toolbox.analysis.checks import check_dangerous_names, check_imports, check_module_statements
from toolbox.analysis.docstrings import parse_docstring
from toolbox.analysis.findings import AnalysisReport, Finding
from toolbox.analysis.schema import function_schemas
from toolbox.errors import AnalysisError, SpecError
from toolbox.logging import get_logger
from toolbox.spec import MAX_SOURCE_BYTES, Provenance, ToolSpec, ToolTest

__all__ = ["build_spec", "check_entrypoint", "check_source", "derive_schemas", "find_entrypoint", "parse_source"]

_log = get_logger("analysis")
_ENTRYPOINT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")
FunctionNode = ast.FunctionDef | ast.AsyncFunctionDef


def parse_source(source: str) -> tuple[ast.Module | None, list[Finding]]:
    """Parse ``source``; a module, or None and a ``syntax`` finding. Never raises on bad code."""
    try:
        return ast.parse(source), []
    except SyntaxError as exc:
        line, col = exc.lineno or 1, max((exc.offset or 1) - 1, 0)
        return None, [Finding(line=line, col=col, code="syntax",
                              message=f"syntax error: {exc.msg}; fix line {line} so the module parses")]
    except (ValueError, RecursionError, MemoryError) as exc:
        return None, [Finding(line=1, col=0, code="syntax",
                              message=f"the source cannot be parsed ({exc}); write plain Python source")]


def find_entrypoint(tree: ast.Module, entrypoint: str | None) -> tuple[FunctionNode | None, list[Finding]]:
    """The entrypoint function: the named one, or the only public top-level function."""
    functions = {n.name: n for n in tree.body if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)}
    public = [name for name in functions if not name.startswith("_")]
    if entrypoint is not None:
        if entrypoint in functions:
            return functions[entrypoint], []
        listed = ", ".join(public or list(functions)) or "none"
        return None, [Finding(line=1, col=0, code="entrypoint-not-found",
                              message=f"no top-level function `{entrypoint}`; define it or pass one of the "
                                      f"module's functions ({listed})")]
    if len(public) == 1:
        return functions[public[0]], []
    if not public:
        listed = ", ".join(functions) or "none"
        return None, [Finding(line=1, col=0, code="entrypoint-not-found",
                              message="no public top-level function to expose; define one (a name without a "
                                      f"leading underscore) or name the entrypoint (functions: {listed})")]
    return None, [Finding(line=functions[public[1]].lineno, col=0, code="ambiguous-entrypoint",
                          message=f"several public functions could be the entrypoint ({', '.join(public)}); "
                                  "name the entrypoint or make the helpers private with a leading underscore")]


def check_entrypoint(func: FunctionNode) -> list[Finding]:
    """Findings for an entrypoint that cannot be described or called with JSON keyword arguments."""
    findings: list[Finding] = []

    def add(node: ast.AST, code: str, message: str) -> None:
        findings.append(Finding(line=getattr(node, "lineno", func.lineno), col=getattr(node, "col_offset", 0),
                                code=code, message=message))

    if not _ENTRYPOINT.match(func.name):
        add(func, "invalid-name", f"rename `{func.name}` to an ASCII identifier (letters, digits, underscore)")
    if isinstance(func, ast.AsyncFunctionDef):
        add(func, "unsupported-entrypoint", f"make `{func.name}` a plain `def`: entrypoints are called "
                                            "synchronously")
    if ast.get_docstring(func) is None:
        add(func, "missing-docstring", f"add a Google-style docstring to `{func.name}`: a summary of what it "
                                       "does, then `Args:` describing each parameter and `Returns:`")
    arguments = func.args
    for arg in arguments.posonlyargs:
        add(arg, "unsupported-parameter", f"parameter `{arg.arg}` is positional-only but tools are called "
                                          "with keyword arguments: remove the `/`")
    for star_arg, star in ((arguments.vararg, "*"), (arguments.kwarg, "**")):
        if star_arg is not None:
            add(star_arg, "unsupported-parameter", f"`{star}{star_arg.arg}` cannot be described in a JSON Schema: "
                                              "replace it with named, typed parameters (or a list/dict one)")
    for arg in [*arguments.posonlyargs, *arguments.args, *arguments.kwonlyargs]:
        if arg.annotation is None:
            add(arg, "missing-type-hint", f"annotate parameter `{arg.arg}` (e.g. `{arg.arg}: int`): the "
                                          "input schema is derived from the type hints")
    if func.returns is None:
        add(func, "missing-type-hint", f"annotate the return type of `{func.name}` (e.g. `-> float`): the "
                                       "output schema is derived from it")
    return findings


def derive_schemas(source: str, entrypoint: str | None = None) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """Input and output schema of the entrypoint alone (no hygiene checks); ``AnalysisError`` if impossible."""
    tree, findings = parse_source(source)
    func = None
    if tree is not None:
        func, found = find_entrypoint(tree, entrypoint)
        findings += found
    if func is None:
        raise AnalysisError("cannot derive schemas: " + "; ".join(f.message for f in findings), findings=findings)
    input_schema, output_schema, schema_findings = function_schemas(func, parse_docstring(ast.get_docstring(func)))
    if schema_findings:
        raise AnalysisError("cannot derive schemas: " + "; ".join(f.message for f in schema_findings),
                            findings=schema_findings)
    return input_schema, output_schema


def check_source(source: str, entrypoint: str | None, allowed_imports: Iterable[str]) -> AnalysisReport:
    """Statically analyse a tool module and derive its schemas; never raises on bad code."""
    findings: list[Finding] = []
    if len(source.encode("utf-8", "replace")) > MAX_SOURCE_BYTES:
        findings.append(Finding(line=1, col=0, code="source-too-large",
                                message=f"the source exceeds {MAX_SOURCE_BYTES} bytes: split the tool"))
    tree, syntax = parse_source(source)
    if tree is None:
        return AnalysisReport(ok=False, entrypoint=entrypoint, findings=findings + syntax)
    report = AnalysisReport(ok=False, entrypoint=entrypoint)
    try:
        findings += check_module_statements(tree)
        findings += check_imports(tree, allowed_imports)
        findings += check_dangerous_names(tree)
        func, found = find_entrypoint(tree, entrypoint)
        findings += found
        if func is not None:
            docs = parse_docstring(ast.get_docstring(func))
            input_schema, output_schema, schema_findings = function_schemas(func, docs)
            findings += check_entrypoint(func) + schema_findings
            report = AnalysisReport(ok=False, entrypoint=func.name, input_schema=input_schema,
                                    output_schema=output_schema, description=docs.description)
    except RecursionError:
        findings.append(Finding(line=1, col=0, code="syntax",
                                message="the module is nested too deeply to analyse: flatten the expressions"))
    findings = sorted(set(findings), key=lambda f: (f.line, f.col, f.code, f.message))
    return report.model_copy(update={"ok": not findings, "findings": findings})


def _test_findings(tests: Sequence[ToolTest], input_schema: dict[str, Any], source: str,
                   entrypoint: str) -> list[Finding]:
    """``invalid-test`` findings (on the entrypoint's line) for tests whose args break ``input_schema``."""
    validator = jsonschema.Draft202012Validator(input_schema)
    errors = [(index, jsonschema.exceptions.best_match(validator.iter_errors(test.args)))
              for index, test in enumerate(tests)]
    failed = [(index, error) for index, error in errors if error is not None]
    if not failed:
        return []
    line = next(n.lineno for n in ast.parse(source).body
                if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef) and n.name == entrypoint)
    return [Finding(line=line, col=0, code="invalid-test",
                    message=f"test {index}: arguments do not match the input schema ({error.message}); "
                            "fix the test's args")
            for index, error in failed]


def build_spec(
    source: str,
    *,
    entrypoint: str | None = None,
    name: str | None = None,
    namespace: str = "default",
    description: str | None = None,
    tests: Sequence[ToolTest | dict[str, Any]] = (),
    allowed_imports: Iterable[str],
    extra_imports: Iterable[str] = (),
    provenance: Provenance | None = None,
    tags: Sequence[str] = (),
) -> ToolSpec:
    """Check ``source`` and build its ``ToolSpec``; raise ``AnalysisError`` listing the findings.

    ``allowed_imports`` is the configured allowlist; ``extra_imports`` are modules granted to this
    tool only: the check uses their union and the spec records just the extras.
    ``name`` defaults to the entrypoint, ``description`` to the docstring's summary and body.
    Each test's ``args`` must validate against the derived input schema.
    """
    extras = sorted(set(extra_imports))
    report = check_source(source, entrypoint, [*allowed_imports, *extras])
    if not report.ok or report.entrypoint is None or report.input_schema is None:
        summary = "; ".join(f"line {f.line}: {f.message}" for f in report.findings[:5])
        raise AnalysisError(f"the tool does not pass static analysis: {summary}", findings=report.findings)
    try:
        parsed_tests = [t if isinstance(t, ToolTest) else ToolTest.model_validate(t) for t in tests]
        test_findings = _test_findings(parsed_tests, report.input_schema, source, report.entrypoint)
        if test_findings:
            raise AnalysisError("tests do not match the tool's parameters: "
                                + "; ".join(f.message for f in test_findings[:5]), findings=test_findings)
        spec = ToolSpec(
            namespace=namespace, name=name or report.entrypoint, source=source, entrypoint=report.entrypoint,
            description=report.description if description is None else description,
            input_schema=report.input_schema, output_schema=report.output_schema, tests=parsed_tests,
            allowed_imports=extras or None, tags=list(tags), provenance=provenance or Provenance(),
        )
    except ValidationError as exc:
        raise SpecError(f"the tool spec is invalid: {exc}") from exc
    _log.debug("built spec %s (entrypoint %s)", spec.qualified_name, spec.entrypoint)
    return spec
