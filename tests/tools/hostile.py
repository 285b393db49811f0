"""Hostile input for the command line: hypothesis strategies and fixed nasty documents.

Used by `test_hostile_input.py`. Everything here builds input; nothing runs the program.
"""

from __future__ import annotations

import copy
import json
from typing import Any

from hypothesis import strategies as st

from syncledger.ledger.vocabulary import ACTION_CLASSES

VERBS = tuple(ACTION_CLASSES)

# Every key the inputs know, at any level: a generated "unknown key" is never one of these.
KNOWN_KEYS = frozenset(
    {
        *(name for cls in ACTION_CLASSES.values() for name in cls.model_fields),
        "with",
        "title",
        "start",
        "users",
        "steps",
        "expect",
        "crm",
        "outlook",
        "links",
        "pending",
        "why",
        "owner",
        "state",
        "regarding",
        "fields",
        "shared_with",
        "linked",
        "completed",
        "origin",
        "rule",
    }
)

# Characters that break naive code: NUL and controls, bidi overrides, zero-width and joiners, BOM, line and
# paragraph separators, combining marks, emoji sequences, full-width and look-alike letters, YAML and format
# syntax, the highest code point.
ODD_CHARS = (
    "\x00",
    "\x07",
    "\x1b",
    "\x7f",
    "\x85",
    "\r",
    "\n",
    "\t",
    "\u202e",
    "\u200f",
    "\u2066",
    "\u200b",
    "\u200d",
    "\ufeff",
    "\u2028",
    "\u2029",
    "\u0301",
    "😀",
    "👩\u200d👩\u200d👧",
    "🏳️\u200d🌈",
    "Ａ",
    "ﬁ",
    "с",  # Cyrillic es
    "ο",  # Greek omicron
    "\U0010ffff",
    "\\",
    "'",
    '"',
    "%s",
    "{}",
    "${HOME}",
    "`",
    ":",
    "#",
    "&",
    "*",
    "!",
    "|",
    ">",
    "-",
    "?",
    "[",
    "]",
    "{",
    "}",
    ",",
    ".",
    "=",
    " ",
)

# What JSON may hold raw but a terminal or a reviewer's viewer obeys, by class: DEL; C1 controls (0x9b alone
# starts an escape sequence on some terminals; 0x85 is a line break); the bidirectional marks, embeddings,
# overrides and isolates, which reorder what is shown; the line and paragraph separators.
DISPLAY_CONTROLS = {
    "DEL": "\x7f",
    "C1": "".join(map(chr, range(0x80, 0xA0))),
    "bidi marks": "\u200e\u200f\u061c",
    "bidi embeddings and overrides": "\u202a\u202b\u202c\u202d\u202e",
    "bidi isolates": "\u2066\u2067\u2068\u2069",
    "line and paragraph separators": "\u2028\u2029",
}
# A CRM subject holding each class; the override at the end would show "Invoice ... exe.pdf" for "fdp.exe".
HOSTILE_SUBJECT = "Invoice " + " ".join(DISPLAY_CONTROLS.values()) + " \u202efdp.exe"


def raw_display_controls(text: str) -> list[str]:
    """Each character of DISPLAY_CONTROLS that `text` holds raw, named by its class."""
    return [f"{kind} U+{ord(c):04X}" for kind, chars in DISPLAY_CONTROLS.items() for c in chars if c in text]


def subject_scenario() -> str:
    """alice tracks her e-mail m1 with HOSTILE_SUBJECT; bob then sets its category in CRM to the same text (an edit
    queued for alice, which `pending` and `preview` tell)."""
    text = json.dumps(HOSTILE_SUBJECT)  # YAML's double-quoted escapes are JSON's: the file holds no raw control
    return (
        "title: a hostile subject\nstart: 2026-03-02T09:00:00Z\nusers: {alice: {}, bob: {}}\nsteps:\n"
        f"  - {{do: outlook.create, user: alice, item: m1, type: email, fields: {{subject: {text}}}}}\n"
        "  - {do: outlook.track, user: alice, item: m1}\n"
        f"  - {{do: crm.update, actor: bob, record: m1, fields: {{category: {text}}}}}\n"
    )


