"""Error hierarchy shared by every layer."""

from __future__ import annotations


class QAError(Exception):
    """Base class of qa_service errors."""


class ConfigError(QAError):
    """Configuration is invalid or points at something missing."""


class ScorerNotFound(ConfigError):
    """A scorer name in ``QA_SCORING__SCORERS`` is neither registered nor importable."""


class IngestConflict(QAError):
    """The same (source, external_id) was sent before with different content."""

    def __init__(self, source: str, external_id: str, existing_id: int):
        self.source = source
        self.external_id = external_id
        self.existing_id = existing_id
        super().__init__(
            f"transcript (source={source!r}, external_id={external_id!r}) already exists as id "
            f"{existing_id} with different content; send it under a new external_id, or resend the "
            "original content unchanged"
        )


class TextLogError(QAError):
    """A pasted plain-text log could not be parsed."""


class RuleError(QAError):
    """One problem in a rule pack, coded and located: ``R003 rules/finance.yaml:finance.x: … — fix``."""

    def __init__(self, code: str, path: str, problem: str, fix: str, rule: str | None = None):
        self.code = code
        self.path = path
        self.rule = rule
        self.problem = problem
        self.fix = fix
        where = f"{path}:{rule}" if rule else path
        super().__init__(f"{code} {where}: {problem} — {fix}")


class RulePackError(ConfigError):
    """Rule packs failed to load; ``errors`` lists every problem found."""

    def __init__(self, errors: list[RuleError]):
        self.errors = errors
        super().__init__("\n".join(str(e) for e in errors))


class ReviewError(QAError):
    """A review action that cannot be done; ``status`` is the HTTP status it maps to (404/409/422)."""

    def __init__(self, status: int, message: str, field: str | None = None):
        self.status = status
        self.field = field
        super().__init__(message)


class AccessDenied(QAError):
    """401 (no or bad credentials) or 403 (wrong role or team); the message carries no data."""

    def __init__(self, status: int, message: str):
        self.status = status
        super().__init__(message)
