"""The poisoning scan: signs of instructions to the model in the texts of a tool an LLM will read.

``scan_spec`` reads the tool description and every text of its input and output schemas (titles,
descriptions, property names, defaults, ``const``, ``enum`` and ``examples`` values) and answers
with typed ``ReviewFinding``s; ``registry.service.names`` adds the names that imitate another tool.
It is pure (no database, no I/O), so the publisher, a console page or a test can call it alike.
Patterns run on the text after NFKC normalisation with invisible characters removed, so a zero-width
space or fullwidth letters inside "ignore previous instructions" do not hide it.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Iterator
from typing import Any

from registry.schemas import FindingKind, ReviewFinding
from registry.service.names import imitated_names
from toolbox.spec import ToolSpec

__all__ = ["DESCRIPTION_LIMIT", "TEXT_LIMITS", "scan_spec", "scan_text", "schema_texts"]

DESCRIPTION_LIMIT = 2000
TEXT_LIMITS = {"description": 1000, "title": 200, "name": 128, "value": 200}
_EXCERPT = 80
_I = re.IGNORECASE

_INSTRUCTIONS: list[tuple[re.Pattern[str], str]] = [(re.compile(p, _I | re.MULTILINE), m) for p, m in [
    (r"\b(?:ignore|disregard|forget|override|bypass)\s+(?:all\s+|any\s+|the\s+|your\s+|these\s+|those\s+)*"
     r"(?:(?:previous|prior|above|earlier|preceding|original|system|other)\s+)?"
     r"(?:instructions|prompts?|directives|guidelines|guardrails|safety\s+rules)\b",
     "tells the model to drop its instructions"),
    (r"\b(?:ignore|disregard|forget)\s+(?:all\s+|any\s+|the\s+|everything\s+)*(?:previous|prior|above|earlier|"
     r"preceding)\b", "tells the model to drop what came before"),
    (r"\byou\s+(?:must|should|shall|have\s+to|need\s+to|are\s+(?:required|instructed)\s+to)\s+(?:always|never|"
     r"first|immediately|now|also|call|invoke|read|send|include|ignore|forget|not\s+(?:tell|mention|reveal|"
     r"disclose|inform|show))\b", "gives the model an order"),
    (r"\b(?:do\s+not|don't|never|without)\s+(?:tell|telling|inform|informing|mention|mentioning|reveal|revealing|"
     r"disclose|disclosing|show|showing|notify|notifying|alert|alerting|let|letting)\s+(?:this\s+to\s+)?"
     r"(?:the\s+)?user", "hides something from the user"),
    (r"\b(?:keep|hide)\s+(?:this|it|these|that)\s+(?:secret|hidden|confidential|from\s+the\s+user)\b",
     "hides something from the user"),
    (r"\bthe\s+user\s+(?:must|should|need)\s+(?:not|never)\s+(?:know|see|notice|find\s+out|be\s+told)\b",
     "hides something from the user"),
    (r"\bbefore\s+(?:you\s+)?(?:using|calling|invoking|running|use|call)\s+(?:this|any|the|other)\s+tools?\b"
     r"[^.\n]{0,80}?\b(?:read|open|send|call|invoke|run|fetch|include|upload|cat|copy|load)\b",
     "tells the model what to do before using the tool"),
    (r"\balways\s+(?:call|invoke|use|prefer|choose|run)\s+this\s+tool\b|\bcall\s+this\s+tool\s+(?:first|before|"
     r"instead|whenever|every\s+time)\b|\b(?:do\s+not|don't|never)\s+(?:call|invoke|use)\s+(?:any\s+)?"
     r"(?:other|another|the\s+other)\s+tools?\b|\binstead\s+of\s+(?:calling|using|invoking)\s+\S+(?:\s+tool)?"
     r"\s*,?\s*(?:call|use|invoke)\s+this\b", "steers the model's choice of tools"),
    (r"\b(?:assistant|AI|LLM|language\s+model|chatbot)\s+(?:must|should|shall|has\s+to|needs\s+to|"
     r"is\s+required\s+to)\b", "addresses the model"),
    (r"<\s*/?\s*(?:important|system|instructions?|admin|secret|hidden|sudo)\s*>|\[\s*(?:system|important|"
     r"instructions?)\s*\]|^\s*(?:system|assistant)\s*:|\bsystem\s+prompt\b|\byou\s+are\s+now\b|"
     r"\bnew\s+instructions\b|\b(?:conversation|chat)\s+history\b|\bsecretly\b|\bjailbreak",
     "reads like a prompt addressed to the model"),
    (r"~/\.\w+|\$HOME/\.\w+|/(?:home/\w+|root)/\.\w+|\bid_(?:rsa|dsa|ecdsa|ed25519)\b|/etc/(?:passwd|shadow|"
     r"sudoers)\b|(?<![\w/.])\.(?:env|ssh|netrc|pgpass|git-credentials|aws/credentials)\b",
     "points at a secret or credentials file"),
]]
_URLS = re.compile(r"\b(?:https?|ftps?|wss?|file)://[^\s<>\"')]+|\bdata:[a-z]+/[a-z0-9.+-]+[;,]|"
                   r"\bwww\.[a-z0-9-]+\.[a-z]{2,}\S*|\b[a-z0-9-]+(?:\.[a-z0-9-]+)*\.(?:com|net|org|io|ru|cn|xyz|"
                   r"info|biz|top|site|online|tk)\b(?:/\S*)?", _I)
_EXFILTRATION: list[tuple[re.Pattern[str], str]] = [(re.compile(p, _I), m) for p, m in [
    (r"\b(?:send|post|upload|forward|transmit|exfiltrate|leak|beacon|report|submit|e-?mail|copy)\w*\b[^.\n]{0,80}?"
     r"\b(?:to|at|via|using)\b[^.\n]{0,40}?(?:https?://|www\.|webhook|endpoint|server|remote|"
     r"[\w.+-]+@[\w-]+\.\w+|\burl\b|\bip\b)", "tells the model to send data somewhere"),
    (r"\b(?:read|send|include|append|collect|extract|copy|attach|upload|leak|share|dump|reveal)\w*\b[^.\n]{0,60}?"
     r"\b(?:api[\s_-]?keys?|secret\s+keys?|secrets|access[\s_-]?tokens?|auth(?:entication)?\s+tokens?|"
     r"bearer\s+tokens?|credentials|passwords?|passphrases?|private[\s_-]?keys?|ssh\s+keys?|"
     r"environment\s+variables|env\s+vars?|cookies?)\b", "asks for secrets"),
]]
_BLOBS = re.compile(r"[A-Za-z0-9+/]{40,}={0,2}|\b[0-9a-fA-F]{48,}\b|(?:\\x[0-9a-fA-F]{2}){8,}|(?:%[0-9A-Fa-f]{2}){8,}")
_INVISIBLE_EXTRA = frozenset({0x115F, 0x1160, 0x180E, 0x2800, 0x3164, 0xFFA0})
_LOOKALIKE_GREEK = frozenset("ΑΒΕΖΗΙΚΜΝΟΡΤΥΧαεικνορτυχ")
_OTHER_SCRIPTS = ("CYRILLIC", "GREEK", "ARMENIAN", "CHEROKEE", "COPTIC")


def _hidden(char: str) -> bool:
    """Invisible, bidirectional, tag, private-use or control characters (tab and newlines are fine)."""
    code = ord(char)
    if char in "\t\n\r":
        return False
    if unicodedata.category(char) in {"Cf", "Co", "Cs", "Cc", "Zl", "Zp"} or code in _INVISIBLE_EXTRA:
        return True
    return 0xFE00 <= code <= 0xFE0F or 0xE0100 <= code <= 0xE01EF  # variation selectors carry hidden data


def _escaped(text: str) -> str:
    return "".join((f"\\u{ord(c):04x}" if ord(c) <= 0xFFFF else f"\\U{ord(c):08x}") if _hidden(c) else c
                   for c in text)


def _excerpt(text: str, start: int = 0, end: int | None = None) -> str:
    """``text[start:end]`` with a little context, at most ~160 characters, invisible characters escaped."""
    end = len(text) if end is None else end
    left = max(0, start - 20)
    right = min(len(text), max(end, left + _EXCERPT), left + 2 * _EXCERPT)
    snippet = _escaped(text[left:right]).replace("\n", " ")
    return ("…" if left else "") + snippet + ("…" if right < len(text) else "")


def _is_blob(blob: str) -> bool:
    """Escaped bytes, or a run that mixes the character classes of base64 or hex (not a long word or number)."""
    if blob.startswith(("\\x", "%")):
        return True
    digits, upper, lower = (any(test(c) for c in blob) for test in (str.isdigit, str.isupper, str.islower))
    if re.fullmatch(r"[0-9a-fA-F]+", blob):
        return digits and (upper or lower)
    return digits and upper and lower


def _script(char: str) -> str:
    try:
        return unicodedata.name(char).split(" ", 1)[0]
    except ValueError:
        return ""


def _confusable_words(text: str) -> Iterator[re.Match[str]]:
    """Words that mix Latin letters with look-alike letters of another script (``p\\u0430ypal``)."""
    for match in re.finditer(r"\w+", text):
        word = match.group()
        if word.isascii():
            continue
        latin = sum(1 for c in word if c.isalpha() and c.isascii())
        foreign = [c for c in word if c.isalpha() and _script(c) in _OTHER_SCRIPTS]
        if latin >= 2 and foreign and all(_script(c) != "GREEK" or c in _LOOKALIKE_GREEK for c in foreign):
            yield match


def _finding(kind: FindingKind, where: str, excerpt: str, message: str) -> ReviewFinding:
    return ReviewFinding(kind=kind, where=where, excerpt=excerpt, message=message)


def _pattern_findings(kind: FindingKind, patterns: list[tuple[re.Pattern[str], str]], text: str,
                      where: str) -> list[ReviewFinding]:
    """One finding per pattern that matches ``text``, skipping matches that overlap one already reported."""
    found: list[ReviewFinding] = []
    spans: list[tuple[int, int]] = []
    for pattern, message in patterns:
        match = pattern.search(text)
        if match is None or any(match.start() < end and start < match.end() for start, end in spans):
            continue
        spans.append(match.span())
        found.append(_finding(kind, where, _excerpt(text, match.start(), match.end()), message))
    return found


def scan_text(text: str, where: str, *, limit: int) -> list[ReviewFinding]:
    """The findings in one text an LLM will read, found at ``where``; ``limit`` is its reasonable length."""
    findings: list[ReviewFinding] = []
    hidden = [c for c in text if _hidden(c)]
    if hidden:
        first = next(i for i, c in enumerate(text) if _hidden(c))
        names = ", ".join(dict.fromkeys(f"U+{ord(c):04X} {unicodedata.name(c, 'unnamed')}" for c in hidden[:5]))
        findings.append(_finding("hidden_unicode", where, _excerpt(text, first, first + 1),
                                 f"{len(hidden)} invisible or bidirectional character(s): {names}"))
    word = next(_confusable_words(text), None)
    if word is not None:
        findings.append(_finding("confusable", where, _escaped(word.group()),
                                 f"{word.group()!r} mixes Latin with look-alike letters of another script"))
    clean = unicodedata.normalize("NFKC", "".join(c for c in text if not _hidden(c)))
    findings += _pattern_findings("instruction", _INSTRUCTIONS, clean, where)
    findings += _pattern_findings("exfiltration", _EXFILTRATION, clean, where)
    url = _URLS.search(clean)
    if url is not None:
        findings.append(_finding("url", where, _excerpt(clean, url.start(), url.end()),
                                 f"contains a URL or domain ({url.group()[:60]}); tools should not point the "
                                 "model at the network"))
    for match in _BLOBS.finditer(clean):
        if _is_blob(match.group()):
            findings.append(_finding("encoded_blob", where, _excerpt(clean, match.start(), match.end()),
                                     f"a {len(match.group())}-character encoded blob (base64, hex or escaped "
                                     "bytes)"))
            break
    if len(text) > limit:
        findings.append(_finding("long_text", where, _excerpt(text, limit, limit),
                                 f"{len(text)} characters, more than the {limit} expected here"))
    return findings


def _values(value: Any, where: str) -> Iterator[tuple[str, str]]:
    """Every string inside an instance value (a default, an enum member, an example)."""
    if isinstance(value, str):
        yield where, value
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _values(item, f"{where}[{index}]")
    elif isinstance(value, dict):
        for key, item in value.items():
            yield f"{where}.{key}", str(key)
            yield from _values(item, f"{where}.{key}")


def schema_texts(schema: Any, where: str) -> Iterator[tuple[str, str, int]]:
    """``(where, text, limit)`` for every text of a JSON Schema a model reads."""
    if isinstance(schema, list):
        for index, item in enumerate(schema):
            yield from schema_texts(item, f"{where}[{index}]")
        return
    if not isinstance(schema, dict):
        return
    for key, value in schema.items():
        path = f"{where}.{key}"
        if key in ("description", "title") and isinstance(value, str):
            yield path, value, TEXT_LIMITS[key]
        elif key in ("default", "const", "enum", "examples"):
            for place, text in _values(value, path):
                yield place, text, TEXT_LIMITS["value"]
        elif key in ("properties", "patternProperties", "$defs", "definitions") and isinstance(value, dict):
            for name, sub in value.items():
                yield f"{path}.{name}", str(name), TEXT_LIMITS["name"]
                yield from schema_texts(sub, f"{path}.{name}")
        elif isinstance(value, dict | list):
            yield from schema_texts(value, path)


def scan_spec(spec: ToolSpec, *, neighbours: Iterable[str] = ()) -> list[ReviewFinding]:
    """Every finding in ``spec``'s texts; ``neighbours`` are the other tool names of its namespace."""
    findings = imitated_names(spec.name, neighbours)
    findings += scan_text(spec.description, "description", limit=DESCRIPTION_LIMIT)
    for schema, prefix in ((spec.input_schema, "input"), (spec.output_schema, "output")):
        for where, text, limit in schema_texts(schema, prefix):
            findings += scan_text(text, where, limit=limit)
    return findings
