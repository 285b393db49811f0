"""The rule tables: every synchronisation rule as data (ID, timing, condition, effect, confidence, source) with
the pure functions that select it and say what it changes. The engine gathers a situation, `decide` answers it.

`syncledger rules` prints the table; it is the project's documentation of behaviour. IDs never change meaning:
a rule found wrong is retired and replaced by a new ID. One module per synchronisation method
(`outlook_client`); the table's shape is in `.table`, the questions it answers in `.situations`.
"""

from __future__ import annotations

from ..sources import SOURCES
from .observed import OBSERVED, OBSERVED_RULES, Baselining
from .outlook_client import (
    CRM_CHANGE_RULES,
    FILTER_RULES,
    IMMEDIATE_RULES,
    OUTLOOK_CLIENT,
    OUTLOOK_REMOVAL_RULES,
    designation,
)
from .situations import (
    FilterEntry,
    GoingOnline,
    OfflineOperation,
    OfflineReplay,
    OutlookEdit,
    OutlookRemoval,
    QueuedCrmChange,
    Tracking,
    Untracking,
    family,
)
from .table import Rule, RuleSet, Verdict

__all__ = [
    "OBSERVED",
    "OBSERVED_RULES",
    "Baselining",
    "CRM_CHANGE_RULES",
    "FILTER_RULES",
    "IMMEDIATE_RULES",
    "OUTLOOK_CLIENT",
    "OUTLOOK_REMOVAL_RULES",
    "RULES",
    "SOURCES",
    "FilterEntry",
    "GoingOnline",
    "OfflineOperation",
    "OfflineReplay",
    "OutlookEdit",
    "OutlookRemoval",
    "QueuedCrmChange",
    "Rule",
    "RuleSet",
    "Tracking",
    "Untracking",
    "Verdict",
    "decide",
    "designation",
    "family",
]

# every rule by ID, in the order `syncledger rules` prints them: the synchronisation's, then the observed ones
RULES: dict[str, Rule] = {**OUTLOOK_CLIENT.rules, **OBSERVED.rules}


def decide(situation: object, rule_set: RuleSet = OUTLOOK_CLIENT) -> Verdict:
    """The rule that decides the situation, and its effects."""
    return rule_set.decide(situation)