# Text without lone surrogates (YAML files are UTF-8, so they cannot hold one unescaped).
odd_text = st.lists(
    st.one_of(st.sampled_from(ODD_CHARS), st.characters(blacklist_categories=("Cs",))), max_size=12
).map("".join)
# Text with lone surrogates too: what `\udcff` in JSON, or an undecodable byte in a command-line argument, gives.
odd_text_with_surrogates = st.lists(
    st.one_of(st.sampled_from(ODD_CHARS), st.characters(), st.sampled_from(("\udcff", "\ud800"))), max_size=12
).map("".join)

# Values a YAML-minded parser turns into something else than text.
YAML_TRAPS = (
    "",
    "~",
    "null",
    "Null",
    "true",
    "no",
    "off",
    "0",
    "-0",
    "0x1f",
    "0o17",
    "1_000",
    "1e400",
    "-1e400",
    ".inf",
    ".nan",
    "2026-03-02",
    "2026-03-02 09:00:00",
    "12:30:00",
    "[1, 2]",
    "[[[[",
    "{a: 1}",
    "{",
    "- a",
    "*alias",
    "&anchor [*anchor]",
    "!!binary aGVsbG8=",
    "!!python/object/apply:os.getcwd []",
    "!!set {a, b}",
    "? a",
    "a: b",
    "'quoted",
    '"\\udcff"',
    "%YAML 1.1",
    "---",
    "...",
    "#comment",
    "9" * 5000,
)
yaml_trap_text = st.one_of(st.sampled_from(YAML_TRAPS), odd_text)

# Keys: the known ones (to reach deep code), odd text, and what YAML allows besides text.
json_keys = st.one_of(st.sampled_from(sorted(KNOWN_KEYS)), odd_text)
yaml_keys = st.one_of(json_keys, st.integers(), st.booleans(), st.none(), st.floats(allow_nan=False))


def _scalars(text: st.SearchStrategy[str]) -> st.SearchStrategy[Any]:
    return st.one_of(
        st.none(),
        st.booleans(),
        st.integers(),
        st.integers(min_value=-(2**70), max_value=2**70),
        st.floats(),
        text,
        st.sampled_from(VERBS),
    )


def json_values(*, surrogates: bool = False, max_leaves: int = 12) -> st.SearchStrategy[Any]:
    """JSON-like values: null, booleans, (huge) numbers, NaN and infinities, odd text, lists and mappings."""
    text = odd_text_with_surrogates if surrogates else odd_text
    return st.recursive(
        _scalars(text),
        lambda children: st.one_of(st.lists(children, max_size=4), st.dictionaries(json_keys, children, max_size=4)),
        max_leaves=max_leaves,
    )


def yaml_values(max_leaves: int = 12) -> st.SearchStrategy[Any]:
    """What `yaml.safe_dump` can write: JSON-like values with non-text keys too."""
    return st.recursive(
        _scalars(odd_text),
        lambda children: st.one_of(st.lists(children, max_size=4), st.dictionaries(yaml_keys, children, max_size=4)),
        max_leaves=max_leaves,
    )


unknown_keys = odd_text.filter(lambda k: k not in KNOWN_KEYS and k.strip() != "")


def _mutations(verb: str) -> list[str]:
    swapped = verb.translate(str.maketrans({"c": "с", "o": "ο", "a": "а", "e": "е"}))
    return [
        verb.upper(),
        verb.title(),
        verb.capitalize(),
        f" {verb}",
        f"{verb} ",
        f"{verb}\n",
        f"{verb}\x00",
        verb.replace(".", "_"),
        verb.replace(".", ""),
        verb.replace(".", ".."),
        verb.replace(".", " "),
        verb.replace(".", ":"),
        verb.replace(".", "/"),
        verb[:-1],
        verb[1:],
        f"{verb}s",
        f"{verb}.",
        f".{verb}",
        f"{verb}ed",
        "\u200b" + verb,
        verb + "\u200d",
        swapped,
        verb.translate(
            str.maketrans("abcdefghijklmnopqrstuvwxyz.", "ａｂｃｄｅｆｇｈｉｊｋｌｍｎｏｐｑｒｓｔｕｖｗｘｙｚ．")
        ),
        "crm." + verb.split(".")[-1] if verb.startswith("outlook.") else "outlook." + verb.split(".")[-1],
    ]


