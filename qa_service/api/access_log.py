"""The server's access log (uvicorn's ``uvicorn.access`` lines, which ``qa serve`` writes) without personal
data or credentials in its request lines.

A request line keeps its path and its query's parameter names and values, so that operators still see which
route and filters were used; but a value is written with personal data replaced as ingest replaces it
(``QA_PII__*``: ``?external_id=13812345678`` is logged as ``?external_id=[手机号]``), and the value of a
parameter named like a credential (``api_key``, ``key``, ``token``, ``access_token``, ``password``, ``secret``,
``session``, ``sign``…), or of any parameter holding what looks like an API key, as ``***``: a key pasted into
a URL by mistake is refused (401), and must not then be kept in the log."""

from __future__ import annotations

import logging
import re
from urllib.parse import quote, quote_plus, unquote, unquote_plus

from qa_service.api.middleware import KEY_SHAPE
from qa_service.config import PIISettings
from qa_service.domain import PII_PLACEHOLDERS
from qa_service.ingest import pii

ACCESS_LOGGER = "uvicorn.access"
MASK = "***"
# A parameter whose name is, or ends in, a credential's name (api_key, x-api-key, access_token, sign), or
# holds token, secret or passw anywhere; not agent_id, key_id, assign.
SECRET_NAME = re.compile(r"(?i)(?:^|[_\-.])(?:api[_\-]?key|key|token|secret|password|passwd|pwd|session|sig|sign|"
                         r"signature|auth|authorization|credentials?|cookie)$|token|secret|passw|apikey")
_PAIR = re.compile(r"([^&;=]*)(=?)([^&;]*)")


def _requote(text: str, quoting) -> str:
    """``text`` percent-encoded as a request line has it, the placeholders left readable."""
    out = quoting(text)
    for placeholder in PII_PLACEHOLDERS.values():
        out = out.replace(quoting(placeholder), placeholder)
    return out


def _redacted(raw: str, settings: PIISettings, *, plus: bool) -> str:
    """A percent-encoded piece of a request line with its personal data replaced: as sent when it has none."""
    decoded = (unquote_plus if plus else unquote)(raw, errors="replace")
    redacted = pii.redact_typed(settings, decoded)
    if redacted == decoded:
        return raw
    return _requote(redacted, quote_plus if plus else lambda t: quote(t, safe="/"))


def query_for_log(query: str, settings: PIISettings) -> str:
    """A query string as it may be logged: names kept, credentials' values ``***``, personal data replaced."""
    def pair(m: re.Match) -> str:
        name, eq, value = m.groups()
        if not (name or value):
            return m.group(0)
        decoded = unquote_plus(value, errors="replace")
        if value and (SECRET_NAME.search(unquote_plus(name, errors="replace")) or KEY_SHAPE.search(decoded)):
            value = MASK
        else:
            value = _redacted(value, settings, plus=True)
        return f"{_keyless(_redacted(name, settings, plus=True))}{eq}{value}"
    return _PAIR.sub(pair, query)


def _keyless(raw: str) -> str:
    """``raw`` with an API key pasted into it (a path segment, a parameter's name, ``?qak_…``) as ``***``."""
    out = KEY_SHAPE.sub(MASK, raw)  # a key's characters need no percent-encoding: as sent, it stands as it is
    return MASK if KEY_SHAPE.search(unquote_plus(out, errors="replace")) else out  # one encoded anyway: all of it


def line_for_log(path_with_query: str, settings: PIISettings) -> str:
    """A request's path and query as the access log writes them (see the module's docstring)."""
    path, q, query = path_with_query.partition("?")
    return _keyless(_redacted(path, settings, plus=False)) + (q + query_for_log(query, settings) if q else "")


class AccessLogRedaction(logging.Filter):
    """Rewrites the path in uvicorn's access records (``'%s - "%s %s HTTP/%s" %d'``: client, method, path
    with query, HTTP version, status) with :func:`line_for_log`."""

    def __init__(self, settings: PIISettings):
        super().__init__()
        self.settings = settings

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) == 5 and isinstance(args[2], str):
            try:
                record.args = (args[0], args[1], line_for_log(args[2], self.settings), *args[3:])
            except Exception:  # noqa: BLE001 — a line that cannot be read is logged without its query
                path, q, _ = args[2].partition("?")
                record.args = (args[0], args[1], path + (q and "?…"), *args[3:])
        return True


def install(settings: PIISettings) -> None:
    """Put the filter on uvicorn's access logger (replacing one an earlier app of this process put there). A
    logging config applied later (uvicorn's own, at start) keeps a logger's filters."""
    logger = logging.getLogger(ACCESS_LOGGER)
    for old in [f for f in logger.filters if isinstance(f, AccessLogRedaction)]:
        logger.removeFilter(old)
    logger.addFilter(AccessLogRedaction(settings))
