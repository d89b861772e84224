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
