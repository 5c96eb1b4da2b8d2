"""The admin API: one Powertools ``APIGatewayRestResolver`` app for Lambda and ``qnabot serve``.

:func:`create_app` registers every route on one resolver over a :class:`DesignerServices`.
In AWS it runs behind API Gateway (:mod:`content_designer.lambda_function`); locally the
thin adapter in :mod:`content_designer.local_server` turns HTTP requests into the same API
Gateway events. Request bodies and query parameters are validated from the type hints
(``enable_validation``); a bad request gets a 4xx JSON body naming each wrong field::

    {"error": "invalid request", "problems": [{"field": "body.question", "message": "..."}]}

Routes that declare ``security`` in the OpenAPI document are admin routes: they need the
Cognito authorizer in AWS, and the local bearer token locally (see :mod:`content_designer.auth`).

Example:
    >>> app = create_app(services)  # doctest: +SKIP
    >>> app.resolve(api_gateway_event("GET", "/health"), None)["statusCode"]  # doctest: +SKIP
    200
"""

from __future__ import annotations

import csv
import importlib.util
import io
import json
import logging
import re
import time
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response, content_types
from aws_lambda_powertools.event_handler.exceptions import NotFoundError
from aws_lambda_powertools.event_handler.openapi.exceptions import (
    RequestValidationError,
    ResponseValidationError,
)
from aws_lambda_powertools.event_handler.openapi.models import HTTPBearer
from aws_lambda_powertools.event_handler.openapi.params import (
    Body,
    File,
    Form,
    Path,
    Query,
    UploadFile,
)
from pydantic import BaseModel, Field

from content_designer.analytics import MetricsUnavailableError, merge_feedback, summarize
from content_designer.chat import display
from content_designer.feedback import Feedback
from content_designer.item_search import ItemQuery, find_items
from content_designer.jobs import JobStatus
from content_designer.pages import EMBEDDABLE_HEADERS, PAGES, SECURITY_HEADERS, static_file
from content_designer.resolver import ConcurrentRestResolver
from content_designer.services import DesignerServices
from fulfillment.sanitize import sanitize_ssml
from fulfillment.sanitize import to_ssml as text_to_ssml
from knowledge.embeddings.base import EmbeddingsError
from knowledge.items import InvalidItemError, parse_item
from knowledge.settings import (
    REGISTRY,
    SettingError,
    SettingsUnavailableError,
    close_matches,
    custom_setting,
    is_custom,
    lookup,
    validate_updates,
)
from knowledge.settings_transfer import EXPORT_FILE_NAME, export_settings, validate_import
from knowledge.store import DimensionMismatchError, StoreError
from knowledge.tuning import DEFAULTS_CHOSEN_AT_WRONG_RATE
from knowledge.validation import ITEM_TYPES, item_schema

logger = logging.getLogger(__name__)

API_TITLE = "QnABot content designer API"
API_VERSION = "1.0.0"
#: The OpenAPI security requirement of every admin route.
ADMIN = [{"bearerAuth": []}]
#: Largest upload accepted by the import and test-all jobs (API Gateway's own limit is 10 MB;
#: larger files go to the S3 import bucket directly).
MAX_UPLOAD_BYTES = 50 * 1024 * 1024
MAX_PAGE = 500

SessionId = Annotated[str, Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9._:@-]+$")]


# --- request bodies -------------------------------------------------------------------------


class DeleteItems(BaseModel):
    qids: list[Annotated[str, Field(min_length=1, max_length=100)]] = Field(
        min_length=1, max_length=1000, description="The qids to delete.")


class NewQid(BaseModel):
    new_qid: Annotated[str, Field(min_length=1, max_length=100, pattern=r"^\S+$",
                                  description="The qid to give the item (no spaces).")]


class TestAllRequest(BaseModel):
    topic: str = Field("", max_length=100, description="Only the items of this topic.")
    client_filter: str = Field("", max_length=100,
                               description="Ask as this client: only the items it sees.")


class MatchRequest(BaseModel):
    question: str = Field(min_length=1, max_length=1000, description="The question to match.")
    topic: str = Field("", max_length=100, description="Session topic: its items get a boost.")
    client_filter: str | None = Field(
        None, max_length=100, description="Only items for this client (clientFilterValues).")
    all_stages: bool = Field(True, description="Show every stage's candidates, not only up to "
                                               "the first that passes.")


class ExportRequest(BaseModel):
    qid_filter: str = Field("", max_length=100, description="Only qids containing this text.")
    prefix: bool = Field(False, description="Match the filter at the start of the qid only.")


