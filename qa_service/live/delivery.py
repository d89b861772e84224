"""Alert delivery to webhooks: payload formats, signatures, and sending the outbox with retries.

Formats: ``json`` (the generic payload, for your own systems), and the group-robot formats of
DingTalk (钉钉), WeCom (企业微信) and Feishu (飞书), where Chinese supervisors read their alerts.
Every request carries ``X-QA-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "t.body">`` when the
webhook has a secret (a receiver recomputes it and rejects old ``t`` against replay); DingTalk and
Feishu robots are also signed their own way (DingTalk: ``timestamp``/``sign`` query parameters;
Feishu: ``timestamp``/``sign`` in the body).

Sending is at least once: a delivery row is leased, tried, and marked delivered, pending again
after a backoff, or failed after ``QA_LIVE__DELIVERY_ATTEMPTS``; a lease that outlives a crashed
sender expires and another sender takes it. A new alert's deliveries are stored already leased to
the process that raised it, which sends them at once (``send_now``): the first try waits for no
poll and no claiming write, and the outbox only backs it up. Receivers de-duplicate on ``alert_id``.
Each webhook is sent to on threads of its own (``lane``): one that is slow or down delays only itself.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import queue
import re
import threading
import time
import urllib.parse
from datetime import timedelta
from typing import Any

import httpx

from qa_service import metrics
from qa_service.config import LiveSettings
from qa_service.live.address import address_problem
from qa_service.live.lane import Lanes
from qa_service.storage import alerts as repo
from qa_service.storage.alert_tables import LiveAlert, Webhook
from qa_service.storage.tables import utcnow
from qa_service.text import visible_bidi

log = logging.getLogger(__name__)
FORMATS = ("json", "dingtalk", "wecom", "feishu")
SEVERITY_ZH = {"info": "提示", "minor": "一般", "major": "重要", "critical": "紧急"}
LEASE_S = 60.0
PER_WEBHOOK = 2  # calls under way to one webhook at a time (its own threads)
CLAIM_PER_WEBHOOK = 20  # deliveries of one webhook the outbox hands this process per pass
STALE_S = LEASE_S / 2  # a try queued this long behind its webhook's earlier ones is left to the outbox
CONNECT_TIMEOUT_S = 3.0  # a host that does not answer at all is given up sooner than a slow answer
CLOSE_GRACE_S = 2.0  # on shutdown, how long queued tries may still start


# Robots authenticate by their URL: a token in the path after one of these segments (Feishu/Lark
# ``/open-apis/bot/v2/hook/<token>``, Slack ``/services/…``, Discord ``/api/webhooks/<id>/<token>``), or any
# long segment of letters and digits, is a credential like DingTalk's ``access_token`` or WeCom's ``key``.
_TOKEN_AFTER = frozenset({"hook", "hooks", "webhook", "webhooks", "services"})
_TOKEN_LIKE = re.compile(r"(?=[^/]*\d)(?=[^/]*[A-Za-z])[\w\-.~%:+=;]{20,}")  # bot123:AAH…, base64


def _tail(value: str) -> str:
    return f"…{value[-4:]}" if len(value) > 8 else value


def masked_url(url: str) -> str:
    """A webhook address as it may be shown or logged: a password in it as ``***`` (a user alone, often a
    token, too), and its credentials — query values, path tokens (see ``_TOKEN_AFTER``), the fragment —
    cut to their last 4 characters, as a way to tell webhooks apart."""
    try:
        parts = urllib.parse.urlsplit(url)
    except ValueError:
        return "…"
    userinfo, at, hostport = parts.netloc.rpartition("@")
    netloc = parts.netloc if not at else (f"{userinfo.partition(':')[0]}:***@{hostport}" if ":" in userinfo
                                          else f"***@{hostport}")
    segments, after_marker = parts.path.split("/"), False
    for i, segment in enumerate(segments):
        if (after_marker and len(segment) > 8) or _TOKEN_LIKE.fullmatch(segment):
            segments[i] = _tail(segment)
        after_marker = after_marker or segment.lower() in _TOKEN_AFTER
    pairs = urllib.parse.parse_qsl(parts.query, keep_blank_values=True)  # a bare ?<token> is a key with no value
    query = "&".join(f"{k}={_tail(v)}" if v else _tail(k) for k, v in pairs)
    return urllib.parse.urlunsplit(parts._replace(netloc=netloc, path="/".join(segments), query=query,
                                                  fragment=_tail(parts.fragment)))


def alert_payload(alert: LiveAlert) -> dict[str, Any]:
    """The generic JSON payload (its field names are a public interface): the alert as raised, the fields of
    ``GET /v1/live/alerts`` known then (not what the supervisors do afterwards, nor the transcript)."""
    return {"alert_id": alert.id, "conversation_id": alert.conversation_id, "source": alert.source,
            "external_id": alert.external_id, "team": alert.team_id, "agent_id": alert.agent_id,
            "rule": alert.rule, "severity": alert.severity, "message": alert.message,
            "utterance_index": alert.utterance_index, "quote": alert.quote, "matched": alert.matched,
            "value": alert.value,
            "created_at": alert.created_at.isoformat().replace("+00:00", "Z")}  # as the API writes it


def signature(secret: str, body: bytes, t: int) -> str:
    """``t=<t>,v1=<hex HMAC-SHA256(secret, "<t>." + body)>``."""
    mac = hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={t},v1={mac}"


def verify(secret: str, body: bytes, header: str, tolerance_s: float = 300, *, now: float | None = None) -> bool:
    """What a receiver does: recompute the signature and refuse stale timestamps (replays). ``tolerance_s``
    may be given by position, as in docs/live.md's snippet (it was keyword-only: a TypeError)."""
    try:
        parts = dict(p.split("=", 1) for p in header.split(","))
        t = int(parts["t"])
    except (ValueError, KeyError):
        return False
    if abs((now or time.time()) - t) > tolerance_s:
        return False
    return hmac.compare_digest(signature(secret, body, t), header)


