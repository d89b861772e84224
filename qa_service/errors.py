"""Error hierarchy shared by every layer."""

from __future__ import annotations


class QAError(Exception):
    """Base class of qa_service errors."""


class ConfigError(QAError):
    """Configuration is invalid or points at something missing."""


class ScorerNotFound(ConfigError):
    """A scorer name in ``QA_SCORING__SCORERS`` is neither registered nor importable."""


class ScorerInvalid(ConfigError):
    """A configured scorer cannot be built, or what it builds does not keep the Scorer protocol."""


class NotFound(QAError):
    """Something asked for by id does not exist (HTTP 404). ``field`` names the parameter that pointed at it."""

    def __init__(self, message: str, field: str | None = None):
        self.field = field
        super().__init__(message)


class Conflict(QAError):
    """The request is well formed but clashes with the current state (HTTP 409): already done, not yet scored."""

    def __init__(self, message: str, field: str | None = None):
        self.field = field
        super().__init__(message)


class Gone(QAError):
    """What is asked for was there and was deleted for good, on purpose (HTTP 410): a conversation erased on
    request, sent again. ``field`` names the field that identifies it."""

    def __init__(self, message: str, field: str | None = None):
        self.field = field
        super().__init__(message)


class Invalid(QAError):
    """A value is unusable (HTTP 422); ``loc`` locates it the way request validation does: ("body", "span")."""

    def __init__(self, message: str, field: str | None = None, *, loc: tuple[str | int, ...] | None = None):
        self.field = field
        self.loc = loc if loc is not None else ("body", field or "body")
        super().__init__(message)


class IngestConflict(Conflict):
    """The same (source, external_id) was sent before with different content."""

    def __init__(self, source: str, external_id: str, existing_id: int, changed: str | None = None):
        self.source = source
        self.external_id = external_id
        self.existing_id = existing_id
        self.changed = changed  # the first field whose value differs (its name only), when it could be told
        differs = f" (first difference: {changed})" if changed else ""
        super().__init__(
            f"transcript (source={source!r}, external_id={external_id!r}) already exists as id "
            f"{existing_id} with different content{differs}; send it under a new external_id, or resend the "
            "original content unchanged", "external_id"
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


class AccessDenied(QAError):
    """Not allowed; the message carries no data. Raise one of the two kinds below."""


class Unauthenticated(AccessDenied):
    """No credentials, or credentials that are not (or no longer) valid (HTTP 401)."""


class Forbidden(AccessDenied):
    """Valid credentials without the role or team this needs (HTTP 403)."""
