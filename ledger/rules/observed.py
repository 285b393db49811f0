"""Rules that decide nothing: what the organisation reported is recorded as it was (timing and confidence
`observed`). One row so far, BASELINE: the state before the first event (SOURCES.md "The baseline").

They belong to no synchronisation method: a baseline is observed the same whatever engine a user has.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..effects import CreateItem, CreateRecord, Effect, LinkItem
from ..vocabulary import BaselineItem, BaselineRecord
from .table import RuleSet, row


@dataclass(frozen=True, slots=True)
class Baselining:
    """One record of a baseline with the items linked to it, or one item of it linked to no record (`record`
    None). `links` are (user, item, origin, in the filter at the baseline's time), one per item."""

    record: BaselineRecord | None
    items: tuple[tuple[str, BaselineItem], ...]
    links: tuple[tuple[str, str, str, bool], ...] = ()


def _as_observed(b: Baselining) -> tuple[Effect, ...]:
    effects: list[Effect] = []
    r = b.record
    if r is not None:
        effects.append(
            CreateRecord(
                record=r.id,
                type=r.type,
                owner=r.owner,
                state=r.state,
                fields=r.fields,
                start=r.start,
                shared_with=r.shared_with or None,
                regarding=r.regarding,
            )
        )
    for user, i in b.items:
        effects.append(
            CreateItem(user=user, item=i.id, type=i.type, fields=i.fields, start=i.start, completed=i.completed)
        )
    if r is not None:
        for user, item, origin, in_filter in b.links:
            effects.append(LinkItem(user=user, item=item, record=r.id, origin=origin, in_filter=in_filter))
    return tuple(effects)


OBSERVED_RULES = (
    row(
        "BASELINE",
        "observed",
        "a baseline reports the records, Outlook items and links that existed before the first event",
        "they are set as reported; each link remembers whether its record was in the user's sync filter then",
        "observed",
        "",
        situation=Baselining,
        applies=lambda b: True,
        effects=_as_observed,
    ),
)

OBSERVED = RuleSet("observed", OBSERVED_RULES)
