"""Appraisal schemes (考核方案) as data: YAML under ``rules/appraisal/``, validated all-or-nothing.

Error codes (each names the file, the metric and how to fix it):

- A001 the file is not valid YAML, or not a mapping
- A002 a key or value breaks the schema (unknown key, wrong type, missing field)
- A003 a metric names nothing the performance records carry
- A004 the metric weights do not add up to 1
- A005 baseline / target / challenge are out of order for the metric's direction
- A006 grades: duplicate names or thresholds, or none starting at 0
- A007 two schemes share a name, or two metrics an id
- A008 more than one scheme is marked ``default``
- A009 a scheme's example did not come out as declared
- A010 ``min_sample`` on a metric that carries no sample count (every agent would lose the metric)
"""

from __future__ import annotations

import difflib
import fnmatch
import functools
import hashlib
from collections.abc import Collection
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from qa_service.domain import DIMENSIONS
from qa_service.errors import RuleError, RulePackError
from qa_service.rules.loader import ReloadingBook, display_path, misnamed_yaml, read_yaml_mapping

WEIGHT_TOLERANCE = 1e-6

# metric: (Chinese label for reports, kind). kind drives formatting: share 0–1, seconds, count, score 0–100, …
METRICS: dict[str, tuple[str, str]] = {
    "contacts": ("接待量", "count"),
    "contacts_per_day": ("日均接待量", "number"),
    "frt_seconds": ("平均首次响应时间(秒)", "seconds"),
    "frt_within_target_share": ("首响达标率", "share"),
    "aht_seconds": ("平均处理时长(秒)", "seconds"),
    "reply_seconds": ("平均回复间隔(秒)", "seconds"),
    "fcr": ("一次解决率", "share"),
    "csat": ("满意度", "share"),
    "csat_score": ("满意度均分(1–5)", "number"),
    "csat_responses": ("满意度评价数", "count"),
    "nps": ("NPS", "number"),
    "nps_responses": ("NPS 样本数", "count"),
    "transfer_rate": ("转接率", "share"),
    "escalation_rate": ("升级率", "share"),
    "complaints": ("投诉数", "count"),
    "complaint_rate": ("投诉率", "share"),
    "repeat_complaint_rate": ("重复投诉率", "share"),
    "recontact_rate": ("重复来电率", "share"),
    "consultations": ("询单量", "count"),
    "orders": ("下单数", "count"),
    "conversion": ("询单转化率", "share"),
    "sales_amount": ("销售额", "amount"),
    "supervisor_rating": ("主管评分", "score"),
    "peer_rating": ("同事评分", "score"),
    "qa_score": ("质检得分(样本校正)", "score"),
    "qa_score_mean": ("质检均分", "score"),
    "qa_score_median": ("质检中位数", "score"),
    "qa_n": ("质检样本数", "count"),
    "qa_fatal": ("致命项数", "count"),
    "qa_fatal_rate": ("致命项率", "share"),
    "qa_flagged_share": ("质检标记率", "share"),
    "intervention_alerts": ("重大实时预警数", "count"),
    "intervention_sla_share": ("情感管理时效（重大预警按时介入率）", "share"),
    "intervention_minutes": ("重大预警平均介入时长(分钟)", "number"),
}


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Direction(str, Enum):
    higher = "higher"
    lower = "lower"


class Points(Strict):
    """Points at each threshold; linear in between, ``below`` under the baseline, capped at ``challenge``."""

    below: float = 0.0
    baseline: float = 60.0
    target: float = 100.0
    challenge: float = 120.0


class SchemeMetric(Strict):
    id: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]*$")
    metric: str
    label: str | None = None
    weight: float = Field(gt=0, le=1)
    direction: Direction = Direction.higher
    baseline: float
    target: float
    challenge: float
    points: Points = Points()
    min_sample: int = Field(0, ge=0, description="Fewer observations than this: the metric counts as missing")


class Qualitative(Strict):
    """The supervisor/peer part: ``total = (1 − weight) × quantitative + weight × rating``."""

    weight: float = Field(gt=0, lt=1)
    ratings: dict[str, float] = Field(default_factory=lambda: {"supervisor_rating": 1.0})


class Grade(Strict):
    name: str = Field(min_length=1)
    min: float


class Missing(str, Enum):
    exclude = "exclude"  # re-weight over the metrics that have a value
    zero = "zero"        # a missing metric earns `below` points


class SchemeExample(Strict):
    metrics: dict[str, float | None]
    total: float
    grade: str


