"""Public JSON shapes (``…Create`` in, ``…Read`` out). Field names are a public interface: add optional
fields, never rename."""

from __future__ import annotations

from qa_service.api.schemas.health import ReadinessRead  # noqa: F401
from qa_service.api.schemas.transcripts import (  # noqa: F401
    RefusalRead,
    TranscriptConflictRead,
    BatchCreate,
    BatchItemResult,
    BatchResult,
    FindingRead,
    FlagRead,
    ReportRead,
    TranscriptAccepted,
    TranscriptCreate,
    TranscriptPage,
    TranscriptRead,
    TranscriptSummary,
    UtteranceCreate,
    UtteranceRead,
)
from qa_service.api.schemas.rules import (  # noqa: F401
    DryRunTranscript,
    ExampleCheck,
    PackRead,
    RuleHit,
    RuleSummary,
    RuleTestRequest,
    RuleTestResult,
)
from qa_service.api.schemas.reviews import (  # noqa: F401
    Actor,
    AgreementRead,
    AppealDecision,
    AppealPage,
    AppealRead,
    AppealRequest,
    AssignRead,
    AssignRequest,
    AuditRead,
    CalibrationRead,
    CompleteRequest,
    DimensionTally,
    ManualFindingRead,
    ManualFindingRequest,
    OpenReview,
    ReviewPage,
    ReviewRead,
    ReviewSummary,
    ReviewedFinding,
    RuleTally,
    SampleRead,
    SampleRequest,
    Severity,
    TallyRead,
    TakeOverRequest,
    VerdictRequest,
)
from qa_service.api.schemas.performance import (  # noqa: F401
    KpiDeleted,
    KpiImportRead,
    KpiRead,
    KpiRowError,
)
from qa_service.api.schemas.keys import (  # noqa: F401
    KeyCreate,
    KeyCreated,
    KeyRead,
)