# Robot markdown (DingTalk, WeCom) would render a customer's words as links, images or headings in the
# supervisors' group: the quote is shown with those characters' full-width forms. So is every field the
# integrator sends (source, external_id, team, agent_id: accepted as given, newlines and markdown included),
# each also on one line, so that none can start a line of its own that reads as the alert's text. A Feishu
# ``text`` message renders no markdown, but ``<at user_id="all">`` in it would page the whole group: there
# ``<`` and ``>`` are full-width too.
_MARKDOWN = str.maketrans("[]()<>!#*_`|~\\", "［］（）＜＞！＃＊＿｀｜～＼")
_FEISHU = str.maketrans("<>", "＜＞")
_BREAKS = re.compile(r"[\s\x00-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]+")  # bidi isolates too


def conversation_link(base: str | None, conversation_id: int) -> str | None:
    """Where a supervisor opens an alert's conversation (the live page, which leads on to the transcript page
    once it has ended), under ``QA_LIVE__PUBLIC_URL``; None while that is unset."""
    return f"{base}/ui/live/conversations/{conversation_id}" if base else None


def _text(p: dict[str, Any], markdown: bool = False, link: str | None = None) -> str:
    escaped = _MARKDOWN if markdown else _FEISHU
    # A bidirectional override in the quote is shown as its code ([U+202E], as the board and the pages show
    # it), before markdown is escaped (its brackets full-width too). Was: obeyed, so 金额\u202e0001\u202c元
    # read 金额1000元 in the group.
    said = lambda x: visible_bidi(str(x)).translate(escaped)
    field = lambda x: _BREAKS.sub(" ", str(x).translate(escaped)).strip()  # an id on one line, invisible marks gone
    who = " / ".join(field(x) for x in (p["team"], p["agent_id"]) if x) or "—"
    lines = [said(line) for line in p["quote"].splitlines() if line.strip()] if p["quote"] else []
    # every line quoted: none reads as the alert's own text. Feishu's text message renders no markdown: its
    # quote is marked with a bar (was "> ", shown as typed).
    mark = "> " if markdown else "│ "
    quote = "".join(f"\n{mark}{line}" for line in lines)
    # The turn as the board and the transcript page name it (语句 #0 is the first, as seq and utterance_index
    # count). Was: 第 N+1 句, so a supervisor reading 第 26 句 in the group looked for #26 and landed a turn late.
    turn = "" if p["utterance_index"] is None else f"（语句 #{p['utterance_index']}）"
    opens = "" if not link else (f"\n[打开会话]({link})" if markdown else f"\n打开会话：{link}")
    return (f"【质检实时预警·{SEVERITY_ZH.get(p['severity'], p['severity'])}】{p['message']}\n"
            f"团队/坐席：{who}　会话：{field(p['source'])}/{field(p['external_id'])}{turn}{quote}{opens}")


