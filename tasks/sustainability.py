"""The reintegration sustainability score of a follow-up visit: 15 monitoring questions on the
economic, social and psychosocial dimensions, each answer scored 0..1.

Modelled on IOM's Reintegration Sustainability Survey (RSS): IOM (2017) "Setting standards for
an integrated approach to reintegration" (Samuel Hall & IOM, MEASURE project), which built the
RSS, and IOM (2019) *Reintegration Handbook*, Annex 4 ("Reintegration Sustainability Survey"
and its scoring system). The RSS asks 30 questions and weights them with factors derived by
principal component analysis; Homeward keeps 15 of its indicators, one question each, and
uses simplified weights (``Question.weight``): 2 for the two indicators of each dimension the
handbook treats as core (economic: work or income, food security; social: housing, access to
health care; psychosocial: feeling safe, signs of distress), 1 for the others.

Scoring, as in Annex 4: a dimension's score is the weighted mean of its answered questions
(an answer of ``declined`` counts for nothing, nor does a question left out); the composite is
the mean of the three dimension scores, given only when all three have one. A composite of at
least ``SUSTAINABLE`` (0.66) counts as sustainable reintegration.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from homeward.base.errors import InvalidInput

DIMENSIONS = ("economic", "social", "psychosocial")
SUSTAINABLE = 0.66
DECLINED = "declined"  # the person did not answer or does not know: not scored
_KEY = re.compile(r"^[a-z][a-z0-9_]{0,40}$")


@dataclass(frozen=True)
class Choice:
    """One allowed answer: its code, its label and its score (0 worst, 1 best)."""

    code: str
    label: str
    score: float


@dataclass(frozen=True)
class Question:
    """One RSS indicator as a monitoring question."""

    key: str
    dimension: str
    text: str
    weight: int
    choices: tuple[Choice, ...]

    def codes(self) -> tuple[str, ...]:
        return (*(c.code for c in self.choices), DECLINED)

    def score_of(self, code: str) -> float | None:
        return next((c.score for c in self.choices if c.code == code), None)

    def label_of(self, code: str) -> str:
        return next((c.label for c in self.choices if c.code == code), "No answer")


def _q(
    key: str, dimension: str, text: str, weight: int, *choices: tuple[str, str, float]
) -> Question:
    return Question(key, dimension, text, weight, tuple(Choice(*c) for c in choices))


FIVE = (
    ("very_satisfied", "Very satisfied", 1.0),
    ("satisfied", "Satisfied", 0.75),
    ("neutral", "Neither satisfied nor dissatisfied", 0.5),
    ("dissatisfied", "Dissatisfied", 0.25),
    ("very_dissatisfied", "Very dissatisfied", 0.0),
)
ACCESS = (
    ("good", "Good access", 1.0),
    ("limited", "Limited access", 0.5),
    ("none", "No access", 0.0),
)
OFTEN = (("never", "Never", 1.0), ("sometimes", "Sometimes", 0.5), ("often", "Often", 0.0))

QUESTIONS: tuple[Question, ...] = (
    _q(
        "economic_satisfaction",
        "economic",
        "Satisfaction with the current economic situation",
        1,
        *FIVE,
    ),
    _q(
        "food_security",
        "economic",
        "Had to reduce the quantity or quality of food for lack of money",
        2,
        *OFTEN,
    ),
    _q(
        "work_income",
        "economic",
        "Work or a regular income",
        2,
        ("regular", "Regular work or income", 1.0),
        ("occasional", "Occasional work, or in training", 0.5),
        ("none", "No work and no income", 0.0),
    ),
    _q(
        "debt",
        "economic",
        "Debts",
        1,
        ("none", "No debts", 1.0),
        ("manageable", "Debts that can be repaid", 0.5),
        ("unmanageable", "Debts that cannot be repaid", 0.0),
    ),
    _q(
        "borrowing",
        "economic",
        "Could borrow money or find work if needed",
        1,
        ("easily", "Easily", 1.0),
        ("with_difficulty", "With difficulty", 0.5),
        ("not_at_all", "Not at all", 0.0),
    ),
    _q(
        "housing",
        "social",
        "Housing (including safe drinking water)",
        2,
        ("adequate", "Adequate and secure", 1.0),
        ("basic", "Basic or temporary", 0.5),
        ("inadequate", "Inadequate or none", 0.0),
    ),
    _q(
        "education",
        "social",
        "Access to education or training (for the person or their children)",
        1,
        *ACCESS,
    ),
    _q("health_care", "social", "Access to health care", 2, *ACCESS),
    _q(
        "documentation",
        "social",
        "Has identity and civil documents",
        1,
        ("all", "All of them", 1.0),
        ("some", "Some", 0.5),
        ("none", "None", 0.0),
    ),
    _q("justice", "social", "Access to justice and legal aid", 1, *ACCESS),
    _q("distress", "psychosocial", "Signs of distress (sadness, fear, sleeplessness)", 2, *OFTEN),
    _q(
        "feeling_safe",
        "psychosocial",
        "Feels physically safe where they live",
        2,
        ("always", "Always", 1.0),
        ("mostly", "Mostly", 0.5),
        ("rarely", "Rarely or never", 0.0),
    ),
    _q("discrimination", "psychosocial", "Feels discriminated against or stigmatised", 1, *OFTEN),
    _q(
        "remigration",
        "psychosocial",
        "Wishes to migrate again",
        1,
        ("no", "No", 1.0),
        ("undecided", "Undecided", 0.5),
        ("yes", "Yes, even irregularly", 0.0),
    ),
    _q(
        "support_network",
        "psychosocial",
        "Has people to turn to and takes part in community life",
        1,
        ("strong", "Yes, several", 1.0),
        ("some", "A few", 0.5),
        ("none", "No one", 0.0),
    ),
)
BY_KEY = {q.key: q for q in QUESTIONS}


@dataclass(frozen=True)
class Scores:
    """The scores of one visit's answers, rounded to 3 places (None: nothing to score)."""

    economic: float | None
    social: float | None
    psychosocial: float | None
    composite: float | None

    @property
    def sustainable(self) -> bool | None:
        return None if self.composite is None else self.composite >= SUSTAINABLE