class ResetSettings(BaseModel):
    names: list[str] | None = Field(None, max_length=len(REGISTRY) + 1000,
                                    description="Settings to reset; all of them when omitted.")


class BuildBot(BaseModel):
    locales: str | None = Field(None, max_length=200,
                                description="Comma-separated locales, e.g. en_US,fr_CA (default: "
                                            "LEXV2_BOT_LOCALE_IDS or en_US).")
    dry_run: bool = Field(False, description="Check the definition without calling Lex.")


class ChatRequest(BaseModel):
    text: str = Field(min_length=1, max_length=10_000, description="What the user typed.")
    session_id: SessionId = Field(description="Kept by the page across turns.")
    channel: Literal["text", "voice"] = "text"
    request_attributes: dict[Annotated[str, Field(max_length=100)],
                             Annotated[str, Field(max_length=1000)]] = Field(
        default_factory=dict, max_length=20,
        description="Lex V2 requestAttributes for this turn only, as RecognizeText takes them "
                    '(the chat page sends {"qnabot_welcome": "true"} on its welcome turn).')


class FeedbackRequest(BaseModel):
    session_id: SessionId
    qid: str = Field("", max_length=100, description="The qid of the answer judged.")
    question: str = Field(max_length=1024)
    verdict: Literal["up", "down"]
    answer: str = Field("", max_length=8000)


# --- helpers --------------------------------------------------------------------------------


def error(status: int, message: str,
          problems: list[dict[str, str]] | None = None) -> Response[dict[str, Any]]:
    """A JSON error response: what was wrong and, per field, why."""
    body: dict[str, Any] = {"error": message}
    if problems:
        body["problems"] = problems
    return Response(status_code=status, content_type=content_types.APPLICATION_JSON, body=body)


def _field(loc: Any) -> str:
    return ".".join(str(part) for part in loc) if isinstance(loc, (list, tuple)) else str(loc)


def _setting_name(problem: str) -> str:
    """The setting a problem line of :func:`validate_updates` is about."""
    named = re.match(r'^([A-Za-z0-9_]+): |^unknown setting "([^"]*)"', problem)
    return f"body.{named.group(1) or named.group(2)}" if named else "body"


def _setting_json(name: str, overrides: dict[str, str]) -> dict[str, Any]:
    setting = REGISTRY.get(name) or custom_setting(name)
    return {
        "name": name,
        "type": setting.type,
        "category": setting.category,
        "description": setting.description,
        "default": setting.default,
        "value": overrides.get(name, setting.default),
        "overridden": name in overrides,
        "minimum": setting.minimum,
        "maximum": setting.maximum,
        "choices": list(setting.choices),
    }


def _custom_warnings(stored: dict[str, str]) -> list[str]:
    """A note for each new custom setting whose name is close to a declared one (a typo?)."""
    warnings = []
    for name in sorted(stored):
        if name not in REGISTRY and (close := close_matches(name)):
            warnings.append(f'{name} is kept as a custom setting; did you mean '
                            f'{" or ".join(close)}?')
    return warnings


