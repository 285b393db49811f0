"""Where the rules come from: each source of the rule table once, with its full title (the rule table, the
history) and a short one (enough to find it there, for the sentences of `why`)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Source:
    title: str
    short: str


SOURCES: dict[str, Source] = {
    "seed": Source("the white paper's table, as quoted in the seed text", "the white paper's table"),
    "DEL": Source(
        'Microsoft docs, "Delete records that have been tracked in Dynamics 365 for Outlook"',
        'Microsoft docs, "Delete records that have been tracked"',
    ),
    "H4": Source('CRM 4.0/2011 help, "Synchronizing information"', 'CRM help, "Synchronizing information"'),
    "OFF": Source('Microsoft docs, "Work offline in Dynamics 365 for Outlook"', 'Microsoft docs, "Work offline"'),
    "SSS": Source(
        'Microsoft Learn, "Synchronization logic for appointments, contacts and tasks"',
        'Microsoft Learn, "Synchronization logic"',
    ),
    "B11": Source("a CRM 2011 book, chapter on deleting records", "a CRM 2011 book"),
    "3P": Source("CRM consultants' blogs", "CRM consultants' blogs"),
    "SYNC": Source(
        'Microsoft Learn, "Synchronization logic for appointments, contacts, and tasks" (power-platform admin docs, '
        "2025 revision)",
        'Microsoft Learn, "Synchronization logic" (2025)',
    ),
    "ORG": Source(
        'Microsoft Learn, "OrgDBOrgSettings for server-side synchronization" '
        "(DistinctPhysicalAndLogicalDeletesForExchangeSync)",
        'Microsoft Learn, "OrgDBOrgSettings for server-side synchronization"',
    ),
    "MAP": Source(
        "the Dataverse table exchangesyncidmapping (columns isdeletedinexchange, isunlinkedincrm)",
        "the exchangesyncidmapping table",
    ),
}