def checked_answers(given: Mapping[str, str]) -> dict[str, str]:
    """The answers, each a known question with one of its codes; else one line naming it.

    A key that is not a question is not quoted unless it looks like one (it came from a file
    the user wrote, and an error line must not repeat free text)."""
    answers: dict[str, str] = {}
    for key, value in given.items():
        question = BY_KEY.get(key)
        if question is None:
            named = f" {key!r}" if _KEY.match(key) else ""
            raise InvalidInput(
                f"answers: question{named} is not on the form; see `homeward visit questions`"
            )
        code = str(value).strip()
        if code not in question.codes():
            raise InvalidInput(f"answers: {key} takes one of {', '.join(question.codes())}")
        answers[key] = code
    return answers


def dimension_score(answers: Mapping[str, str], dimension: str) -> float | None:
    """The weighted mean of the scored answers on ``dimension`` (None if none is scored)."""
    total = weights = 0.0
    for question in QUESTIONS:
        if question.dimension != dimension or question.key not in answers:
            continue
        value = question.score_of(answers[question.key])
        if value is not None:
            total, weights = total + question.weight * value, weights + question.weight
    return round(total / weights, 3) if weights else None


def score(answers: Mapping[str, str]) -> Scores:
    """The three dimension scores and their mean (the composite, when all three exist)."""
    economic, social, psychosocial = (dimension_score(answers, d) for d in DIMENSIONS)
    parts = [economic, social, psychosocial]
    composite = None
    if all(p is not None for p in parts):
        composite = round(sum(p for p in parts if p is not None) / 3, 3)
    return Scores(economic, social, psychosocial, composite)
