"""A pack's ``flag_labels:``: what the UI calls its rules' flags. Checked as every key is: a label for a flag no
rule of the pack raises, or one that is blank, is an R002 naming it."""

from __future__ import annotations

import shutil
import textwrap

import pytest

from qa_service.config import DEFAULT_RULES_DIR
from qa_service.errors import RulePackError
from qa_service.rules.book import RuleBook
from qa_service.rules.loader import load_packs

PACK = textwrap.dedent("""\
    name: mine
    version: "1.0"
    scenario: mine
    include: [general]
    flag_labels: LABELS
    rules:
      - id: overpromise
        dimension: compliance
        points: -10
        flag: overpromise
        message: 承诺保证
        match: {phrases: [百分百保证]}
        examples: {match: [我们百分百保证到货], no_match: [我们不能百分百保证]}
    """)


def _dir(tmp_path, labels: str):
    rules = tmp_path / "rules"
    shutil.copytree(DEFAULT_RULES_DIR, rules, ignore=shutil.ignore_patterns("appraisal", "alerts"))
    (rules / "mine.yaml").write_text(PACK.replace("LABELS", labels), encoding="utf-8")
    return rules


def test_flag_labels_name_the_packs_flags_for_the_ui(tmp_path):
    book = RuleBook(_dir(tmp_path, "{overpromise: 过度承诺}")).load(examples=False)
    assert book.packs["mine"].pack.spec.flag_labels == {"overpromise": "过度承诺"}
    assert book.flag_labels()["overpromise"] == "过度承诺" and book.flag_labels("mine")["overpromise"] == "过度承诺"
    assert "overpromise" in book.flags()


@pytest.mark.parametrize(("labels", "said"), [
    ("{overpromis: 过度承诺}", "flag_labels: Value error, 'overpromis' is raised by no rule of this pack (its rules "
                             "raise: overpromise;"),
    ("{complaint_dismissed: 敷衍}", "'complaint_dismissed' is raised by no rule of this pack"),  # an included pack's
    ("{overpromise: '  '}", "the label of 'overpromise' is blank"),
    ("{overpromise: 12}", "flag_labels.overpromise: Input should be a valid string"),
    ("{Overpromise: 过度承诺}", "'Overpromise' is not a flag name"),
    ("[过度承诺]", "flag_labels: Input should be a valid dictionary"),
])
def test_a_label_for_no_flag_of_the_pack_or_a_blank_one_is_r002(tmp_path, labels, said):
    with pytest.raises(RulePackError) as exc:
        load_packs(_dir(tmp_path, labels))
    (error,) = exc.value.errors
    assert error.code == "R002" and error.path == "rules/mine.yaml", str(error)
    assert said.replace("Value error, ", "") in str(error), str(error)