def create_app(services: DesignerServices) -> APIGatewayRestResolver:
    """The admin API over ``services`` (chat routes only when ``services.chat`` is set)."""
    app = ConcurrentRestResolver(enable_validation=True)

    # --- security and errors ------------------------------------------------------------

    def refusal() -> Response | None:
        """A 401 when the matched route is an admin route and the caller is not admitted."""
        route = app.context.get("_route")
        if route is None or not route.security or services.authorize(app.current_event.raw_event):
            return None
        return Response(status_code=401, content_type=content_types.APPLICATION_JSON,
                        body={"error": "this route needs the admin token: send the header "
                                       "'Authorization: Bearer <token>' (printed by "
                                       "`qnabot serve`, kept in $QNABOT_HOME/admin-token)"},
                        headers={"WWW-Authenticate": "Bearer"})

    def require_admin(app_: APIGatewayRestResolver, next_middleware):
        return refusal() or next_middleware(app_)

    app.use(middlewares=[require_admin])

    @app.exception_handler(RequestValidationError)
    def invalid_request(exc: RequestValidationError) -> Response[dict[str, Any]]:
        # Validation runs before middlewares: refuse strangers before telling them about fields.
        refused = refusal()
        if refused is not None:
            return refused
        problems = [{"field": _field(e.get("loc")), "message": e.get("msg") or e.get("type", "")}
                    for e in exc.errors()]
        return error(422, "invalid request", problems)

    @app.exception_handler(ValueError)
    def unreadable_request(exc: ValueError) -> Response[dict[str, Any]]:
        # Powertools raises ValueError for bodies it cannot parse (a multipart body without
        # its boundary, say): the client's mistake, so a 400 rather than a 500.
        refused = refusal()
        if refused is not None:
            return refused
        return error(400, f"the request could not be read: {exc}")

    @app.exception_handler(RecursionError)
    def too_deep(exc: RecursionError) -> Response[dict[str, Any]]:
        # A JSON body nested past the parser's limit (the local server refuses these before
        # parsing; behind API Gateway they reach the parser): the client's mistake, a 400.
        return refusal() or error(400, "the request body is nested too deeply to read")

    @app.exception_handler(ResponseValidationError)
    def broken_response(exc: ResponseValidationError) -> Response[dict[str, Any]]:
        logger.error("a response did not match the OpenAPI document: %s", exc.errors())
        return error(500, "internal error: the response did not match the API's document")

    @app.exception_handler(NotFoundError)
    def not_found(exc: NotFoundError) -> Response[dict[str, Any]]:
        return error(404, f"no route {app.current_event.http_method} {app.current_event.path}")

    @app.exception_handler(SettingError)
    def bad_setting(exc: SettingError) -> Response[dict[str, Any]]:
        lines = [line for line in str(exc).splitlines() if line]
        problems = [{"field": _setting_name(line), "message": line} for line in lines]
        return error(400, "settings not saved: " + "; ".join(lines), problems)

    @app.exception_handler(DimensionMismatchError)
    def other_model(exc: DimensionMismatchError) -> Response[dict[str, Any]]:
        return error(409, str(exc))

    @app.exception_handler([StoreError, EmbeddingsError, SettingsUnavailableError,
                            MetricsUnavailableError])  # a list
    def unavailable(exc: Exception) -> Response[dict[str, Any]]:
        return error(503, str(exc))

    # --- health and info ----------------------------------------------------------------

    @app.get("/health", summary="Liveness check", tags=["info"])
    def health() -> dict[str, Any]:
        return {"status": "ok"}

    @app.get("/info", summary="Versions, counts and backends", tags=["info"], security=ADMIN)
    def info() -> dict[str, Any]:
        kb = services.kb
        stored = kb.store.index_info()
        return {
            "version": API_VERSION,
            "items": kb.store.count(),
            "embeddings_model": kb.embeddings.model_id,
            "index_model": stored.model_id if stored else None,
            "store": type(kb.store).__name__,
            "chat": services.chat is not None,
            "uptime_seconds": round(time.time() - services.started, 1),
            **services.environment,
        }

    @app.get("/openapi.json", summary="This API's OpenAPI document", tags=["info"])
    def openapi() -> Response[dict[str, Any]]:
        return Response(status_code=200, content_type=content_types.APPLICATION_JSON,
                        body=openapi_document(app))

    # --- items ----------------------------------------------------------------------------

    @app.get("/items", summary="Find items: words anywhere, filters, sorting, pages",
             tags=["items"], security=ADMIN)
    def list_items(
        q: Annotated[str, Query(max_length=200, description="Words the item holds anywhere "
                                "(qid, questions, answer, passage); case and accents "
                                "ignored.")] = "",
        qid: Annotated[str, Query(max_length=100, description="Plain text the qid contains "
                                                              "(never a pattern).")] = "",
        prefix: Annotated[bool, Query(description="The qid starts with the text.")] = False,
        topic: Annotated[str | None, Query(max_length=100, description="Only this topic "
                                           "('' for items without one).")] = None,
        type: Annotated[str | None, Query(max_length=20)] = None,  # noqa: A002
        client: Annotated[str | None, Query(max_length=100, description="Only items this "
                                            "client sees ('' for unfiltered items).")] = None,
        sort: Annotated[Literal["qid", "type", "topic", "questions", "answer"], Query()] = "qid",
        order: Annotated[Literal["asc", "desc"], Query()] = "asc",
        offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
        limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 50,
    ) -> dict[str, Any]:
        plain = not (q or topic is not None or type or client is not None or sort != "qid"
                     or order != "asc")
        if plain:  # the store pages by qid itself (fast on OpenSearch too)
            page = services.kb.store.list(qid_filter=qid, prefix=prefix, offset=offset,
                                          limit=limit)
            return {"items": [item.to_json() for item in page.items], "total": page.total,
                    "offset": offset, "limit": limit}
        items = services.kb.store.iter_items()
        if qid:
            items = (i for i in items if (i.qid.startswith(qid) if prefix else qid in i.qid))
        found = find_items(items, ItemQuery(text=q, topic=topic, item_type=type or None,
                                            client=client, sort=sort,
                                            descending=order == "desc", offset=offset,
                                            limit=limit))
        return {"items": [item.to_json() for item in found.items], "total": found.total,
                "offset": offset, "limit": limit, "facets": found.facets.to_json()}

    @app.get("/items-facets", summary="The topics, types and clients the items use",
             tags=["items"], security=ADMIN)
    def item_facets() -> dict[str, Any]:
        found = find_items(services.kb.store.iter_items(), ItemQuery(limit=1))
        return {**found.facets.to_json(), "total": found.total}

    def copy_item(qid: str, new_qid: str) -> tuple[Any, Response | None]:
        """The item ``qid`` stored again as ``new_qid`` (or the error response)."""
        item = services.kb.store.get(qid)
        if item is None:
            return None, error(404, f'no item with qid "{qid}"')
        if services.kb.store.get(new_qid) is not None:
            return None, error(409, f'an item with qid "{new_qid}" already exists; choose '
                                    "another qid or delete that item first",
                               [{"field": "body.new_qid", "message": "is already used"}])
        copied = parse_item({**item.to_json(), "qid": new_qid})
        services.kb.put_items([copied])
        return copied, None

    @app.post("/items/preview", summary="How the chat would show an item's answer (HTML, "
                                        "text, SSML, card)", tags=["items"], security=ADMIN)
    def preview_item(item: Annotated[dict[str, Any], Body()]) -> dict[str, Any]:
        alt = item.get("alt") if isinstance(item.get("alt"), dict) else {}
        text = str(item.get("a") or item.get("passage") or "")
        markdown = str(alt.get("markdown") or "") or text
        card = item.get("r") if isinstance(item.get("r"), dict) else {}
        messages: list[dict[str, Any]] = [{"contentType": "PlainText", "content": text}]
        if any(card.get(k) for k in ("title", "imageUrl", "buttons")):
            messages.append({"contentType": "ImageResponseCard", "imageResponseCard": {
                "title": str(card.get("title") or ""), "subtitle": str(card.get("subTitle") or ""),
                "imageUrl": str(card.get("imageUrl") or ""),
                "buttons": [b for b in card.get("buttons") or [] if isinstance(b, dict)]}})
        ssml = sanitize_ssml(str(alt.get("ssml") or "")) if alt.get("ssml") else \
            text_to_ssml(text)
        return display({"messages": messages, "sessionState": {"sessionAttributes": {
            "appContext": json.dumps({"altMessages": {"markdown": markdown, "ssml": ssml}})}}})

    @app.post("/items/<qid>/rename", summary="Give an item a new qid (the old qid is removed)",
              tags=["items"], security=ADMIN)
    def rename_item(qid: Annotated[str, Path(max_length=100)],
                    request: NewQid) -> Response[dict[str, Any]]:
        copied, refused = copy_item(qid, request.new_qid)
        if refused is not None:
            return refused
        if request.new_qid != qid:
            services.kb.store.delete([qid])
        return Response(200, content_types.APPLICATION_JSON,
                        {"renamed": qid, "item": copied.to_json()})

    @app.post("/items/<qid>/duplicate", summary="Copy an item under a new qid",
              tags=["items"], security=ADMIN, status_code=201)
    def duplicate_item(qid: Annotated[str, Path(max_length=100)],
                       request: NewQid) -> Response[dict[str, Any]]:
        copied, refused = copy_item(qid, request.new_qid)
        if refused is not None:
            return refused
        return Response(201, content_types.APPLICATION_JSON, copied.to_json())

    @app.get("/items/<qid>", summary="Get one item", tags=["items"], security=ADMIN)
    def get_item(qid: Annotated[str, Path(max_length=100)]) -> Response[dict[str, Any]]:
        item = services.kb.store.get(qid)
        if item is None:
            return error(404, f'no item with qid "{qid}"')
        return Response(200, content_types.APPLICATION_JSON, item.to_json())

    @app.put("/items/<qid>", summary="Create or replace an item (embeddings are computed)",
             tags=["items"], security=ADMIN)
    def put_item(qid: Annotated[str, Path(max_length=100)],
                 item: Annotated[dict[str, Any], Body(
                     description="The item in QnABot's JSON format (see /schemas/qna and "
                                 "/schemas/text); its qid must be the one in the path.")],
                 ) -> Response[dict[str, Any]]:
        if item.get("qid", qid) != qid:
            return error(400, "the item's qid must match the qid in the path",
                         [{"field": "body.qid", "message": f'is "{item.get("qid")}", the path '
                                                           f'says "{qid}"'}])
        try:
            parsed = parse_item({**item, "qid": qid})
        except InvalidItemError as exc:
            return error(400, f'item "{qid}" was not saved: fix the fields below',
                         [{"field": f"body.{p.field}", "message": p.message}
                          for p in exc.problems])
        existed = services.kb.store.get(qid) is not None
        services.kb.put_items([parsed])
        return Response(200 if existed else 201, content_types.APPLICATION_JSON,
                        parsed.to_json())

    @app.delete("/items/<qid>", summary="Delete one item", tags=["items"], security=ADMIN)
    def delete_item(qid: Annotated[str, Path(max_length=100)]) -> Response[dict[str, Any]]:
        if not services.kb.store.delete([qid]):
            return error(404, f'no item with qid "{qid}"')
        return Response(200, content_types.APPLICATION_JSON, {"deleted": 1})

    @app.post("/items/delete", summary="Delete a list of items", tags=["items"], security=ADMIN)
    def delete_items(request: DeleteItems) -> dict[str, Any]:
        return {"deleted": services.kb.store.delete(request.qids), "asked": len(request.qids)}

    @app.get("/schemas", summary="The item types the editor offers", tags=["items"],
             security=ADMIN)
    def schema_types() -> dict[str, Any]:
        return {"types": list(ITEM_TYPES)}

    @app.get("/schemas/<item_type>", summary="The JSON Schema of an item type (references "
                                             "resolved, for building the editing form)",
             tags=["items"], security=ADMIN)
    def schema(item_type: Annotated[str, Path(max_length=40)]) -> Response[dict[str, Any]]:
        if item_type not in ITEM_TYPES:
            return error(404, f'no item type "{item_type}"; the types are '
                              f'{", ".join(ITEM_TYPES)}')
        return Response(200, content_types.APPLICATION_JSON, inlined_schema(item_type))

    # --- test -----------------------------------------------------------------------------

    @app.post("/test", summary="Match a question as the bot does; ranked candidates and scores",
              tags=["test"], security=ADMIN)
    def test_question(request: MatchRequest) -> dict[str, Any]:
        result = services.kb.search(request.question, services.settings(), topic=request.topic,
                                    client_filter=request.client_filter,
                                    all_stages=request.all_stages)
        return result.to_json()

    # --- jobs -----------------------------------------------------------------------------

    def accepted(status: JobStatus) -> Response[dict[str, Any]]:
        """202 with the new job's status."""
        return Response(202, content_types.APPLICATION_JSON, status.to_json())

    def submit_upload(kind: str, file: UploadFile, options: dict[str, Any]
                      ) -> Response[dict[str, Any]]:
        """Start a ``kind`` job on an uploaded file (413 when it is too big to upload)."""
        if len(file.content) > MAX_UPLOAD_BYTES:
            return error(413, f"the file is {len(file.content)} bytes; the limit here is "
                              f"{MAX_UPLOAD_BYTES}: import it with `qnabot import`, or in AWS "
                              "put it in the import/export bucket's imports/ folder")
        return accepted(services.jobs.submit(kind, upload=file.content,
                                             filename=file.filename or "", options=options))

    @app.post("/jobs/import", summary="Upload a QnABot JSON or JSON Lines file to import",
              tags=["jobs"], security=ADMIN, status_code=202)
    def start_import(
        file: Annotated[UploadFile, File(description="QnABot export or JSON Lines file.")],
        replace_all: Annotated[bool, Form(description="Remove every item not in the file.")]
        = False,
    ) -> Response[dict[str, Any]]:
        return submit_upload("import", file, {"replace_all": replace_all})

    @app.post("/jobs/export", summary="Export items to a downloadable QnABot file",
              tags=["jobs"], security=ADMIN, status_code=202)
    def start_export(request: ExportRequest) -> Response[dict[str, Any]]:
        return accepted(services.jobs.submit("export", filename="qna-export.json",
                                             options=request.model_dump()))

    @app.post("/jobs/test-all", summary="Ask every question of the knowledge base; report "
                                        "which find their own qid",
              tags=["jobs"], security=ADMIN, status_code=202)
    def start_test_all(request: TestAllRequest | None = None) -> Response[dict[str, Any]]:
        options = (request or TestAllRequest()).model_dump()
        label = ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in options.items() if v)
        return accepted(services.jobs.submit("test_all", filename="knowledge base" + (
            f" ({label})" if label else ""), options=options))

    @app.post("/jobs/test-all/upload", summary="Ask the questions of a labeled file (items, "
                                               "{question, qid} lines or qnabot eval's format)",
              tags=["jobs"], security=ADMIN, status_code=202)
    def start_test_file(
        file: Annotated[UploadFile, File(description="Items or {question, qid} JSON Lines.")],
        client_filter: Annotated[str, Form(max_length=100)] = "",
    ) -> Response[dict[str, Any]]:
        return submit_upload("test_all", file, {"client_filter": client_filter})

    @app.post("/jobs/tune", summary="Sweep the matching thresholds on a labeled file (qnabot "
                                    "tune) and recommend settings",
              tags=["jobs"], security=ADMIN, status_code=202)
    def start_tune(
        file: Annotated[UploadFile, File(description="Labeled conversations (JSON Lines).")],
        max_wrong_rate: Annotated[float, Form(ge=0, le=1)] = DEFAULTS_CHOSEN_AT_WRONG_RATE,
    ) -> Response[dict[str, Any]]:
        return submit_upload("tune", file, {"max_wrong_rate": max_wrong_rate})

    @app.get("/jobs/<job_id>/report", summary="A finished test-all job's outcomes as CSV",
             tags=["jobs"], security=ADMIN)
    def test_all_report(job_id: Annotated[str, Path(max_length=64)]) -> Response[str | dict]:
        status = services.jobs.status(job_id)
        if status is None or status.kind != "test_all" or status.state != "succeeded":
            return error(404, f'job "{job_id}" has no report (not a finished test-all job)')
        return Response(200, "text/csv; charset=utf-8", outcomes_csv(status.result),
                        headers={"Content-Disposition":
                                 f'attachment; filename="test-all-{job_id}.csv"'})

    @app.get("/jobs", summary="Recent jobs, newest first", tags=["jobs"], security=ADMIN)
    def list_jobs(
        kind: Annotated[Literal["import", "export", "test_all", "tune"] | None, Query()] = None,
        limit: Annotated[int, Query(ge=1, le=200)] = 20,
    ) -> dict[str, Any]:
        statuses = [s for s in services.jobs.list(limit=200) if kind in (None, s.kind)]
        return {"jobs": [s.to_json() for s in statuses[:limit]]}

    @app.get("/jobs/<job_id>", summary="A job's status, counts, problems and result",
             tags=["jobs"], security=ADMIN)
    def job_status(job_id: Annotated[str, Path(max_length=64)]) -> Response[dict[str, Any]]:
        status = services.jobs.status(job_id)
        if status is None:
            return error(404, f'no job "{job_id}"')
        return Response(200, content_types.APPLICATION_JSON, status.to_json())

    @app.get("/jobs/<job_id>/download", summary="The file an export job wrote",
             tags=["jobs"], security=ADMIN)
    def download(job_id: Annotated[str, Path(max_length=64)]) -> Response[str | dict[str, Any]]:
        path = services.jobs.output(job_id)
        if path is None:
            url = services.jobs.output_url(job_id)
            if url is None:
                return error(404, f'job "{job_id}" has no file to download (not a finished '
                                  "export)")
            return Response(302, content_types.APPLICATION_JSON, {"url": url},
                            headers={"Location": url})
        return Response(200, content_types.APPLICATION_JSON, path.read_text("utf-8"),
                        headers={"Content-Disposition":
                                 f'attachment; filename="qna-{job_id}.json"'})

    # --- settings -------------------------------------------------------------------------

    @app.get("/settings", summary="Every setting with its default, value and category",
             tags=["settings"], security=ADMIN)
    def get_settings() -> dict[str, Any]:
        overrides = services.settings_repo.overrides()
        custom = sorted(name for name in overrides if name not in REGISTRY)
        return {"settings": [_setting_json(name, overrides) for name in [*REGISTRY, *custom]]}

    @app.put("/settings", summary="Change some settings (typed; other names are kept as "
                                  "custom settings)", tags=["settings"], security=ADMIN)
    def update_settings(
        values: Annotated[dict[str, str | int | float | bool | dict[str, Any] | list[Any]],
                          Body(description='{"SETTING_NAME": value, ...}')],
    ) -> dict[str, Any]:
        stored = validate_updates(values)
        services.settings_repo.save(stored)
        overrides = services.settings_repo.overrides()
        return {"updated": sorted(stored),
                "settings": [_setting_json(name, overrides) for name in sorted(stored)],
                "warnings": _custom_warnings(stored)}

    @app.get("/settings/export", summary="The settings that differ from their defaults, as "
                                         "QnABot's settings.json", tags=["settings"],
             security=ADMIN)
    def export_settings_file() -> Response[dict[str, Any]]:
        exported = export_settings(services.settings())
        return Response(200, content_types.APPLICATION_JSON, exported,
                        headers={"Content-Disposition":
                                 f'attachment; filename="{EXPORT_FILE_NAME}"'})

    @app.post("/settings/import", summary="Set the settings of a QnABot settings.json (others "
                                          "are kept)", tags=["settings"], security=ADMIN)
    def import_settings_file(
        values: Annotated[dict[str, Any], Body(description='QnABot\'s settings.json: '
                                                           '{"SETTING_NAME": value, ...}')],
    ) -> dict[str, Any]:
        stored = validate_import(values)
        services.settings_repo.save(stored)
        return {"imported": sorted(stored), "warnings": _custom_warnings(stored)}

    @app.post("/settings/reset", summary="Reset some settings, or all, to their defaults",
              tags=["settings"], security=ADMIN)
    def reset_settings(request: ResetSettings) -> dict[str, Any]:
        names = None if request.names is None else [
            n if is_custom(n) else lookup(n).name for n in request.names]
        services.settings_repo.remove(names)
        return {"reset": sorted(names) if names is not None else "all"}

    # --- feedback -------------------------------------------------------------------------

    @app.post("/feedback", summary="Thumbs up or down on a chat answer", tags=["chat"],
              status_code=201)
    def give_feedback(request: FeedbackRequest) -> Response[dict[str, Any]]:
        record = services.feedback.record(Feedback(**request.model_dump()))
        return Response(201, content_types.APPLICATION_JSON, record.to_json())

    @app.get("/feedback", summary="Recorded feedback, newest first", tags=["chat"],
             security=ADMIN)
    def list_feedback(
        verdict: Annotated[Literal["up", "down"] | None, Query()] = None,
        offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
        limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 100,
    ) -> dict[str, Any]:
        records, total = services.feedback.list(limit=limit, offset=offset, verdict=verdict)
        return {"feedback": [r.to_json() for r in records], "total": total}

    # --- analytics ------------------------------------------------------------------------

    @app.get("/analytics", summary="Questions per day, answered and unanswered, top questions, "
                                   "feedback, LLM calls and latency", tags=["analytics"],
             security=ADMIN)
    def analytics(days: Annotated[int, Query(ge=1, le=366)] = 30) -> Response[dict[str, Any]]:
        if services.metrics is None:
            return error(404, "no metrics reader here: analytics read the local metrics store "
                              "(qnabot serve) or, in AWS, Athena (METRICS_ATHENA_DATABASE)")
        today = datetime.now(UTC).date()
        since = (today - timedelta(days=days - 1)).isoformat()
        turns = services.metrics.turns(since)
        recorded = services.metrics.feedback(since)
        logged, _ = services.feedback.list(limit=100_000)  # the older route's records
        feedback = merge_feedback(recorded, [
            {"datetime": f.time, "sessionId": f.session_id, "feedback": f.verdict,
             "qid": f.qid, "utterance": f.question} for f in reversed(logged) if f.time >= since])
        summary = summarize(turns, feedback, days=days, today=today)
        # The reader kept the newest records only: the page says the figures are partial.
        summary["truncated"] = turns.truncated or recorded.truncated
        return Response(200, content_types.APPLICATION_JSON, summary)

    # --- pages (public; the designer page asks for the token itself) ------------------------

    @app.get("/config.js", include_in_schema=False)
    def page_config() -> Response[str]:
        routes = {f"{r.method} {r.path}" for r in [*app._static_routes, *app._dynamic_routes]}
        config = json.dumps(services.page_config(routes), separators=(",", ":"))
        return Response(200, "text/javascript; charset=utf-8",
                        f"window.QNABOT_CONFIG = Object.freeze({config});\n",
                        headers=dict(SECURITY_HEADERS))

    def page(name: str) -> Response[str | dict[str, Any]]:
        found = static_file(name)
        if found is None:
            return error(404, f"no file {name}")
        headers = EMBEDDABLE_HEADERS if name == "chat.html" else SECURITY_HEADERS
        return Response(200, found[1], found[0], headers=dict(headers))

    def page_route(name: str):
        def show() -> Response[str | dict[str, Any]]:
            return page(name)
        return show

    for path, name in PAGES.items():
        if services.chat is not None or name != "chat.html":  # no chat page without chat
            app.get(path, include_in_schema=False)(page_route(name))

    @app.get("/static/<name>", include_in_schema=False)
    def static(name: str) -> Response[str | dict[str, Any]]:
        return page(name)

    # --- local only: chat, and the bot builder when it is installed -------------------------

    if services.chat is not None:
        chat = services.chat

        @app.post("/chat", summary="One chat turn through the fulfillment handler (local only)",
                  tags=["chat"])
        def chat_turn(request: ChatRequest) -> dict[str, Any]:
            return chat.turn(request.text, session_id=request.session_id,
                             channel=request.channel,
                             request_attributes=request.request_attributes)

    if importlib.util.find_spec("bot.service") is not None:
        @app.post("/bot", summary="Build the Lex bot from the knowledge base (or check it, "
                                  "with dry_run)", tags=["bot"], security=ADMIN)
        def build_bot(request: BuildBot) -> Response[dict[str, Any]]:
            from bot.builder import BotBuildError
            from bot.service import build_bot as build

            try:
                result = build(services.kb.store.iter_items(), locales=request.locales,
                               dry_run=request.dry_run)
            except ValueError as exc:  # the items cannot make a valid bot
                return error(400, str(exc))
            except BotBuildError as exc:  # not configured here, or Lex refused a step
                return error(409, f"the bot could not be built: {exc}")
            except Exception as exc:  # AWS unreachable or credentials missing: keep serving
                logger.warning("bot build failed: %s", exc)
                return error(502, f"the bot could not be built: {exc}")
            return Response(200, content_types.APPLICATION_JSON, result)

    return app


