"""The OpenAPI schema says what the API really answers: the batch's 202, the error statuses each route
gives, and the configured limits rather than fixed ones of its own."""

from __future__ import annotations

from fastapi.testclient import TestClient

from qa_service.app import create_app
from tests.conftest import make_settings, transcript


def test_openapi_declares_the_real_statuses_and_limits(tmp_path, sqlite_url, redis_url, redis_conn):
    app = create_app(make_settings(tmp_path, sqlite_url, redis_url, api={"max_text_chars": 50}))
    with TestClient(app) as client:
        spec = client.get("/openapi.json").json()
        batch = spec["paths"]["/v1/transcripts/batch"]["post"]["responses"]
        assert {"202", "207", "401", "403", "413", "422", "503"} <= set(batch)
        assert client.post("/v1/transcripts/batch", json={"transcripts": [transcript()]}).status_code == 202
        end = spec["paths"]["/v1/live/conversations/{conversation_id}/end"]["post"]["responses"]
        assert {"404", "409", "503"} <= set(end)
        turns = spec["paths"]["/v1/live/conversations/{conversation_id}/utterances"]["post"]["responses"]
        assert {"404", "409", "413", "503"} <= set(turns)
        listing = spec["paths"]["/v1/transcripts"]["get"]["responses"]
        assert {"401", "403", "503"} <= set(listing) and "404" not in listing and "413" not in listing
        assert "409" in spec["paths"]["/v1/transcripts"]["post"]["responses"]
        for path, item in spec["paths"].items():
            for method, op in item.items():
                if path.startswith("/v1/"):
                    assert {"401", "403", "503"} <= set(op["responses"]), (method, path)
        schemas = spec["components"]["schemas"]
        # a 422 entry as the API sends it: no input (the API never echoes it), this API's own error types named
        entry = schemas["ValidationError"]["properties"]
        assert set(entry) == {"loc", "msg", "type", "ctx"} and "unknown_parameter" in entry["type"]["description"]
        text = schemas["UtteranceCreate"]["properties"]["text"]
        utterances = schemas["TranscriptCreate"]["properties"]["utterances"]
        assert "maxLength" not in text and "QA_API__MAX_TEXT_CHARS" in text["description"]
        assert "maxItems" not in utterances and "QA_API__MAX_UTTERANCES" in utterances["description"]
        # the configured limit is what a client is told, also by the rules' dry run
        long = {"transcript": {"utterances": [{"role": "agent", "text": "很" * 51}]}}
        resp = client.post("/v1/rules/test", json=long)
        assert resp.status_code == 422 and "QA_API__MAX_TEXT_CHARS" in resp.text, resp.text


def test_openapi_declares_the_bodies_a_connector_reads(tmp_path, sqlite_url, redis_url, redis_conn):
    """A client generator got no type for the duplicate's 200, the conflict's 409 (the fields to reconcile by),
    the tombstone's 410 or /readyz's 503, and no 400 (invalid UTF-8) anywhere; empty text had no minLength;
    a batch item's error dropped the ``ctx`` a single POST's carries."""
    app = create_app(make_settings(tmp_path, sqlite_url, redis_url))
    with TestClient(app) as client:
        spec = client.get("/openapi.json").json()
        schemas = spec["components"]["schemas"]

        def body(path, method, code):
            content = spec["paths"][path][method]["responses"][code]["content"]["application/json"]["schema"]
            return schemas[content["$ref"].rsplit("/", 1)[1]] if "$ref" in content else content

        post = "/v1/transcripts"
        assert set(body(post, "post", "200")["properties"]) == set(body(post, "post", "202")["properties"])
        assert {"detail", "id", "source", "external_id", "field"} == set(body(post, "post", "409")["properties"])
        for path in (post, "/v1/live/conversations", "/v1/live/conversations/{conversation_id}/end"):
            assert {"detail", "field"} <= set(body(path, "post", "410")["properties"]), path
        for path in (post, "/v1/transcripts/batch", "/v1/live/conversations",
                     "/v1/live/conversations/{conversation_id}/utterances"):
            assert "400" in spec["paths"][path]["post"]["responses"], path
        ready = body("/readyz", "get", "503")
        assert {"status", "checks"} <= set(ready["properties"])
        assert schemas["UtteranceCreate"]["properties"]["text"]["minLength"] == 1
        # what the schema says is what comes: a 409's fields, the same ctx on a single POST and a batch item
        assert client.post(post, json=transcript("oa-1")).status_code == 202
        changed = transcript("oa-1")
        changed["team"] = "other-team"
        r = client.post(post, json=changed)
        assert r.status_code == 409 and set(r.json()) == {"detail", "id", "source", "external_id", "field"}
        bad = transcript("oa-2")
        bad["utterances"][0]["role"] = "robot"
        single = client.post(post, json=bad).json()["detail"][0]
        [item] = client.post("/v1/transcripts/batch", json={"transcripts": [bad]}).json()["items"]
        assert single["ctx"] == item["errors"][0]["ctx"] and "agent" in single["ctx"]["expected"]
        # empty and whitespace-only text: refused as before, with the same message
        for text in ("", "  "):
            bad["utterances"][0] = {"role": "agent", "text": text}
            [err] = client.post(post, json=bad).json()["detail"]
            assert err["type"] == "value_error" and "must not be empty" in err["msg"], err
