"""``POST /tools``: publish a ToolSpec (JSON) or a ``.py`` module (multipart upload).

Either form may name ``supersedes``, the version ids the new version consolidates (a list in the
JSON body; a JSON list or comma-separated ids in a multipart field).

201 with the ``PublishOutcome`` for a new tool or version (``Location`` names it), 200 for a
duplicate or an equivalent of an existing version, and a 422 problem for a rejection, whose
extension members carry the outcome (``reasons``, ``findings``, ``test_report``).
"""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from pydantic import TypeAdapter, ValidationError
from starlette.datastructures import UploadFile

from registry.api.deps import ContextDep, CuratorKey, actor_of, check_write
from registry.api.problems import PROBLEM_RESPONSES, problem_response
from registry.errors import InvalidRequest
from registry.schemas import PublishOutcome, PublishRequest, VersionIds
from toolbox.analysis import build_spec
from toolbox.errors import AnalysisError, SpecError
from toolbox.spec import MAX_SOURCE_BYTES, MAX_TESTS, ToolSpec, ToolTest

__all__ = ["PUBLISH_REQUEST_BODY", "router"]

MAX_TESTS_BYTES = 1 << 20
_VERSION_IDS: TypeAdapter[list[str]] = TypeAdapter(VersionIds)
_TEXT = {"type": "string", "maxLength": 4096}
PUBLISH_REQUEST_BODY: dict[str, Any] = {
    "required": True,
    "content": {
        "application/json": {"schema": {"$ref": "#/components/schemas/PublishRequest"}},
        "multipart/form-data": {
            "schema": {
                "type": "object",
                "required": ["file"],
                "properties": {
                    "file": {"type": "string", "format": "binary", "description": "The tool's Python module."},
                    "tests": {"type": "string", "description": "A JSON list of tests (a file or a plain field)."},
                    "namespace": {"type": "string", "description": "Default: 'default'."},
                    "name": {"type": "string", "description": "Default: the entrypoint's name."},
                    "entrypoint": {"type": "string", "description": "Default: the only public function."},
                    "description": _TEXT,
                    "changelog": _TEXT,
                    "activate": {"type": "boolean", "default": False},
                    "supersedes": {"type": "string", "description": "Version ids this version consolidates: a "
                                                                    "JSON list or comma-separated."},
                },
            }
        },
    },
}

router = APIRouter(tags=["publish"])


def _rejected(request: Request, outcome: PublishOutcome) -> Response:
    detail = "; ".join(outcome.reasons[:3]) or "the tool was rejected"
    return problem_response(422, detail, title="Publish rejected", instance=request.url.path,
                            **outcome.model_dump(mode="json", exclude={"version", "semver", "change"}))


async def _text(value: UploadFile | str | None, field: str, limit: int) -> str | None:
    if value is None:
        return None
    raw = await value.read(limit + 1) if isinstance(value, UploadFile) else value.encode()
    if len(raw) > limit:
        raise InvalidRequest(f"{field} is larger than {limit} bytes")
    try:
        return raw.decode()
    except UnicodeDecodeError:
        raise InvalidRequest(f"{field} is not UTF-8 text") from None


def _tests(raw: str | None) -> list[ToolTest]:
    if raw is None or not raw.strip():
        return []
    try:
        data = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise InvalidRequest(f"tests is not valid JSON ({exc}); send a list of {{'args': ..., 'expected': ...}}") \
            from None
    if not isinstance(data, list):
        raise InvalidRequest("tests must be a JSON list of {'args': {...}, 'expected': ...} objects")
    if len(data) > MAX_TESTS:
        raise InvalidRequest(f"{len(data)} tests; the limit is {MAX_TESTS}")
    try:
        return [ToolTest.model_validate(item) for item in data]
    except ValidationError as exc:
        raise RequestValidationError([{**e, "loc": ("body", "tests", *e["loc"])} for e in exc.errors()]) from None


def _flag(value: Any, field: str) -> bool:
    if value is None or isinstance(value, UploadFile):
        return False
    text = str(value).strip().lower()
    if text in {"", "0", "false", "no", "off"}:
        return False
    if text in {"1", "true", "yes", "on"}:
        return True
    raise InvalidRequest(f"{field} must be true or false, not {value!r}")


