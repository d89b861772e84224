"""What each detector reads: the slots (turns) that make one example, for training and scoring alike.

* turn heads (objection, negative, angry, escalation on customer turns; apology, rude on agent turns):
  the turn, the other side's turn before it, where the turn sits, and the rule tags that hit it;
* handling (one example per objection): the objection's turns and the agent turns that answer it;
* conversation heads: greeting (the first two agent turns), closing (the last two agent turns and
  any customer turns after them), end sentiment and resolved (the last turns of each side).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from qa_service.scoring.detectors.features import Bag, TurnView, bag, ngram_ids, position_tokens, token_ids

ANSWER_AGENT_TURNS = 3  # agent turns read as the answer to an objection
ANSWER_CUSTOMER_STOP = 2  # ... stopping once the customer has spoken this many times since


def turn_example(view: TurnView, i: int, tags: Iterable[str], buckets: int) -> Bag:
    prev = view.previous(i)
    return bag([
        ngram_ids(view.texts[i], "turn", buckets),
        ngram_ids(view.texts[prev], "prev", buckets) if prev is not None else ngram_ids("", "prev", buckets),
        token_ids([*position_tokens(view, i), *(f"tag:{t}" for t in tags)], buckets),
    ])


def answer_turns(view: TurnView, objection_turns: list[int]) -> list[int]:
    """The agent turns that answer an objection: up to three after its last turn, until the customer has
    spoken twice more (CSDS and JDDC agents split one answer over several short turns)."""
    last = max(objection_turns)
    out, customer = [], 0
    for k in range(last + 1, len(view.texts)):
        if not view.texts[k]:
            continue
        if k in view.agent_turns:
            out.append(k)
            if len(out) >= ANSWER_AGENT_TURNS:
                break
        elif k not in objection_turns:
            customer += 1
            if customer >= ANSWER_CUSTOMER_STOP:
                break
    return out


def handling_example(view: TurnView, objection_turns: list[int], tags: Mapping[int, Iterable[str]],
                     buckets: int) -> Bag:
    answers = answer_turns(view, objection_turns)
    answer_tags = {f"atag:{t}" for k in answers for t in tags.get(k, ())}
    toks = [f"answers:{min(len(answers), 3)}", *sorted(answer_tags)]
    if not answers:
        toks.append("unanswered")
    return bag([
        ngram_ids("".join(view.texts[k] for k in objection_turns), "objection", buckets),
        ngram_ids("".join(view.texts[k] for k in answers), "answer", buckets),
        ngram_ids(view.texts[answers[0]] if answers else "", "answer1", buckets),
        token_ids(toks, buckets),
    ])


def _slot(view: TurnView, turns: list[int], k: int, name: str, buckets: int):
    """The n-grams of ``turns[k]`` (empty when there is no such turn, or it lies before a live window)."""
    ok = -len(turns) <= k < len(turns) and turns[k] >= 0
    return ngram_ids(view.texts[turns[k]] if ok else "", name, buckets)


def greeting_example(view: TurnView, tags: Mapping[int, Iterable[str]], buckets: int) -> Bag:
    a = view.agent_turns
    toks = {f"gtag:{t}" for k in a[:2] for t in tags.get(k, ())}
    if not a:
        toks.add("no_agent")
    return bag([_slot(view, a, 0, "g1", buckets), _slot(view, a, 1, "g2", buckets), token_ids(sorted(toks), buckets)])


def closing_example(view: TurnView, tags: Mapping[int, Iterable[str]], buckets: int) -> Bag:
    a, c = view.agent_turns, view.customer_turns
    after = [k for k in c if a and k > a[-1]]
    toks = {f"ctag:{t}" for k in a[-2:] for t in tags.get(k, ())}
    toks.add(f"after:{min(len(after), 2)}")
    if len(a) == 1:
        toks.add("one_agent_turn")
    if not a:
        toks.add("no_agent")
    return bag([_slot(view, a, -1, "c1", buckets), _slot(view, a, -2, "c2", buckets),
                ngram_ids("".join(view.texts[k] for k in after), "after", buckets),
                token_ids(sorted(toks), buckets)])


def ending_example(view: TurnView, tags: Mapping[int, Iterable[str]], buckets: int) -> Bag:
    """For end sentiment and resolved: the last two customer turns, the last agent turn, who spoke last."""
    a, c = view.agent_turns, view.customer_turns
    toks = {f"etag:{t}" for k in c[-2:] for t in tags.get(k, ())}
    last = max(a[-1:] + c[-1:], default=None)
    toks.add("last:customer" if last is not None and last in c else "last:agent")
    toks.add(f"turns:{min(len(c), 4)}")
    return bag([_slot(view, c, -1, "e1", buckets), _slot(view, c, -2, "e2", buckets),
                _slot(view, a, -1, "ea", buckets), token_ids(sorted(toks), buckets)])
