"""An integrator finds its own conversation by its key (source, external_id); a GET naming a query
parameter its route does not take is a 422 naming it, not the whole list."""

from __future__ import annotations

from tests.conftest import transcript


def test_a_conversation_is_found_by_source_and_external_id(client):
    for key, source in (("A123", "jd-chat"), ("A124", "jd-chat"), ("A123", "tmall")):
        assert client.post("/v1/transcripts", json=transcript(key, source=source)).status_code == 202
    page = client.get("/v1/transcripts", params={"source": "jd-chat", "external_id": "A123"}).json()
    assert [(t["source"], t["external_id"]) for t in page["items"]] == [("jd-chat", "A123")] and page["total"] == 1
    none = client.get("/v1/transcripts", params={"source": "jd-chat", "external_id": "nope"}).json()
    assert none["items"] == [] and none["total"] == 0
    alone = client.get("/v1/transcripts", params={"external_id": "A123"})
    assert alone.status_code == 422 and alone.json()["detail"][0]["loc"] == ["query", "external_id"], alone.text
    for query in ("source=crm&external_id=", "source=&external_id=X"):  # blank read as no filter: a whole list
        resp = client.get(f"/v1/transcripts?{query}")
        assert resp.status_code == 422 and resp.json()["detail"][0]["loc"] == ["query", "external_id"], resp.text


def test_an_unknown_query_parameter_of_a_get_is_422_naming_it(client):
    assert client.post("/v1/transcripts", json=transcript()).status_code == 202
    for name in ("agent", "min_score", "sort"):
        resp = client.get(f"/v1/transcripts?{name}=1")
        assert resp.status_code == 422, resp.text
        [err] = resp.json()["detail"]
        assert err["loc"] == ["query", name] and "agent_id" in err["msg"] and "external_id" in err["msg"], err
    assert client.get("/v1/transcripts/1?verbose=1").status_code == 422
    assert client.get("/v1/reviews?agnet_id=a7").json()["detail"][0]["loc"] == ["query", "agnet_id"]
    # the declared ones, a dependency's too (a page's limit), still work
    assert client.get("/v1/transcripts?team=after-sales&limit=5&flagged=false").status_code == 200
    assert client.get("/v1/transcripts?_=1764400000000").status_code == 200  # a client's cache-buster
    assert client.get("/v1/kpis?period=2026-10").status_code == 200
    assert client.get("/healthz?probe=1").status_code == 200  # outside /v1: not checked

