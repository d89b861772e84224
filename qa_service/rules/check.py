"""Run every rule's examples: ``match`` examples must fire the rule, ``no_match`` ones must not."""

from __future__ import annotations

from dataclasses import dataclass

from qa_service.domain import Role, Transcript, Utterance
from qa_service.errors import RuleError, RulePackError
from qa_service.rules.engine import CompiledPack
from qa_service.rules.loader import PackRule
from qa_service.rules.schema import Example, RuleRole, example_turn


def example_transcript(example: Example, rule_role: RuleRole) -> Transcript:
    """A one-turn transcript for a string (spoken by the rule's role), or turns ``客户：…`` / ``坐席：…``."""
    if isinstance(example, str):
        role = Role.customer if rule_role == RuleRole.customer else Role.agent
        return Transcript(utterances=(Utterance(0, role, example),))
    turns = [example_turn(line) for line in example]  # the schema refused unknown speakers (R002)
    return Transcript(utterances=tuple(Utterance(i, role, text) for i, (role, text) in enumerate(turns)))


@dataclass(frozen=True, slots=True)
class ExampleResult:
    rule: str
    example: Example
    expected: bool
    fired: bool
    error: RuleError | None = None  # the example could not be run (R009: the rule's regex ran past its budget)

    @property
    def ok(self) -> bool:
        return self.error is None and self.expected == self.fired


def run_examples(compiled: CompiledPack, own_only: bool = True) -> list[ExampleResult]:
    """Every example of the pack's rules (its own only, by default), each run on its own."""
    results = []
    for rule in compiled.pack.rules:
        if own_only and rule.pack != compiled.pack.name:
            continue
        for expected, examples in ((True, rule.spec.examples.match), (False, rule.spec.examples.no_match)):
            for example in examples:
                try:
                    results.append(ExampleResult(rule.id, example, expected, fires(compiled, rule, example)))
                except RulePackError as exc:
                    results.append(ExampleResult(rule.id, example, expected, False, exc.errors[0]))
    return results


def fires(compiled: CompiledPack, rule: PackRule, example: Example) -> bool:
    match = compiled.match(example_transcript(example, rule.spec.role), rules=[rule])
    return match.fired(rule)


def example_errors(compiled: CompiledPack) -> list[RuleError]:
    errors = []
    for r in run_examples(compiled):
        if r.error is not None:
            errors.append(r.error)
        elif not r.ok:
            rule = compiled.pack.rule(r.rule)
            shown = r.example if isinstance(r.example, str) else " / ".join(r.example)
            problem = (f"example {shown!r} should {'fire' if r.expected else 'not fire'} the rule but "
                       f"{'did not' if r.expected else 'did'}")
            if compiled.uses_tokens(rule):  # a tokens: condition matches jieba's segmentation: show it
                turns = [r.example] if isinstance(r.example, str) else [example_turn(t)[1] for t in r.example]
                problem += f" (its tokens: {' · '.join(compiled.segmented(t) for t in turns)})"
            errors.append(RuleError("R006", rule.path, problem,
                                    "adjust the matcher (or the example, if the example is wrong)", r.rule))
    return errors
