"""The API's description: /openapi.json, and /docs, a page listing the routes from it.

FastAPI's own /docs and /redoc load Swagger UI and ReDoc from a CDN and start them with an inline script:
the service's Content-Security-Policy (scripts from this site only) blocks both, and an intranet site cannot
reach the CDN at all, so they were blank pages. This page needs no script and nothing from elsewhere: the
routes, what each is for, its query parameters and its body, with a link to the schema for OpenAPI tools.
With access control on, all three need a key of any role unless QA_API__PUBLIC_SCHEMA (``auth.SchemaRead``).
"""

from __future__ import annotations

import html

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse

from qa_service.api.auth import SchemaRead

router = APIRouter(include_in_schema=False)
METHODS = ("get", "post", "put", "patch", "delete")


@router.get("/openapi.json")
def openapi_schema(request: Request, _principal: SchemaRead) -> JSONResponse:
    """The OpenAPI document (any key with access control on; anyone with QA_API__PUBLIC_SCHEMA)."""
    return JSONResponse(request.app.openapi())


@router.get("/docs", response_class=HTMLResponse)
def docs_page(request: Request, _principal: SchemaRead) -> HTMLResponse:
    """Every route of the API on one page, built from the schema; no script, nothing from another site."""
    state = request.app.state
    if getattr(state, "docs_page", None) is None:
        state.docs_page = render(request.app.openapi())
    return HTMLResponse(state.docs_page)


@router.get("/redoc")
def redoc(_principal: SchemaRead) -> RedirectResponse:
    """The same page (FastAPI's ReDoc page loaded its script from a CDN)."""
    return RedirectResponse("/docs", status_code=307)


def _e(value) -> str:
    return html.escape(str(value), quote=True)


def _body(op: dict) -> str:
    schema = op.get("requestBody", {}).get("content", {})
    for media, content in schema.items():
        ref = content.get("schema", {}).get("$ref", "")
        return _e(ref.rsplit("/", 1)[-1] or media)
    return ""


def _row(method: str, path: str, op: dict) -> str:
    what = (op.get("summary") or "") + (": " + op["description"].split("\n\n", 1)[0]
                                         if op.get("description") else "")
    query = ", ".join(p["name"] for p in op.get("parameters", []) if p.get("in") == "query")
    return (f"<tr><td class=m>{method.upper()}</td><td><code>{_e(path)}</code></td><td>{_e(what)}</td>"
            f"<td>{_e(query)}</td><td>{_body(op)}</td></tr>")


def render(spec: dict) -> str:
    """The page for an OpenAPI document: one table per tag, routes in the schema's order."""
    info = spec.get("info", {})
    by_tag: dict[str, list[str]] = {}
    for path, item in spec.get("paths", {}).items():
        for method in METHODS:
            if method in item:
                op = item[method]
                by_tag.setdefault((op.get("tags") or ["other"])[0], []).append(_row(method, path, op))
    tables = "".join(f"<h2>{_e(tag)}</h2><table><tr><th>method</th><th>path</th><th>what it does</th>"
                     f"<th>query parameters</th><th>body</th></tr>{''.join(rows)}</table>"
                     for tag, rows in by_tag.items())
    return (f"<!doctype html><html lang=en><meta charset=utf-8><title>{_e(info.get('title'))} API</title>"
            "<style>body{font:14px/1.5 system-ui,sans-serif;margin:2em;max-width:80em}table{border-collapse:"
            "collapse;width:100%}td,th{border-bottom:1px solid #ddd;padding:.3em .5em;text-align:left;"
            "vertical-align:top}td.m{font-weight:bold}code{white-space:nowrap}</style>"
            f"<h1>{_e(info.get('title'))} {_e(info.get('version'))} — API</h1><p>{_e(info.get('description'))}</p>"
            "<p>The machine-readable description (OpenAPI) is <a href=\"/openapi.json\"><code>/openapi.json</code>"
            "</a>: load it into an OpenAPI tool on your own machine (Swagger UI, Postman, Insomnia, a client "
            "generator) for every field, limit and answer. With access control on, send a key: <code>"
            "Authorization: Bearer &lt;key&gt;</code> or <code>X-API-Key: &lt;key&gt;</code>. The user guide is "
            f"<code>docs/api.md</code>.</p>{tables}</html>")