def render(webhook: Webhook, payload: dict[str, Any], now: float, public_url: str | None = None
           ) -> tuple[str, bytes, dict[str, str]]:
    """(url, body, headers) of the request to one webhook; with ``public_url`` (``QA_LIVE__PUBLIC_URL``) a
    robot message links to the alert's conversation."""
    url, secret, fmt = webhook.url, webhook.secret, webhook.format
    link = conversation_link(public_url, payload["conversation_id"])
    if fmt == "dingtalk":
        body: dict[str, Any] = {"msgtype": "markdown", "markdown": {
            "title": "质检实时预警", "text": _text(payload, True, link).replace("\n", "\n\n")}}
        if secret:
            ms = int(now * 1000)
            mac = hmac.new(secret.encode(), f"{ms}\n{secret}".encode(), hashlib.sha256).digest()
            sep = "&" if "?" in url else "?"
            url += f"{sep}timestamp={ms}&sign={urllib.parse.quote_plus(base64.b64encode(mac))}"
    elif fmt == "wecom":
        body = {"msgtype": "markdown", "markdown": {"content": _text(payload, True, link)}}
    elif fmt == "feishu":
        body = {"msg_type": "text", "content": {"text": _text(payload, False, link)}}
        if secret:
            t = int(now)
            body = {"timestamp": str(t), "sign": base64.b64encode(
                hmac.new(f"{t}\n{secret}".encode(), b"", hashlib.sha256).digest()).decode(), **body}
    else:
        body = payload
    raw = json.dumps(body, ensure_ascii=False).encode()
    headers = {"content-type": "application/json; charset=utf-8", "user-agent": "qa_service-alerts"}
    if secret:
        headers["x-qa-signature"] = signature(secret, raw, int(now))
    return url, raw, headers


ROBOT_MESSAGE_CHARS = 100  # a robot's own error message kept in last_error and the log, at most


def _refused(fmt: str, response: httpx.Response) -> str | None:
    """Why a response is not a delivery (robots answer 200 with an error code), or None. Of an answer that
    is not a 2xx only its status and length are kept: the address may be an internal service's, and what it
    answered is not for the API (``last_error``) or the log to show. Of a robot's error its code and at most
    ``ROBOT_MESSAGE_CHARS`` of its message (``token is not exist``, ``sign not match``), on one line."""
    if response.status_code >= 300:
        return f"HTTP {response.status_code} (an answer of {len(response.content)} bytes, not kept)"
    if fmt in ("dingtalk", "wecom", "feishu"):
        try:
            body = response.json()
        except ValueError:
            return None
        if not isinstance(body, dict):
            return None
        code = body.get("errcode", body.get("code", 0))
        if code not in (0, None):
            said = _BREAKS.sub(" ", str(body.get("errmsg") or body.get("msg")))[:ROBOT_MESSAGE_CHARS]
            return f"{fmt} error {str(code)[:20]}: {said}"
    return None


