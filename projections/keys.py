"""Whether the ledger is sealed with a key, durably: a keyed ledger records its key's fingerprint (never the key)
beside the events, and its rows say `seal.KEYED`. A writer without the right key would leave rows that never
verify, and a reader could not check the seals of the read models it trusts: both are refused, in one line."""

from __future__ import annotations

from syncledger.ledger.seal import KEY_VARIABLE, KEYED, fingerprint
from syncledger.ledger.store import EventStore, StoreError

from .readmodels import ReadModels


class KeyRefused(StoreError):
    """The seal key given (or its absence) does not fit the ledger."""


def check_seal_key(store: EventStore, models: ReadModels, where: str) -> bool:
    """Refuse (`KeyRefused`) a seal key that is not the ledger's, or none for a keyed ledger; record the key's
    fingerprint when a keyed ledger does not yet (a new one, or one from before fingerprints). Whether the
    ledger is keyed."""
    recorded, key = models.seal_fingerprint(), store.seal_key
    newest = store.newest_kind()
    keyed = recorded is not None or newest == KEYED
    if keyed and key is None:
        named = f" (key fingerprint {recorded})" if recorded else ""
        raise KeyRefused(f"the ledger at {where} is sealed with a key{named}: set {KEY_VARIABLE} to it")
    if key is None:
        return False
    given = fingerprint(key)
    if recorded is not None and recorded != given:
        raise KeyRefused(
            f"{KEY_VARIABLE} is not the key of the ledger at {where} (its key's fingerprint is {recorded}, "
            f"the given one's {given})"
        )
    if recorded is None:
        if newest is not None and newest != KEYED:
            raise KeyRefused(
                f"the ledger at {where} is not sealed with a key: unset {KEY_VARIABLE} (a key cannot be added to "
                "a ledger that has events; export it and import it into a new ledger with the key)"
            )
        if newest == KEYED and not store.key_seals(store.last_position(), key):
            raise KeyRefused(
                f"{KEY_VARIABLE} is not the key of the ledger at {where}: its newest seal was made with another"
            )
        models.record_seal_fingerprint(given)
    return True
