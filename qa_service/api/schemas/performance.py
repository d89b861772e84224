"""KPI imports and records."""

from __future__ import annotations

from pydantic import BaseModel, Field


class KpiRowError(BaseModel):
    line: int = Field(description="CSV line (header = 1), XLSX row, or the record's position (first = 1; a 422's "
                                  "loc gives its index in records, first = 0)")
    field: str
    problem: str
    value: str | None = None
    sheet: str | None = Field(default=None, description="The XLSX sheet, in a workbook of several sheets")


class KpiImportRead(BaseModel):
    inserted: int
    replaced: int = Field(description="Records for an agent and days already stored, updated with the fields this "
                                      "import carries (replaced whole with replace=true)")
    rejected: int
    errors: list[KpiRowError]
    columns: dict[str, str] = Field(description="Header or key in the input → the field it was read as")
    ignored_columns: list[str]
    notes: list[str] = Field(default_factory=list, description=(
        "How the body was read: XLSX sheets skipped (no agent column), a title row above the header, "
        "tab-separated text"))
    updated_fields: list[str] = Field(default_factory=list, description=(
        "Fields whose stored value changed on records already stored; their other fields were kept as stored "
        "(unless replace=true)"))
    unchanged: int = Field(0, description="Records already stored that this import left exactly as they were "
                                          "(counted in replaced too)")
    cleared_fields: list[str] = Field(default_factory=list, description=(
        "Stored fields emptied because replace=true replaced the whole record and the new one lacks them"))
    unknown_agents: list[str] = Field(default_factory=list, description=(
        "Agent ids stored for the first time: no conversation and no earlier KPI record names them (a typo?)"))
    unknown_teams: list[str] = Field(default_factory=list, description=(
        "Teams stored for the first time: no conversation, agent or KPI record has named them (a typo?)"))
    warnings: list[str] = Field(default_factory=list, description=(
        "What was stored but may be wrong: unknown agent ids and teams, rows without a team for an agent whose "
        "other rows name one"))


class KpiDeleted(BaseModel):
    agent_id: str
    period: str | None = Field(description="The period whose records (lying wholly inside it) matched; null: all")
    team: str | None
    matched: int = Field(description="Records matching")
    deleted: int = Field(description="Records deleted (0 with dry_run=true)")
    dry_run: bool


class KpiRead(BaseModel):
    agent_id: str
    team: str | None
    date_from: str
    date_to: str
    values: dict[str, float | int]
    source: str | None
