"""people.yaml (SOURCES.md "people.yaml: who is who"): the ledger's user names for the ids of both audit logs,
the synchronisation's own ids and clients, and the cycles that inferred syncs follow."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import yaml

from syncledger.ledger import vocabulary as v

from ..inputs import shown
from ..scenarios.load import _UniqueKeys
from .errors import SourceError

USER_KEYS = ("crm", "mailbox", "sync_method", "sync_filter", "delete_untracked_email_in_crm", "cycle")
METHODS = ("outlook_client", "server_side")
DEFAULT_CYCLES = {"outlook_client": "15m", "server_side": "5m"}
_CYCLE = re.compile(r"^([1-9][0-9]{0,5})([smh])$")
_UNIT = {"s": 1, "m": 60, "h": 3600}


def cycle_seconds(text: str) -> int:
    found = _CYCLE.match(text)
    assert found is not None
    return int(found.group(1)) * _UNIT[found.group(2)]


@dataclass(frozen=True)
class Person:
    name: str
    crm: str | None
    mailbox: str | None
    sync_method: str | None
    sync_filter: str | None
    delete_untracked_email_in_crm: bool | None
    cycle: str | None  # as the file sets it for this user
    effective_cycle: str  # the user's own, else the method's

    @property
    def method(self) -> str:
        return self.sync_method or "outlook_client"

    @property
    def seconds(self) -> int:
        return cycle_seconds(self.effective_cycle)


@dataclass(frozen=True)
class People:
    file: str
    users: dict[str, Person]
    by_crm: dict[str, str] = field(default_factory=dict)
    by_mailbox: dict[str, str] = field(default_factory=dict)
    crm_users: frozenset[str] = frozenset()
    mailbox_clients: tuple[str, ...] = ()
    others_skip: bool = False

    def crm_user(self, guid: str) -> str | None:
        return self.by_crm.get(guid.lower())

    def mailbox_user(self, address: str) -> str | None:
        return self.by_mailbox.get(address.lower())

    def is_sync_caller(self, guid: str | None) -> bool:
        return guid is not None and guid.lower() in self.crm_users

    def is_sync_client(self, client: str | None) -> bool:
        low = (client or "").lower()
        return any(low.startswith(prefix) for prefix in self.mailbox_clients)

    def user_add(self, name: str, at: datetime) -> v.UserAdded:
        """The declaration of a user, `people:<user>`, with the options the file gives."""
        person = self.users[name]
        raw: dict[str, Any] = {"do": "user.add", "id": f"people:{name}", "at": at, "user": name}
        if person.sync_filter is not None:
            raw["sync_filter"] = person.sync_filter
        if person.delete_untracked_email_in_crm is not None:
            raw["delete_untracked_email_in_crm"] = person.delete_untracked_email_in_crm
        if person.cycle is not None:
            raw["cycle"] = person.cycle
        if person.sync_method is not None and "sync_method" in v.UserAdded.model_fields:
            raw["sync_method"] = person.sync_method
        return v.UserAdded.model_validate(raw)


def load_people(path: str) -> People:
    try:
        with open(path, "rb") as stream:
            text = stream.read().decode("utf-8-sig")
    except OSError as e:
        raise SourceError(path, f"cannot read it: {e.strerror or e}") from None
    except UnicodeDecodeError:
        raise SourceError(path, "is not UTF-8 text") from None
    try:
        doc = yaml.load(text, Loader=_UniqueKeys)  # noqa: S506 (a SafeLoader that refuses repeated keys)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        line = f" (line {mark.line + 1})" if mark is not None else ""
        raise SourceError(path, f"is not valid YAML{line}: {getattr(e, 'problem', None) or e}") from None
    return parse_people(doc, path)


def _fail(path: str, problem: str) -> SourceError:
    return SourceError(path, problem)


def parse_people(doc: Any, path: str = "people.yaml") -> People:
    if not isinstance(doc, dict):
        raise _fail(path, "a people file is a mapping with a 'users' key")
    unknown = sorted(set(map(str, doc)) - {"users", "synchronisation", "cycles", "others"})
    if unknown:
        raise _fail(path, f"unknown key {shown(unknown[0])} (valid: users, synchronisation, cycles, others)")
    cycles = dict(DEFAULT_CYCLES)
    raw_cycles = doc.get("cycles") or {}
    if not isinstance(raw_cycles, dict):
        raise _fail(path, "cycles is a mapping of a method to a cycle (e.g. {outlook_client: 15m})")
    for method, value in raw_cycles.items():
        if method not in METHODS:
            raise _fail(path, f"cycles: unknown method {shown(method)} (valid: {', '.join(METHODS)})")
        cycles[method] = _cycle(path, value, f"cycles.{method}")
    others = doc.get("others")
    if others not in (None, "skip"):
        raise _fail(path, f"others takes skip, not {shown(others)}")
    sync = doc.get("synchronisation") or {}
    if not isinstance(sync, dict):
        raise _fail(path, "synchronisation is a mapping with crm_users and mailbox_clients")
    bad = sorted(set(map(str, sync)) - {"crm_users", "mailbox_clients"})
    if bad:
        raise _fail(path, f"synchronisation: unknown key {shown(bad[0])} (valid: crm_users, mailbox_clients)")
    crm_users = _texts(path, sync.get("crm_users"), "synchronisation.crm_users")
    clients = _texts(path, sync.get("mailbox_clients"), "synchronisation.mailbox_clients")
    users_doc = doc.get("users")
    if not isinstance(users_doc, dict) or not users_doc:
        raise _fail(path, "users is a mapping of user names to their ids (e.g. alice: {crm: GUID, mailbox: ADDRESS})")
    users: dict[str, Person] = {}
    by_crm: dict[str, str] = {}
    by_mailbox: dict[str, str] = {}
    for name, entry in users_doc.items():
        person = _person(path, name, entry, cycles)
        users[person.name] = person
        for key, index in ((person.crm, by_crm), (person.mailbox, by_mailbox)):
            if key is None:
                continue
            if key in index:
                raise _fail(path, f"users.{name}: {shown(key)} is also {index[key]}'s")
            index[key] = person.name
    return People(
        path,
        users,
        by_crm,
        by_mailbox,
        frozenset(c.lower() for c in crm_users),
        tuple(c.lower() for c in clients),
        others == "skip",
    )


def _texts(path: str, value: Any, what: str) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(x, str) and x for x in value):
        raise _fail(path, f"{what} is a list of texts")
    return value


def _cycle(path: str, value: Any, what: str) -> str:
    text = str(value) if isinstance(value, (str, int)) and not isinstance(value, bool) else None
    if text is None or _CYCLE.match(text) is None:
        raise _fail(path, f"{what}: a cycle is <n>s, <n>m or <n>h (e.g. 15m), not {shown(value)}")
    return text


def _person(path: str, name: Any, entry: Any, cycles: dict[str, str]) -> Person:
    if not isinstance(name, str) or not name or len(name) > 200 or v.text_problem(name):
        raise _fail(path, f"users: {shown(name)} is not a user name")
    if not isinstance(entry, dict):
        raise _fail(path, f"users.{name}: a user is a mapping with crm and/or mailbox")
    unknown = sorted(set(map(str, entry)) - set(USER_KEYS))
    if unknown:
        raise _fail(path, f"users.{name}: unknown key {shown(unknown[0])} (valid: {', '.join(USER_KEYS)})")
    crm, mailbox = entry.get("crm"), entry.get("mailbox")
    if crm is None and mailbox is None:
        raise _fail(path, f"users.{name}: give crm (a GUID), mailbox (an address) or both")
    for key, value in (("crm", crm), ("mailbox", mailbox)):
        if value is not None and (not isinstance(value, str) or not value.strip()):
            raise _fail(path, f"users.{name}.{key} must be text, not {shown(value)}")
    method = entry.get("sync_method")
    if method is not None and method not in METHODS:
        raise _fail(path, f"users.{name}.sync_method: {shown(method)} (valid: {', '.join(METHODS)})")
    sync_filter = entry.get("sync_filter")
    if sync_filter is not None and sync_filter not in v.SYNC_FILTERS:
        raise _fail(path, f"users.{name}.sync_filter: {shown(sync_filter)} (valid: {', '.join(v.SYNC_FILTERS)})")
    delete = entry.get("delete_untracked_email_in_crm")
    if delete is not None and not isinstance(delete, bool):
        raise _fail(path, f"users.{name}.delete_untracked_email_in_crm takes true or false, not {shown(delete)}")
    own = _cycle(path, entry["cycle"], f"users.{name}.cycle") if entry.get("cycle") is not None else None
    return Person(
        name,
        crm.strip().lower() if isinstance(crm, str) else None,
        mailbox.strip().lower() if isinstance(mailbox, str) else None,
        method,
        sync_filter,
        delete,
        own,
        own or cycles[method or "outlook_client"],
    )
