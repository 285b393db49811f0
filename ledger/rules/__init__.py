"""The rule tables: every synchronisation rule as data (ID, timing, condition, effect, confidence, source) with
the pure functions that select it and say what it changes. The engine gathers a situation, `decide` answers it.

`syncledger rules` prints the table; it is the project's documentation of behaviour. IDs never change meaning:
a rule found wrong is retired and replaced by a new ID. One module per synchronisation method
(`outlook_client`, `server_side`); the table's shape is in `.table`, the questions it answers in `.situations`.
A rule both methods follow is one row, in both tables.
"""

from __future__ import annotations

from ..sources import SOURCES
from .outlook_client import (
    CRM_CHANGE_RULES,
    FILTER_RULES,
    IMMEDIATE_RULES,
    OUTLOOK_CLIENT,
    OUTLOOK_REMOVAL_RULES,
    designation,
)
from .server_side import SERVER_SIDE
from .situations import (
    FilterEntry,
    GoingOnline,
    MailboxEdit,
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
    "CRM_CHANGE_RULES",
    "FILTER_RULES",
    "IMMEDIATE_RULES",
    "METHODS",
    "OUTLOOK_CLIENT",
    "OUTLOOK_REMOVAL_RULES",
    "RULES",
    "SERVER_SIDE",
    "SOURCES",
    "FilterEntry",
    "GoingOnline",
    "MailboxEdit",
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
    "methods_of",
    "rule_set",
]

METHODS: dict[str, RuleSet] = {rs.method: rs for rs in (OUTLOOK_CLIENT, SERVER_SIDE)}
# every rule of every method by ID, in the order `syncledger rules` prints them: the Outlook client's, then the
# server-side rows of its own
RULES: dict[str, Rule] = {rule.id: rule for rs in METHODS.values() for rule in rs.rules.values()}


def methods_of(rule_id: str) -> list[str]:
    """The synchronisation methods whose rule set holds the rule."""
    return [method for method, rs in METHODS.items() if rule_id in rs.rules]


def rule_set(method: str) -> RuleSet:
    """The rule set of a synchronisation method (`outlook_client` or `server_side`)."""
    return METHODS[method]


def decide(situation: object, rule_set: RuleSet = OUTLOOK_CLIENT) -> Verdict:
    """The rule that decides the situation, and its effects."""
    return rule_set.decide(situation)
