"""The normalised-AST hash that identifies exact duplicates (``version_hash`` builds on it).

``normalized_hash`` ignores what cannot change behaviour or interface:

* formatting and comments (the AST has neither);
* docstrings and any other bare constant expression statement (an emptied body becomes ``pass``);
* the names of local variables, renamed per function scope to ``%L<depth>_<n>`` in order of first
  appearance (assignment targets, loop and comprehension variables, ``with``/``except`` names,
  walrus and ``match`` captures, function-local imports, nested function and class names);
  every comprehension is its own scope (as in Python 3): its ``for`` targets are renamed there, and
  its first iterable and any walrus targets belong to the enclosing scope;
* the names of module-level helper functions and classes, renamed to ``%G<n>`` in definition order
  (whatever their spelling, ``_x``, ``__x`` and ``__`` included), except the entrypoint and the module
  hooks Python looks up by name (``__getattr__``, ``__dir__``: PEP 562).

It keeps everything that can: the entrypoint's name, every parameter name (parameters are the
interface: ``f(x=1)`` calls bind them by name), type annotations and defaults (they define the
schema), constants, operators, statement order, attribute names, keyword-argument names, imports,
builtins and module-level constants. Canonical names contain ``%`` so they cannot collide with
real identifiers. The hash is the sha256 of ``ast.dump(tree, annotate_fields=False,
include_attributes=False)`` after the transform.
"""

from __future__ import annotations

import ast
import hashlib
from dataclasses import dataclass, field

from toolbox.errors import AnalysisError

__all__ = ["normalize_tree", "normalized_hash"]

_SCOPES = (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)
_COMPREHENSIONS = (ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)
_MODULE_HOOKS = frozenset({"__getattr__", "__dir__"})  # module functions Python itself calls by name


@dataclass
class _Scope:
    kind: str  # "function", "class" or "comprehension"
    depth: int
    params: set[str] = field(default_factory=set)
    locals: set[str] = field(default_factory=set)
    globals: set[str] = field(default_factory=set)
    nonlocals: set[str] = field(default_factory=set)
    mapping: dict[str, str] = field(default_factory=dict)

    def canonical(self, name: str) -> str:
        if name not in self.mapping:
            self.mapping[name] = f"%L{self.depth}_{len(self.mapping)}"
        return self.mapping[name]


def _arg_names(args: ast.arguments) -> set[str]:
    every = [*args.posonlyargs, *args.args, *args.kwonlyargs, args.vararg, args.kwarg]
    return {a.arg for a in every if a is not None}


def _stored_names(node: ast.AST) -> set[str]:
    """Every plain name that ``node`` (an assignment or ``for`` target) binds."""
    return {n.id for n in ast.walk(node) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)}


def _scope_for(node: ast.AST, depth: int) -> _Scope:
    """The names ``node``'s own body binds (nested scopes' bodies and comprehension targets excluded)."""
    body: list[ast.AST]
    if isinstance(node, ast.ClassDef):
        scope, body = _Scope("class", depth), [*node.body]
    elif isinstance(node, ast.Lambda):
        scope, body = _Scope("function", depth, params=_arg_names(node.args)), [node.body]
    else:
        assert isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        scope, body = _Scope("function", depth, params=_arg_names(node.args)), [*node.body]
    stack = body
    bound: set[str] = set()
    while stack:
        item = stack.pop()
        if isinstance(item, _SCOPES):
            if not isinstance(item, ast.Lambda):
                bound.add(item.name)
            continue
        if isinstance(item, ast.comprehension):  # its target is the comprehension's; a walrus is ours
            stack.extend([item.iter, *item.ifs])
            continue
        if isinstance(item, ast.Name) and isinstance(item.ctx, ast.Store | ast.Del):
            bound.add(item.id)
        elif isinstance(item, ast.ExceptHandler | ast.MatchAs | ast.MatchStar) and item.name:
            bound.add(item.name)
        elif isinstance(item, ast.MatchMapping) and item.rest:
            bound.add(item.rest)
        elif isinstance(item, ast.alias):
            bound.add((item.asname or item.name).split(".")[0])
        elif isinstance(item, ast.Global):
            scope.globals.update(item.names)
        elif isinstance(item, ast.Nonlocal):
            scope.nonlocals.update(item.names)
        stack.extend(ast.iter_child_nodes(item))
    scope.locals = bound - scope.params - scope.globals - scope.nonlocals
    return scope


