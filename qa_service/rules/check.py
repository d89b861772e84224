"""Run every rule's examples: ``match`` examples must fire the rule, ``no_match`` ones must not."""

from __future__ import annotations

from dataclasses import dataclass

from qa_service.domain import Role, Transcript, Utterance
from qa_service.errors import RuleError
from qa_service.rules.engine import CompiledPack
from qa_service.rules.loader import PackRule
from qa_service.rules.schema import Example, RuleRole

SPEAKER_PREFIXES = {"客户": Role.customer, "用户": Role.customer, "顾客": Role.customer,
                    "坐席": Role.agent, "客服": Role.agent}


def example_transcript(example: Example, rule_role: RuleRole) -> Transcript:
    """A one-turn transcript for a string (spoken by the rule's role), or turns ``客户：…`` / ``坐席：…``."""
    if isinstance(example, str):
        role = Role.customer if rule_role == RuleRole.customer else Role.agent
        return Transcript(utterances=(Utterance(0, role, example),))
    utterances = []
    for i, line in enumerate(example):
        head, sep, text = line.replace("：", ":", 1).partition(":")
        if not sep or head.strip() not in SPEAKER_PREFIXES:
            raise ValueError(f"example turn {line!r} must start with 客户： or 坐席：")
        utterances.append(Utterance(i, SPEAKER_PREFIXES[head.strip()], text.strip()))
    return Transcript(utterances=tuple(utterances))


@dataclass(frozen=True, slots=True)
class ExampleResult:
    rule: str
    example: Example
    expected: bool
    fired: bool

    @property
    def ok(self) -> bool:
        return self.expected == self.fired


def run_examples(compiled: CompiledPack, own_only: bool = True) -> list[ExampleResult]:
    results = []
    for rule in compiled.pack.rules:
        if own_only and rule.pack != compiled.pack.name:
            continue
        for expected, examples in ((True, rule.spec.examples.match), (False, rule.spec.examples.no_match)):
            for example in examples:
                results.append(ExampleResult(rule.id, example, expected, fires(compiled, rule, example)))
    return results


def fires(compiled: CompiledPack, rule: PackRule, example: Example) -> bool:
    match = compiled.match(example_transcript(example, rule.spec.role), rules=[rule])
    return match.fired(rule)


def example_errors(compiled: CompiledPack) -> list[RuleError]:
    errors = []
    for r in run_examples(compiled):
        if not r.ok:
            rule = compiled.pack.rule(r.rule)
            shown = r.example if isinstance(r.example, str) else " / ".join(r.example)
            problem = (f"example {shown!r} should {'fire' if r.expected else 'not fire'} the rule but "
                       f"{'did not' if r.expected else 'did'}")
            errors.append(RuleError("R006", rule.path, problem,
                                    "adjust the matcher (or the example, if the example is wrong)", r.rule))
    return errors
