"""The shape of a rule table: each row names its rule, says when it applies to a situation, and what it changes.

A rule set is an ordered table of rows; `decide` walks the rows that answer the situation's kind of question
and takes the first that applies. Everything here is pure: situations are plain values (`.situations`), rows
are data with small functions, and a verdict is the rule and the effects, for the engine to record.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple

from ..effects import Effect
from ..sources import SOURCES
from ..vocabulary import Facts


def _nothing(situation: Any) -> tuple[Effect, ...]:
    return ()


def _no_reason(situation: Any) -> str | None:
    return None


def _no_facts(situation: Any) -> Facts | None:
    return None


@dataclass(frozen=True, slots=True)
class Rule:
    """One row of a rule table: what `syncledger rules` prints, and how the row decides its situations."""

    id: str
    timing: str  # "immediate", "queued" or "observed" (recorded as reported: BASELINE)
    when: str
    then: str
    confidence: str  # stated, stated (3rd party), inferred, decision, observed (what the organisation reported)
    sources: tuple[str, ...]
    about: str  # what `why` finds the decision under: "both", "item", "user" or "none" (no decision recorded)
    situation: type  # the kind of question the row answers (a class of `.situations`)
    applies: Callable[[Any], bool]  # given a situation of that kind
    effects: Callable[[Any], tuple[Effect, ...]] = _nothing
    reason: Callable[[Any], str | None] = _no_reason  # why, in words, when the effects alone do not say
    facts: Callable[[Any], Facts | None] = _no_facts  # what the row read of its situation, recorded on the decision

    @property
    def sentence(self) -> str:
        return f"When {self.when}: {self.then}."

    @property
    def source_text(self) -> str:
        if self.confidence == "observed":
            return "what the organisation reported: not a decision"
        return "; ".join(SOURCES[s].title for s in self.sources) or "this project's own decision"


def row(
    id: str,
    timing: str,
    when: str,
    then: str,
    confidence: str,
    sources: str,
    *,
    situation: type,
    applies: Callable[[Any], bool],
    effects: Callable[[Any], tuple[Effect, ...]] = _nothing,
    reason: Callable[[Any], str | None] = _no_reason,
    about: str = "both",
    facts: Callable[[Any], Facts | None] = _no_facts,
) -> Rule:
    """A row as a table reads: the words first, then how it decides."""
    return Rule(
        id, timing, when, then, confidence, tuple(sources.split()), about, situation, applies, effects, reason, facts
    )


def iso(t: datetime | None) -> str | None:
    """A time as a fact records it: ISO 8601, `Z` for UTC (as the state document writes times)."""
    if t is None:
        return None
    text = t.isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


class _Verdict(NamedTuple):
    rule: Rule
    effects: tuple[Effect, ...]
    reason: str | None = None


class Verdict(_Verdict):
    """The rule that decides a situation, what it changes (and why in words), and the facts of the situation it
    read, which the decision records so that `why` tells them exactly even after later changes. As a tuple it is
    `(rule, effects, reason)`, as it was before it had facts."""

    facts: Facts | None

    def __new__(
        cls, rule: Rule, effects: tuple[Effect, ...], reason: str | None = None, facts: Facts | None = None
    ) -> Verdict:
        verdict = super().__new__(cls, rule, effects, reason)
        verdict.facts = facts
        return verdict


class RuleSet:
    """A synchronisation method's rules, in the order `syncledger rules` prints them."""

    def __init__(self, method: str, rows: Iterable[Rule]) -> None:
        self.method = method
        self.rules: dict[str, Rule] = {}
        self._by_situation: dict[type, list[Rule]] = {}
        for rule in rows:
            assert rule.id not in self.rules, f"rule {rule.id} is in the {method} table twice"
            self.rules[rule.id] = rule
            self._by_situation.setdefault(rule.situation, []).append(rule)

    def match(self, situation: object) -> Verdict | None:
        """The first row for this kind of situation that applies, with its effects; None if none does."""
        for rule in self._by_situation.get(type(situation), ()):
            if rule.applies(situation):
                return Verdict(rule, rule.effects(situation), rule.reason(situation), rule.facts(situation))
        return None

    def decide(self, situation: object) -> Verdict:
        """Like `match`, for the situations where some row always applies (each such table ends in a catch-all)."""
        verdict = self.match(situation)
        if verdict is None:
            raise LookupError(f"no {self.method} rule applies to {situation}")
        return verdict