class _Renamer:
    """Renames locals and module-level helpers in place, walking the tree in field order."""

    def __init__(self, module_names: dict[str, str]) -> None:
        self.module_names = module_names
        self.chain: list[_Scope] = []

    def resolve(self, name: str, chain: list[_Scope] | None = None) -> str:
        chain = self.chain if chain is None else chain
        for index in range(len(chain) - 1, -1, -1):
            scope = chain[index]
            if scope.kind == "class":
                if index == len(chain) - 1 and name in scope.locals:
                    return name
                continue
            if name in scope.params:
                return name
            if name in scope.globals:
                break
            if name in scope.nonlocals:
                continue
            if name in scope.locals:
                return scope.canonical(name)
        return self.module_names.get(name, name)

    def visit(self, node: ast.AST) -> None:
        handler = getattr(self, f"visit_{type(node).__name__}", None)
        if handler is not None:
            handler(node)
        else:
            self.generic(node)

    def generic(self, node: ast.AST) -> None:
        for _, value in ast.iter_fields(node):
            for item in value if isinstance(value, list) else [value]:
                if isinstance(item, ast.AST):
                    self.visit(item)

    def visit_ListComp(self, node: ast.ListComp | ast.SetComp | ast.DictComp | ast.GeneratorExp) -> None:
        """A comprehension scope: the first iterable is evaluated outside it, everything else inside."""
        first = node.generators[0]
        self.visit(first.iter)
        scope = _Scope("comprehension", len(self.chain) + 1)
        scope.locals = {name for g in node.generators for name in _stored_names(g.target)}
        self.chain.append(scope)
        for value in [node.key, node.value] if isinstance(node, ast.DictComp) else [node.elt]:
            self.visit(value)
        for generator in node.generators:
            self.visit(generator.target)
            if generator is not first:
                self.visit(generator.iter)
            for condition in generator.ifs:
                self.visit(condition)
        self.chain.pop()

    visit_SetComp = visit_DictComp = visit_GeneratorExp = visit_ListComp

    def visit_Name(self, node: ast.Name) -> None:
        node.id = self.resolve(node.id)

    def visit_ExceptHandler(self, node: ast.ExceptHandler) -> None:
        if node.name:
            node.name = self.resolve(node.name)
        self.generic(node)

    def visit_MatchAs(self, node: ast.MatchAs) -> None:
        if node.name:
            node.name = self.resolve(node.name)
        self.generic(node)

    def visit_MatchStar(self, node: ast.MatchStar) -> None:
        if node.name:
            node.name = self.resolve(node.name)

    def visit_MatchMapping(self, node: ast.MatchMapping) -> None:
        if node.rest:
            node.rest = self.resolve(node.rest)
        self.generic(node)

    def visit_Global(self, node: ast.Global) -> None:
        node.names = [self.module_names.get(n, n) for n in node.names]

    def visit_Nonlocal(self, node: ast.Nonlocal) -> None:
        node.names = [self.resolve(n, self.chain[:-1]) for n in node.names]

    def visit_alias(self, node: ast.alias) -> None:
        if not self.chain or self.chain[-1].kind != "function":
            return
        if node.asname:
            node.asname = self.resolve(node.asname)
            return
        top = node.name.split(".")[0]
        renamed = self.resolve(top)
        if renamed != top:  # a bare dotted import binds the top package, not the submodule
            node.asname = renamed if top == node.name else f"{renamed}:top"

    def _signature(self, args: ast.arguments) -> None:
        for default in [*args.defaults, *args.kw_defaults]:
            if default is not None:
                self.visit(default)
        for arg in [*args.posonlyargs, *args.args, *args.kwonlyargs, args.vararg, args.kwarg]:
            if arg is not None and arg.annotation is not None:
                self.visit(arg.annotation)

    def _enter(self, node: ast.AST, body: list[ast.stmt] | list[ast.expr]) -> None:
        self.chain.append(_scope_for(node, len(self.chain) + 1))
        for statement in body:
            self.visit(statement)
        self.chain.pop()

    def visit_FunctionDef(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> None:
        node.name = self.resolve(node.name)
        for decorator in node.decorator_list:
            self.visit(decorator)
        self._signature(node.args)
        if node.returns is not None:
            self.visit(node.returns)
        self._enter(node, node.body)

    visit_AsyncFunctionDef = visit_FunctionDef

    def visit_Lambda(self, node: ast.Lambda) -> None:
        self._signature(node.args)
        self._enter(node, [node.body])

    def visit_ClassDef(self, node: ast.ClassDef) -> None:
        node.name = self.resolve(node.name)
        for child in [*node.decorator_list, *node.bases, *node.keywords]:
            self.visit(child)
        self._enter(node, node.body)


def _strip_docstrings(tree: ast.AST) -> None:
    """Drop bare constant statements (docstrings, ``...``) from every statement list."""
    for node in ast.walk(tree):
        for name in ("body", "orelse", "finalbody"):
            block = getattr(node, name, None)
            if not isinstance(block, list) or not block or not isinstance(block[0], ast.stmt):
                continue
            kept = [s for s in block if not (isinstance(s, ast.Expr) and isinstance(s.value, ast.Constant))]
            if not kept and name == "body" and not isinstance(node, ast.Module):
                kept = [ast.Pass()]
            setattr(node, name, kept)


def normalize_tree(tree: ast.Module, entrypoint: str) -> ast.Module:
    """Apply the normalisation described in this module to ``tree`` in place and return it."""
    _strip_docstrings(tree)
    helpers = [n.name for n in tree.body if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)]
    module_names: dict[str, str] = {}
    for name in helpers:
        if name != entrypoint and name not in _MODULE_HOOKS and name not in module_names:
            module_names[name] = f"%G{len(module_names)}"
    _Renamer(module_names).visit(tree)
    return tree


def normalized_hash(source: str, entrypoint: str) -> str:
    """sha256 hex of the normalised AST of ``source``; raises ``AnalysisError`` if it does not parse."""
    try:
        tree = ast.parse(source)
        dumped = ast.dump(normalize_tree(tree, entrypoint), annotate_fields=False, include_attributes=False)
    except (SyntaxError, ValueError, RecursionError, MemoryError) as exc:
        from toolbox.analysis.build import parse_source

        _, findings = parse_source(source)
        raise AnalysisError(f"cannot hash source that does not parse: {exc}", findings=findings) from exc
    return hashlib.sha256(dumped.encode()).hexdigest()