class AppraisalSchemeSpec(Strict):
    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]*$")
    version: str
    title: str
    description: str = ""
    teams: list[str] = Field(default_factory=list, description="Glob patterns of team ids this scheme serves")
    default: bool = False
    missing: Missing = Missing.exclude
    min_coverage: float = Field(0.0, ge=0, le=1, description=(
        "Least share of the metric weights an agent must be scored on (coverage.weight_scored) to get a grade and "
        "a rank; below it the grade is 数据不足. 0: off"))
    metrics: list[SchemeMetric] = Field(min_length=1)
    qualitative: Qualitative | None = None
    grades: list[Grade] = Field(min_length=1)
    examples: list[SchemeExample] = Field(default_factory=list)


@dataclass(frozen=True)
class AppraisalScheme:
    spec: AppraisalSchemeSpec
    path: str
    hash: str

    @property
    def name(self) -> str:
        return self.spec.name

    def serves(self, team: str | None) -> bool:
        return team is not None and any(fnmatch.fnmatchcase(team, p) for p in self.spec.teams)


# Observations behind a metric, for min_sample.
SAMPLE_OF = {"csat": "csat_responses", "csat_score": "csat_responses", "nps": "nps_responses",
             "qa_score": "qa_n", "qa_score_mean": "qa_n", "qa_score_median": "qa_n", "qa_flagged_share": "qa_n",
             "qa_fatal_rate": "qa_n", "fcr": "contacts", "transfer_rate": "contacts", "escalation_rate": "contacts",
             "complaint_rate": "contacts", "recontact_rate": "contacts", "frt_within_target_share": "contacts",
             "conversion": "consultations"}


def known_metric(metric: str, dimensions: Collection[str] | None = None) -> bool:
    """A performance metric, or ``qa.<dimension>`` (any name when ``dimensions`` is None)."""
    if metric.startswith("qa.") and len(metric) > 3:
        return dimensions is None or metric[3:] in dimensions
    return metric in METRICS


def _unknown_metric(metric: str, dimensions: Collection[str] | None, where: str, item: str) -> RuleError:
    if metric.startswith("qa.") and dimensions is not None:
        close = difflib.get_close_matches(metric[3:], sorted(dimensions), n=1)
        hint = f"did you mean qa.{close[0]}? " if close else ""
        return RuleError("A003", where, f"metric {metric!r} names no QA dimension",
                         f"{hint}the dimensions scored: {', '.join(sorted(dimensions))}", item)
    close = difflib.get_close_matches(metric, list(METRICS), n=1)
    hint = f"did you mean {close[0]}? " if close else ""
    return RuleError("A003", where, f"metric {metric!r} is not a performance metric",
                     f"{hint}use one of: {', '.join(METRICS)}, or qa.<dimension>", item)


def _check(spec: AppraisalSchemeSpec, where: str, dimensions: Collection[str] | None = DIMENSIONS) -> list[RuleError]:
    errors = []
    ids = set()
    for m in spec.metrics:
        if m.id in ids:
            errors.append(RuleError("A007", where, f"metric id {m.id!r} appears twice", "give each metric its own id",
                                    m.id))
        ids.add(m.id)
        if not known_metric(m.metric, dimensions):
            errors.append(_unknown_metric(m.metric, dimensions, where, m.id))
        order = (m.baseline, m.target, m.challenge)
        ok = order[0] < order[1] < order[2] if m.direction is Direction.higher else order[0] > order[1] > order[2]
        if not ok:
            want = "baseline < target < challenge" if m.direction is Direction.higher else "baseline > target > challenge"
            errors.append(RuleError("A005", where, f"thresholds {order} are out of order for direction "
                                                   f"{m.direction.value}", f"a {m.direction.value}-is-better metric "
                                                                           f"needs {want}", m.id))
        if m.min_sample and m.metric not in SAMPLE_OF and known_metric(m.metric, dimensions):
            errors.append(RuleError("A010", where, f"min_sample {m.min_sample} on {m.metric}, which carries no "
                                                   "sample count: every agent would lose the metric",
                                    f"remove min_sample; it applies to {', '.join(SAMPLE_OF)}", m.id))
        p = m.points
        if not p.below <= p.baseline <= p.target <= p.challenge:
            errors.append(RuleError("A005", where, "points must not fall from below to challenge",
                                    "order points as below ≤ baseline ≤ target ≤ challenge", m.id))
    total = sum(m.weight for m in spec.metrics)
    if abs(total - 1.0) > WEIGHT_TOLERANCE:
        errors.append(RuleError("A004", where, f"metric weights add up to {total:g}, not 1",
                                "make the weights add up to 1 (e.g. 0.30, 0.25, 0.20, 0.15, 0.10)"))
    if spec.qualitative:
        errors += _rating_errors(spec.qualitative, where)
    mins = [g.min for g in spec.grades]
    names = [g.name for g in spec.grades]
    if len(set(mins)) != len(mins) or len(set(names)) != len(names) or min(mins) > 0:
        errors.append(RuleError("A006", where, f"grades {list(zip(names, mins))} repeat a name or threshold, "
                                               "or leave totals under the lowest uncovered",
                                "give each grade its own name and threshold, the lowest with min: 0"))
    return errors


