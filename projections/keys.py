"""Whether the ledger is sealed with a key, durably: a keyed ledger records its key's fingerprint (never the key)
beside the events, and its rows say `seal.KEYED`. A writer without the right key would leave rows that never
verify, and a reader could not check the seals of the read models it trusts: both are refused, in one line.

What says a ledger is keyed is read cheaply, and from more than one place, since someone who can edit the
database can delete or replace the fingerprint: the fingerprint, the first row (a key is never added to a ledger
that has events) and the newest row, whose seal a writer checks against its key before chaining to it."""

from __future__ import annotations

from typing import NamedTuple

from syncledger.ledger.seal import KEY_VARIABLE, KEYED, fingerprint
from syncledger.ledger.store import EventStore, StoreError

from .readmodels import ReadModels


class KeyRefused(StoreError):
    """The seal key given (or its absence) does not fit the ledger."""


class Keying(NamedTuple):
    """What the ledger says of its key: the recorded fingerprint, and the kinds of its first and newest rows
    (`seal.KEYED` or not; None for none or a damaged one)."""

    recorded: str | None
    first: int | None
    newest: int | None

    @property
    def keyed(self) -> bool:
        return self.recorded is not None or KEYED in (self.first, self.newest)


def keying(store: EventStore, models: ReadModels) -> Keying:
    return Keying(models.seal_fingerprint(), store.first_kind(), store.newest_kind())


def check_seal_key(store: EventStore, models: ReadModels, where: str) -> bool:
    """Refuse (`KeyRefused`) a seal key that is not the ledger's, or none for a keyed ledger, or any key that did
    not make the newest seal (what a writer chains its events to), even one whose fingerprint is recorded: that
    fingerprint, or that event, was put there behind the ledger's back. Record the key's fingerprint when a keyed
    ledger does not yet (a new one, or one from before fingerprints). Whether the ledger is keyed."""
    ledger, key = keying(store, models), store.seal_key
    if key is None:
        if ledger.keyed:
            raise _key_missing(ledger.recorded, where)
        return False
    _refuse_unkeyed(ledger, where)
    if ledger.recorded not in (None, fingerprint(key)):
        raise _other_key(ledger.recorded, key, where)
    _refuse_head_not_sealed_by(store, ledger, key, where)
    if ledger.recorded is None:
        models.record_seal_fingerprint(fingerprint(key))
    return True


def check_verify_key(store: EventStore, models: ReadModels, where: str) -> bool:
    """What `verify` needs of the seal key: the ledger's key for a ledger that says it is keyed (its fingerprint,
    or its newest row), none for an unkeyed one (refused, `KeyRefused`, otherwise). What it can report at a
    position is not refused: a ledger gone unkeyed midway (without the key the scan says which events it cannot
    check and checks the rest), events not sealed with the key, a fingerprint replaced while the key still seals
    the ledger's first or newest event. Whether the ledger is keyed."""
    ledger, key = keying(store, models), store.seal_key
    if key is None:
        if ledger.recorded is not None or ledger.newest == KEYED:
            raise _key_missing(ledger.recorded, where)
        return ledger.keyed
    _refuse_unkeyed(ledger, where)
    given = fingerprint(key)
    if ledger.recorded != given and ledger.newest is not None and not _seals_an_end(store, key):
        raise _other_key(ledger.recorded, key, where)
    if ledger.recorded is None:
        models.record_seal_fingerprint(given)
    return True


def _refuse_unkeyed(ledger: Keying, where: str) -> None:
    """A key is not added to a ledger that has events (a new, empty one takes it)."""
    if not ledger.keyed and ledger.newest is not None:
        raise KeyRefused(
            f"the ledger at {where} is not sealed with a key: unset {KEY_VARIABLE} (a key cannot be added to "
            "a ledger that has events; export it and import it into a new ledger with the key)"
        )


def _refuse_head_not_sealed_by(store: EventStore, ledger: Keying, key: bytes, where: str) -> None:
    """A writer chains its events to the newest one: refused if that one's seal is not its key's (a damaged row
    is left to the reads, which name its position)."""
    if ledger.newest is None:
        return
    last = store.last_position()
    if ledger.newest != KEYED:
        raise KeyRefused(
            f"the newest event of the ledger at {where} (position {last}) is not sealed with a key, but the ledger "
            f"is keyed: it was appended behind the ledger's back or by a writer without the key; run 'syncledger "
            f"verify' with {KEY_VARIABLE}"
        )
    if store.key_seals(last, key):
        return
    if ledger.recorded is None:
        raise KeyRefused(
            f"{KEY_VARIABLE} is not the key of the ledger at {where}: its newest seal was made with another"
        )
    raise KeyRefused(
        f"the newest event of the ledger at {where} (position {last}) was not sealed with {KEY_VARIABLE}, though "
        "the ledger records its fingerprint: the event or the fingerprint was changed behind the ledger's back; "
        "run 'syncledger verify' with the ledger's key"
    )


def _seals_an_end(store: EventStore, key: bytes) -> bool:
    """Whether `key` made the seal of the ledger's first or newest event: two cheap reads that tell the ledger's
    key from another without trusting the fingerprint."""
    return store.key_seals(1, key) or store.key_seals(store.last_position(), key)


def _key_missing(recorded: str | None, where: str) -> KeyRefused:
    named = f" (key fingerprint {recorded})" if recorded else ""
    return KeyRefused(f"the ledger at {where} is sealed with a key{named}: set {KEY_VARIABLE} to it")


def _other_key(recorded: str | None, key: bytes, where: str) -> KeyRefused:
    if recorded is None:
        return KeyRefused(f"{KEY_VARIABLE} is not the key of the ledger at {where}: its seals were made with another")
    return KeyRefused(
        f"{KEY_VARIABLE} is not the key of the ledger at {where} (its key's fingerprint is {recorded}, "
        f"the given one's {fingerprint(key)})"
    )