NEAR_MISS_VERBS = tuple(sorted({m for verb in VERBS for m in _mutations(verb)} - set(VERBS)))
near_miss_verbs = st.sampled_from(NEAR_MISS_VERBS)


# ------------------------------------------------------------------------------------------ scenarios

START = "2026-03-02T09:00:00Z"

# A valid scenario (exit 0) whose every part a test may break; users alice and bob, record c1.
BASE_SCENARIO: dict[str, Any] = {
    "title": "base",
    "start": START,
    "users": {"alice": {"sync_filter": "owned_and_shared"}, "bob": {}},
    "steps": [
        {"do": "crm.create", "actor": "bob", "record": "c1", "type": "contact", "fields": {"fullname": "Jane Doe"}},
        {"do": "crm.share", "actor": "bob", "record": "c1", "with": "alice"},
        {"do": "outlook.create", "user": "alice", "item": "m1", "type": "email", "fields": {"subject": "Hi"}},
        {"do": "sync", "user": "alice"},
        {"at": "2026-03-02T11:00:00Z", "do": "crm.delete", "actor": "bob", "record": "c1"},
        {"expect": {"pending": {"alice": 1}, "outlook": {"alice": {"c1": {"linked": "c1"}}}}},
        {"do": "sync", "user": "alice"},
    ],
    "expect": {
        "crm": {"c1": "absent"},
        "outlook": {"alice": {"c1": "absent", "m1": {"linked": False, "type": "email"}}},
        "links": [{"user": "alice", "item": "c1", "state": "unlinked"}],
        "why": {"outlook:alice/c1": "CONTACT-DEL-CRM-NONOWNER"},
    },
}
ACTION_STEPS = [n for n, step in enumerate(BASE_SCENARIO["steps"]) if "do" in step]
NAME_KEYS = ("actor", "record", "user", "item", "with")  # required names (StrictStr) in the base steps


def base() -> dict[str, Any]:
    return copy.deepcopy(BASE_SCENARIO)


def paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every place in a nested document (mapping keys and list indexes), the root excluded."""
    found: list[tuple[Any, ...]] = []
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, child in items:
        found.append((*prefix, key))
        found += paths(child, (*prefix, key))
    return found


def replace(doc: dict[str, Any], path: tuple[Any, ...], value: Any) -> dict[str, Any]:
    doc = copy.deepcopy(doc)
    target: Any = doc
    for part in path[:-1]:
        target = target[part]
    target[path[-1]] = value
    return doc


def _not_text(value: Any) -> bool:
    return not isinstance(value, str)


@st.composite
def broken_scenarios(draw: st.DrawFn) -> tuple[str, dict[str, Any]]:
    """The base scenario with one change that the loader or the rules must refuse: (what changed, document)."""
    doc = base()
    steps = doc["steps"]
    kind = draw(
        st.sampled_from(
            (
                "unknown key at the top",
                "unknown key in a user's options",
                "unknown key in a step",
                "unknown key beside expect",
                "unknown key in a step's expect",
                "unknown key in the final expect",
                "unknown key in a record check",
                "unknown key in an item check",
                "unknown key in a link check",
                "near-miss do",
                "wrong type for a name",
                "wrong type for do",
                "wrong type for fields",
                "wrong type for users",
                "wrong type for a user's options",
                "wrong type for a step",
                "wrong type for expect",
                "time without a zone",
                "time going backwards",
                "time that is not a time",
                "step that is null",
            )
        )
    )
    key = draw(unknown_keys)
    junk = draw(json_values())
    step_index = draw(st.sampled_from(ACTION_STEPS))
    step = steps[step_index]
    if kind == "unknown key at the top":
        doc[key] = junk
    elif kind == "unknown key in a user's options":
        doc["users"][draw(st.sampled_from(("alice", "bob")))][key] = junk
    elif kind == "unknown key in a step":
        step[key] = junk
    elif kind == "unknown key beside expect":
        steps[5][key] = junk
    elif kind == "unknown key in a step's expect":
        steps[5]["expect"][key] = junk
    elif kind == "unknown key in the final expect":
        doc["expect"][key] = junk
    elif kind == "unknown key in a record check":
        doc["expect"]["crm"]["c1"] = {"type": "contact", key: junk}
    elif kind == "unknown key in an item check":
        doc["expect"]["outlook"]["alice"]["m1"][key] = junk
    elif kind == "unknown key in a link check":
        doc["expect"]["links"][0][key] = junk
    elif kind == "near-miss do":
        step["do"] = draw(near_miss_verbs)
    elif kind == "wrong type for a name":
        name = draw(st.sampled_from([k for k in NAME_KEYS if k in step]))
        step[name] = draw(json_values().filter(_not_text))
    elif kind == "wrong type for do":
        step["do"] = draw(json_values().filter(_not_text))
    elif kind == "wrong type for fields":
        step = steps[draw(st.sampled_from((0, 2)))]
        step["fields"] = draw(
            st.one_of(
                json_values().filter(lambda v: not isinstance(v, dict) and v is not None),
                st.dictionaries(odd_text.filter(bool), st.lists(json_values(), min_size=1), min_size=1),
            )
        )
    elif kind == "wrong type for users":
        doc["users"] = draw(st.one_of(st.lists(json_values(), min_size=1), odd_text.filter(bool), st.just(True)))
    elif kind == "wrong type for a user's options":
        doc["users"]["alice"] = draw(json_values().filter(lambda v: not isinstance(v, dict) and v is not None))
    elif kind == "wrong type for a step":
        steps[step_index] = draw(json_values().filter(lambda v: not isinstance(v, dict)))
    elif kind == "wrong type for expect":
        doc["expect"] = draw(json_values().filter(lambda v: not isinstance(v, dict) and v is not None))
    elif kind == "time without a zone":
        where = draw(st.sampled_from(("start", "at")))
        zoneless = draw(
            st.sampled_from(("2026-03-02T10:00:00", "2026-03-02 10:00:00", "2026-03-02", "2026-03-02T10:00"))
        )
        if where == "start":
            doc["start"] = zoneless
        else:
            step["at"] = zoneless
    elif kind == "time going backwards":
        step["at"] = draw(
            st.sampled_from(("2026-03-02T08:59:59Z", "2026-03-02T10:00:00+05:00", "1970-01-01T00:00:00Z"))
        )
    elif kind == "time that is not a time":
        bad = draw(st.one_of(odd_text, st.lists(odd_text, min_size=1), st.dictionaries(odd_text, odd_text, min_size=1)))
        if draw(st.booleans()):
            doc["start"] = bad
        else:
            step["at"] = bad if bad != "" else "never"
    elif kind == "step that is null":
        steps[step_index] = None
    return kind, doc


def billion_laughs(levels: int, where: str) -> str:
    """A YAML alias bomb: `levels` anchors, each a list of nine aliases of the one before (9**levels strings)."""
    anchors = ["&a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    anchors += [f"&a{n} [{', '.join([f'*a{n - 1}'] * 9)}]" for n in range(1, levels)]
    bomb = f"[{', '.join(anchors)}]"
    users = "users: {alice: {}}\n"
    create = "do: outlook.create, user: alice, item: m1, type: email"
    return {
        "title": f"title: {bomb}\n",
        "start": f"start: {bomb}\n",
        "unknown top key": f"lol: {bomb}\n",
        "user options": f"users: {{alice: {bomb}}}\n",
        "do": f"{users}steps:\n  - {{do: {bomb}, user: alice}}\n",
        "at": f"{users}steps:\n  - {{do: sync, user: alice, at: {bomb}}}\n",
        "user": f"{users}steps:\n  - {{do: sync, user: {bomb}}}\n",
        "unknown step key": f"{users}steps:\n  - {{do: sync, user: alice, lol: {bomb}}}\n",
        "field value": f"{users}steps:\n  - {{{create}, fields: {{a: {bomb}}}}}\n",
        "fields": f"{users}steps:\n  - {{{create}, fields: {bomb}}}\n",
        "expect check": f"expect: {{crm: {{c1: {bomb}}}}}\n",
        "expect why": f"expect: {{why: {{'crm:c1': {bomb}}}}}\n",
        "expect links": f"expect: {{links: {bomb}}}\n",
        "steps": f"steps: {bomb}\n",
    }[where]


BOMB_PLACES = (
    "title",
    "start",
    "unknown top key",
    "user options",
    "do",
    "at",
    "user",
    "unknown step key",
    "field value",
    "fields",
    "expect check",
    "expect why",
    "expect links",
    "steps",
)