class Sender:
    """Sends deliveries over one shared HTTP client, each webhook on threads of its own (``lane.Lanes``):
    a webhook that is slow, refuses or times out holds at most ``PER_WEBHOOK`` threads — its own — and
    never delays another's alerts; within one webhook first tries go before retries."""

    def __init__(self, sessions, settings: LiveSettings, *, per_webhook: int = PER_WEBHOOK):
        self.sessions = sessions
        self.settings = settings
        timeout = settings.delivery_timeout_s
        self.client = httpx.Client(timeout=httpx.Timeout(timeout, connect=min(timeout, CONNECT_TIMEOUT_S)),
                                   follow_redirects=False)
        self.per_webhook = per_webhook
        # A try still in hand when its lease runs out could be handed out again and sent twice at once: it
        # may wait stale_s in its queue, then take a connect and a read, write and pool timeout each.
        stale_s = min(STALE_S, LEASE_S - 3 * timeout - CONNECT_TIMEOUT_S - 5.0)
        # … and no more of one webhook per pass than its threads can start before they go stale
        self.claim_per_webhook = max(1, min(CLAIM_PER_WEBHOOK, int(per_webhook * stale_s / timeout)))
        self.lanes = Lanes(self._try, per_key=per_webhook, stale_s=stale_s, name="qa-alert-send")
        # Outcomes are written by one thread, many per transaction: a send never waits for the
        # database (an embedded SQLite writer may be busy with a batch ingest).
        self.outcomes: queue.SimpleQueue = queue.SimpleQueue()
        self.recorder = threading.Thread(target=self._record, name="qa-alert-record", daemon=True)
        self.recorder.start()

    def close(self) -> None:
        """Stop promptly: what is queued gets a moment, a call under way its timeout; anything left is
        still leased and is sent again once the lease runs out (at least once)."""
        self.lanes.close(CLOSE_GRACE_S, self.settings.delivery_timeout_s)
        self.outcomes.put(None)
        self.recorder.join(timeout=30)
        self.client.close()

    def deliver_due(self) -> int:
        """Hand every due delivery to its webhook's threads (without waiting for them); returns how many.
        A webhook with a backlog in this process takes no more for now, and one that is failing only what
        its threads can start at once: a dead webhook's retries are not piled up here to go stale."""
        room = {hook: max(0, (self.per_webhook if failing else self.claim_per_webhook) - load)
                for hook, (load, failing) in self.lanes.load().items()}
        with self.sessions() as session:
            claimed = repo.claim_due(session=session, now=utcnow(), lease_s=LEASE_S,
                                     per_webhook=self.claim_per_webhook, room=room)
            work = self.jobs(claimed)
            session.commit()
        self.send_now(work)
        return len(work)

    @staticmethod
    def jobs(deliveries) -> list[tuple[int, int, dict[str, Any], Webhook]]:
        """(delivery id, attempts so far, payload, webhook) of leased deliveries (read inside their session)."""
        return [(d.id, d.attempts, alert_payload(a), w) for d, a, w in deliveries]

    def send_now(self, jobs: list[tuple[int, int, dict[str, Any], Webhook]]) -> None:
        """Send deliveries this process has just stored and leased, without waiting for the loop; if
        the process dies first (or closes, or one waits too long behind its webhook's earlier ones),
        their lease runs out and any sender's ``deliver_due`` takes them."""
        for job in jobs:
            self.lanes.submit(job[3].id, job, retry=job[1] > 0)

    def _try(self, job: tuple[int, int, dict[str, Any], Webhook]) -> bool:
        return self._send(*job)

    def _send(self, delivery_id: int, attempts: int, payload: dict[str, Any], webhook: Webhook) -> bool:
        error = None
        try:
            url, body, headers = render(webhook, payload, time.time(), self.settings.public_url)
            refused = address_problem(url, self.settings)  # checked again: a name may resolve elsewhere now
            if refused:
                error = f"not sent: the url {refused}"
            else:
                error = _refused(webhook.format, self.client.post(url, content=body, headers=headers))
        except Exception as exc:  # noqa: BLE001 — any failure is this try's outcome (a bad URL, a refused
            error = f"{type(exc).__name__}: {exc}"  # body), recorded: never a delivery left "sending" for ever
        tries = attempts + 1
        retry_at = None
        if error and tries < self.settings.delivery_attempts:
            backoff = self.settings.delivery_backoff_s or [1.0]
            retry_at = utcnow() + timedelta(seconds=backoff[min(tries - 1, len(backoff) - 1)])
        outcome = "delivered" if error is None else ("failed" if retry_at else "gave_up")
        metrics.ALERT_DELIVERIES.labels(webhook.format, outcome).inc()
        if error:
            log.warning("alert %s to webhook %s (%s), try %d: %s", payload["alert_id"], webhook.id,
                        masked_url(webhook.url), tries, error)
        self.outcomes.put({"delivery_id": delivery_id, "ok": error is None, "error": error, "retry_at": retry_at,
                           "payload": payload})
        return error is None

    def _record(self) -> None:
        """Write outcomes as they come, all those waiting in one transaction. One lost with the process
        leaves its delivery leased: the lease runs out and it is sent again (at least once)."""
        stopping = False
        while not stopping:
            batch = [self.outcomes.get()]
            while not self.outcomes.empty():
                batch.append(self.outcomes.get())
            stopping = None in batch
            batch = [b for b in batch if b is not None]
            if not batch:
                continue
            try:
                with self.sessions() as session:
                    for outcome in batch:
                        repo.record_attempt(session=session, **outcome)
                    session.commit()
            except Exception:  # the database away: the leases run out and the deliveries are retried
                log.exception("could not record %d alert delivery outcome(s)", len(batch))