def _supersedes(raw: Any) -> list[str]:
    """A multipart ``supersedes`` field: a JSON list of version ids, or ids separated by commas or spaces."""
    if raw is None or isinstance(raw, UploadFile) or not str(raw).strip():
        return []
    text = str(raw).strip()
    try:
        data = json.loads(text) if text.startswith("[") else text.replace(",", " ").split()
    except json.JSONDecodeError as exc:
        raise InvalidRequest(f"supersedes is not a valid JSON list ({exc}); send version ids") from None
    try:
        return _VERSION_IDS.validate_python(data)
    except ValidationError as exc:
        raise RequestValidationError([{**e, "loc": ("body", "supersedes", *e["loc"])} for e in exc.errors()]) \
            from None


async def _spec_from_upload(request: Request, context: ContextDep) -> tuple[ToolSpec, bool, str, list[str]]:
    async with request.form(max_files=2, max_fields=16) as form:
        upload = form.get("file")
        if not isinstance(upload, UploadFile):
            raise InvalidRequest("multipart publish needs a 'file' part holding the tool's .py module")
        source = await _text(upload, "file", MAX_SOURCE_BYTES) or ""
        tests = _tests(await _text(form.get("tests"), "tests", MAX_TESTS_BYTES))
        fields = {name: value.strip() for name, value in form.items()
                  if isinstance(value, str) and value.strip() and name != "tests"}
        activate = _flag(fields.get("activate"), "activate")
    supersedes = _supersedes(fields.get("supersedes"))
    if len(fields.get("changelog", "")) > 4096:
        raise InvalidRequest("changelog is longer than 4096 characters")
    try:
        spec = await run_in_threadpool(
            build_spec, source, entrypoint=fields.get("entrypoint"), name=fields.get("name"),
            namespace=fields.get("namespace") or "default", description=fields.get("description"), tests=tests,
            allowed_imports=context.settings.sandbox.allowed_imports)
    except ValidationError as exc:
        raise RequestValidationError([{**e, "loc": ("body", *e["loc"])} for e in exc.errors()]) from None
    return spec, activate, fields.get("changelog", ""), supersedes


async def _spec_from_json(request: Request) -> tuple[ToolSpec, list[str]]:
    try:
        data = json.loads(await request.body())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise RequestValidationError([{"loc": ("body",), "msg": f"the body is not valid JSON: {exc}",
                                       "type": "json_invalid"}]) from None
    try:
        body = PublishRequest.model_validate(data)
    except ValidationError as exc:
        raise RequestValidationError([{**e, "loc": ("body", *e["loc"])} for e in exc.errors()]) from None
    return body.spec(), body.supersedes


@router.post(
    "/tools",
    status_code=201,
    summary="Publish a tool",
    openapi_extra={"requestBody": PUBLISH_REQUEST_BODY},
    responses={
        200: {"model": PublishOutcome, "description": "A duplicate or an equivalent of an existing version."},
        201: {"model": PublishOutcome, "description": "A new tool or a new version."},
        **{code: PROBLEM_RESPONSES[code] for code in (401, 403, 413, 422)},
        415: PROBLEM_RESPONSES[422] | {"description": "The body is neither JSON nor multipart/form-data."},
    },
)
async def publish_route(
    request: Request,
    context: ContextDep,
    principal: CuratorKey,
    activate: Annotated[bool, Query(description="JSON bodies: make the new version active.")] = False,
    changelog: Annotated[str, Query(max_length=4096, description="JSON bodies: the version's changelog.")] = "",
) -> Response:
    """Check, test, deduplicate and store a tool; see the outcome's ``kind``."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type == "multipart/form-data":
        try:
            spec, activate, changelog, supersedes = await _spec_from_upload(request, context)
        except AnalysisError as exc:
            return _rejected(request, PublishOutcome(
                kind="rejected", reasons=[str(exc)],
                findings=list(exc.findings)))
        except SpecError as exc:
            raise InvalidRequest(str(exc)) from None
    elif content_type in {"application/json", ""} or content_type.endswith("+json"):
        spec, supersedes = await _spec_from_json(request)
    else:
        return problem_response(415, f"send the tool as application/json (a ToolSpec) or multipart/form-data "
                                     f"(a .py file), not {content_type!r}", instance=request.url.path)
    check_write(principal, spec.namespace)
    outcome = await run_in_threadpool(context.services.publisher.publish, spec, actor=actor_of(principal),
                                      activate=activate, changelog=changelog, supersedes=supersedes)
    if outcome.kind == "rejected":
        return _rejected(request, outcome)
    body = outcome.model_dump_json()
    if outcome.kind in {"new_tool", "new_version"}:
        location = f"{request.url.path.rstrip('/')}/{spec.namespace}/{spec.name}/versions/{outcome.semver}"
        return Response(body, status_code=201, media_type="application/json", headers={"Location": location})
    return Response(body, status_code=200, media_type="application/json")