def inlined_schema(item_type: str) -> dict[str, Any]:
    """The item type's JSON Schema with every ``$ref`` replaced by what it points to."""
    def resolve(ref: str, home: dict[str, Any]) -> Any:
        document, _, pointer = ref.partition("#")
        target = item_schema(document.removesuffix(".schema.json")) if document else home
        for part in [p for p in pointer.split("/") if p]:
            target = target[part]
        return inline(target, item_schema(document.removesuffix(".schema.json"))
                      if document else home)

    def inline(node: Any, home: dict[str, Any]) -> Any:
        if isinstance(node, dict):
            if "$ref" in node:
                return {**resolve(node["$ref"], home),
                        **{k: inline(v, home) for k, v in node.items() if k != "$ref"}}
            return {k: inline(v, home) for k, v in node.items() if k != "$defs"}
        if isinstance(node, list):
            return [inline(v, home) for v in node]
        return node

    root = item_schema(item_type)
    return inline(root, root)


def outcomes_csv(result: dict[str, Any]) -> str:
    """A test-all job's outcomes as CSV, for a spreadsheet."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["status", "question", "expected_qid", "found_qid", "score", "source",
                     "client", "shared_with"])
    for o in result.get("outcomes") or []:
        writer.writerow([o.get("status", "correct" if o.get("ok") else "missed"),
                         o.get("question", ""), o.get("expected_qid", ""),
                         o.get("found_qid") or "", "" if o.get("score") is None
                         else f"{o['score']:.3f}", o.get("stage") or "", o.get("client") or "",
                         " ".join(o.get("shared_with") or [])])
    return out.getvalue()


def openapi_document(app: APIGatewayRestResolver) -> dict[str, Any]:
    """The OpenAPI document of ``app`` as JSON, with the bearer security scheme."""
    text = app.get_openapi_json_schema(
        title=API_TITLE, version=API_VERSION,
        description="Admin API of the QnABot content designer. Admin routes need "
                    "'Authorization: Bearer <token>' (a Cognito ID token in AWS, the local "
                    "token with `qnabot serve`).",
        security_schemes={"bearerAuth": HTTPBearer(bearerFormat="token")},
    )
    document = json.loads(text)
    schemas = document.setdefault("components", {}).setdefault("schemas", {})
    schemas["Error"] = {
        "type": "object", "required": ["error"],
        "properties": {"error": {"type": "string", "description": "What was wrong, and what "
                                                                   "to do about it."},
                       "problems": {"type": "array", "items": {
                           "type": "object", "properties": {"field": {"type": "string"},
                                                            "message": {"type": "string"}}}}}}
    error_body = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
    for item in document["paths"].values():
        for operation in item.values():
            responses = operation.setdefault("responses", {})
            responses.setdefault("4XX", {"description": "The request was refused; the body "
                                                        "says why", "content": error_body})
            if operation.get("security"):
                responses["401"] = {"description": "No valid admin token", "content": error_body}
    return document