def _rating_errors(q: Qualitative, where: str) -> list[RuleError]:
    """A003 for a rating that is not imported; A002 for no rating, or a rating weight of 0 or below (the
    rating is a weighted mean of the ratings an agent has: a weight of 0 divides by nothing)."""
    errors = []
    if not q.ratings:
        errors.append(RuleError("A002", where, "qualitative.ratings names no rating",
                                "give supervisor_rating and/or peer_rating a weight above 0, or remove qualitative"))
    for r, w in q.ratings.items():
        if r not in ("supervisor_rating", "peer_rating"):
            errors.append(RuleError("A003", where, f"qualitative rating {r!r} is not imported",
                                    "use supervisor_rating and/or peer_rating"))
        if not 0 < w < float("inf"):
            errors.append(RuleError("A002", where, f"qualitative.ratings.{r}: weight {w:g} is not above 0",
                                    f"give {r} a weight above 0 (e.g. supervisor_rating: 0.7, peer_rating: 0.3), "
                                    "or leave it out to not use it"))
    return errors


def load_schemes(directory: Path, dimensions: Collection[str] | None = DIMENSIONS) -> dict[str, AppraisalScheme]:
    """Every ``*.yaml`` scheme under ``directory``; raises :class:`RulePackError` listing all problems.

    ``dimensions``: the QA dimensions a ``qa.<dimension>`` metric may name (default: the built-in ones;
    None accepts any name, for scorers whose dimension is not known before they are built).
    """
    directory = Path(directory)
    if not directory.is_dir():
        raise RulePackError([RuleError("A001", str(directory), "appraisal scheme folder does not exist",
                                       "set QA_PERFORMANCE__SCHEMES_DIR to the folder holding the *.yaml schemes")])
    errors: list[RuleError] = misnamed_yaml(directory, "A001", "appraisal schemes")
    schemes: dict[str, AppraisalScheme] = {}
    for path in sorted(directory.glob("*.yaml")):
        where = display_path(path)
        data, raw, error = read_yaml_mapping(path, "A001", "a scheme is a mapping with name, version, metrics, "
                                                           "grades", "start the file with 'name: <scheme>'")
        if error:
            errors.append(error)
            continue
        try:
            spec = AppraisalSchemeSpec.model_validate(raw)
        except ValidationError as exc:
            for err in exc.errors():
                loc = ".".join(str(p) for p in err["loc"]) or "(scheme)"
                fix = (f"remove '{err['loc'][-1]}' or correct its spelling" if err["type"] == "extra_forbidden"
                       else f"add '{err['loc'][-1]}'" if err["type"] == "missing"
                       else "correct the value (rules/appraisal/README.md describes every key)")
                errors.append(RuleError("A002", where, f"{loc}: {err['msg']}", fix))
            continue
        problems = _check(spec, where, dimensions)
        if spec.name in schemes:
            problems.append(RuleError("A007", where, f"scheme name {spec.name!r} is also used by "
                                                     f"{schemes[spec.name].path}", "give each scheme its own name"))
        errors += problems
        if not problems:
            schemes[spec.name] = AppraisalScheme(spec, where, hashlib.sha256(data).hexdigest())
    defaults = [s.path for s in schemes.values() if s.spec.default]
    if len(defaults) > 1:
        errors.append(RuleError("A008", ", ".join(defaults), "more than one scheme is marked default",
                                "mark one scheme default: true"))
    if errors:
        raise RulePackError(errors)
    return schemes


def scheme_for(schemes: dict[str, AppraisalScheme], team: str | None) -> AppraisalScheme | None:
    """The first scheme (by name) whose team patterns match, else the default one."""
    for name in sorted(schemes):
        if schemes[name].serves(team):
            return schemes[name]
    return next((s for s in schemes.values() if s.spec.default), None)


def scheme_dict(scheme: AppraisalScheme) -> dict[str, Any]:
    return {"name": scheme.name, "version": scheme.spec.version, "title": scheme.spec.title,
            "path": scheme.path, "hash": scheme.hash, "teams": scheme.spec.teams, "default": scheme.spec.default,
            "spec": scheme.spec.model_dump(mode="json", exclude={"examples"})}


class SchemeBook(ReloadingBook[dict[str, AppraisalScheme]]):
    """Loaded schemes, reloaded when a file changes; a broken edit keeps the last good set (and is logged)."""

    def __init__(self, directory: Path, dimensions: Collection[str] | None = DIMENSIONS):
        super().__init__(directory, functools.partial(load_schemes, dimensions=dimensions), "appraisal schemes")
