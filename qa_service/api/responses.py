"""The error responses every route really gives, declared in the OpenAPI schema in one place.

A route declares its own successes (and the rare error it wants to describe in its own words); here
each /v1 route gets what the middleware and the error handlers (``api/errors.py``) answer for it:
401 and 403 (access control), 503 (database or Redis away), 404 for a route with an id in its path, 400 (invalid
UTF-8), 413 and 415 (not sent as JSON) for one that takes a body, and 409 for the writes that refuse a
conflicting state (``CONFLICTS``)."""

from __future__ import annotations

from fastapi.routing import APIRoute

ERROR = {"content": {"application/json": {"schema": {"type": "object", "properties": {
    "detail": {"description": "A one-line reason, or (bad input) a list of {loc, msg, type} naming the field"}}}}}}

COMMON = {
    401: {"description": "No key, or one that is not valid (access control on)"},
    403: {"description": "The key's role may not do this, or another team's item; or a cross-site write"},
    503: {"description": "The database (or, for live QA, Redis) is unavailable, or a live conversation is busy; "
                         "retry after `Retry-After` seconds"},
}
NOT_FOUND = {404: {"description": "No item with that id (a team-scoped key gets 403 instead)"}}
BAD_BODY = {400: {"description": "The body is not valid UTF-8 (`detail`: [{loc: [body], type: invalid_utf8, msg}])"}}
NOT_JSON = {415: {"description": "The body was not sent as JSON: `detail` is \"Content-Type must be application/json "
                                  "(got …)\""}}
TOO_LARGE = {413: {"description": "The body is over QA_API__MAX_BODY_BYTES (with or without a Content-Length)"}}
CONFLICT = {409: {"description": "Refused in the item's present state; `detail` says why, `field` names the "
                                 "field when one is to blame"}}

# (method, path) of the writes that answer 409 (Conflict raised by their service).
CONFLICTS = frozenset({
    ("POST", "/v1/transcripts"), ("POST", "/v1/reviews"), ("POST", "/v1/reviews/assign"),
    ("PUT", "/v1/reviews/{review_id}/findings/{finding_id}/verdict"),
    ("POST", "/v1/reviews/{review_id}/manual-findings"), ("DELETE", "/v1/reviews/{review_id}/manual-findings/{manual_id}"),
    ("POST", "/v1/reviews/{review_id}/complete"), ("POST", "/v1/reviews/{review_id}/appeals"),
    ("POST", "/v1/appeals/{appeal_id}/decision"), ("POST", "/v1/live/conversations"),
    ("POST", "/v1/live/conversations/{conversation_id}/utterances"),
    ("POST", "/v1/live/conversations/{conversation_id}/end"), ("POST", "/v1/live/alerts/{alert_id}/ack"),
    ("POST", "/v1/live/alerts/{alert_id}/close"), ("POST", "/v1/webhooks/deliveries/{delivery_id}/retry"),
    ("POST", "/v1/keys"), ("DELETE", "/v1/keys/{key_id}"),
})


def api_routes(routes):
    """Every APIRoute of ``routes``, those of included routers too (the tests walk them as well)."""
    for route in routes:
        if isinstance(route, APIRoute):
            yield route
        elif hasattr(route, "original_router"):  # FastAPI ≥ 0.16x keeps included routers whole
            yield from api_routes(route.original_router.routes)


def declare_errors(routes) -> None:
    """Add the error responses to each /v1 route's OpenAPI declaration (what it declares itself stays)."""
    for route in api_routes(routes):
        if route.path.startswith("/v1/"):
            extra = dict(COMMON)
            if "{" in route.path:
                extra |= NOT_FOUND
            if route.methods & {"POST", "PUT", "PATCH"}:
                extra |= BAD_BODY | TOO_LARGE | NOT_JSON
            if any((m, route.path) in CONFLICTS for m in route.methods):
                extra |= CONFLICT
            route.responses = {**{k: {**v, **ERROR} for k, v in extra.items()}, **route.responses}


ERROR_TYPES = ("pydantic's (missing, string_too_long, less_than_equal …) and this API's own: value_error, "
               "unknown_parameter, control_character, number_too_long, too_large, too_deep")


def declare_validation_errors(app) -> None:
    """The 422 entries in the schema as ``api/errors.py`` answers them: ``loc``, ``msg``, ``type`` and ``ctx``,
    never ``input`` (FastAPI's default schema declared it, so generated clients modelled a field that never
    comes); ``type`` lists this API's own kinds."""
    build = app.openapi

    def openapi():
        if app.openapi_schema:
            return app.openapi_schema
        schema = build()
        entry = schema.get("components", {}).get("schemas", {}).get("ValidationError")
        if entry:
            entry["properties"].pop("input", None)
            entry["properties"]["type"]["description"] = ERROR_TYPES
        return schema

    app.openapi = openapi

