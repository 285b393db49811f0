"""An item's history as one self-contained HTML page: the `why` answer on top, then a timeline with three lanes
(CRM, the link, Outlook), sync points as bands, decisions labelled by rule with their reason in the row, causes
as links to their rows, and the details on click. Pure: entries in, one string out; inline CSS and JS only, and
a content security policy that forbids any fetch."""

from __future__ import annotations

import re
from html import escape as html_escape

from syncledger.ledger.rules import CRM_CHANGE_RULES, FILTER_RULES, IMMEDIATE_RULES, OUTLOOK_REMOVAL_RULES
from syncledger.ledger.rules import server_side as sss
from syncledger.projections.document import iso

from ..output import printable
from .history import Entry, History, PropertyChange, SyncPoint, change_line, show_value
from .sentences import counted, rule_note
from .story import Story, StoryStep, step_notes


def escape(text: str) -> str:
    """Text from the ledger as the page shows it: `printable` first, as every text output (control characters,
    DEL, C1 and the bidirectional marks written as escapes such as `\\u202e`, so that a hostile subject cannot
    reorder or hide what the reader sees), then HTML-escaped."""
    return html_escape(printable(text))


# Rules are coloured by the table they come from, so a long timeline reads by kind of decision at a glance.
RULE_FAMILIES = (
    ("immediate", "at once", IMMEDIATE_RULES),
    ("pull", "CRM change reaching Outlook", CRM_CHANGE_RULES),
    ("push", "Outlook removal reaching CRM", OUTLOOK_REMOVAL_RULES),
    ("filter", "sync filter", FILTER_RULES),
    # server-side sync's own rows, in the same families (a mailbox edit reaching CRM is a push)
    ("pull", "CRM change reaching Outlook", sss.CRM_CHANGE_RULES),
    ("push", "Outlook removal reaching CRM", (*sss.MAILBOX_EDIT_RULES, *sss.OUTLOOK_REMOVAL_RULES)),
)
FAMILY_OF = {rule.id: family for family, _, rules in RULE_FAMILIES for rule in rules}
LANES = (("crm", "CRM"), ("link", "Link (decisions)"), ("outlook", "Outlook"))

CSP = "default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:"

STYLE = """
:root { --crm: #2563eb; --outlook: #c2410c; --link: #7c3aed; --immediate: #7c3aed; --pull: #0f766e;
        --push: #be123c; --filter: #15803d; --line: #e5e7eb; --muted: #6b7280; }
* { box-sizing: border-box; }
body { margin: 0; font: 13px/1.4 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #111827; }
header { padding: 14px 20px 10px; border-bottom: 1px solid var(--line); }
h1 { margin: 0 0 4px; font-size: 18px; }
header p { margin: 2px 0; color: var(--muted); }
.controls { display: flex; flex-wrap: wrap; gap: 6px 14px; align-items: center; margin-top: 8px; }
.controls input[type=search] { padding: 3px 6px; width: 220px; }
.legend { display: flex; flex-wrap: wrap; gap: 4px; }
.legend button { border: 0; cursor: pointer; }
.legend button.off { opacity: 0.35; }
.rule { display: inline-block; padding: 1px 7px; border-radius: 9px; color: #fff; font-weight: 600;
        font-size: 11px; white-space: nowrap; }
.rule.immediate { background: var(--immediate); } .rule.pull { background: var(--pull); }
.rule.push { background: var(--push); } .rule.filter { background: var(--filter); }
.rule.unknown { background: #374151; }
.why { margin: 8px 0 2px; padding: 8px 12px; background: #f5f3ff; border-left: 4px solid var(--link);
       max-width: 1100px; }
.why h2 { margin: 0 0 4px; font-size: 13px; }
header .why p { color: #111827; }
.why ol { margin: 0; padding-left: 0; list-style: none; }
.why li { margin: 2px 0; }
.why .note { margin: 0 0 2px 4ch; color: #374151; font-size: 12px; }
.why .role { color: var(--muted); }
.why li.dropped { color: #9f1239; }
.why a.cause { color: var(--link); }
a.pos { color: var(--link); font-variant-numeric: tabular-nums; white-space: nowrap; }
/* the first column fits the longest "@position date time" of this page (--when, in ch): never cut */
.grid { display: grid; grid-template-columns: var(--when, 23ch) repeat(3, minmax(0, 1fr)); column-gap: 0; }
.lanes { position: sticky; top: 0; z-index: 2; background: #f9fafb; border-bottom: 2px solid var(--line);
         font-weight: 600; }
.lanes > div { padding: 6px 10px; }
.lane-head.crm { color: var(--crm); } .lane-head.link { color: var(--link); }
.lane-head.outlook { color: var(--outlook); }
.row { border-bottom: 1px solid #f3f4f6; cursor: pointer; min-height: 26px; scroll-margin-top: 48px; }
.row:target, .row.target { background: #fef9c3; }
.row:hover, .row:focus { background: #f5f3ff; outline: none; }
.row > div { padding: 3px 10px; overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
.row .lane { border-left: 1px dashed var(--line); }
.group.in-sync { box-shadow: inset 5px 0 0 var(--pull); margin: 6px 0; }  /* a shadow: no column shift */
.group.kind-online, .group.kind-online-sync { box-shadow: inset 5px 0 0 var(--link); }
.group > * { box-shadow: inherit; }  /* the band and the rows have backgrounds that would hide the bar */
.when { color: var(--muted); font-variant-numeric: tabular-nums; text-overflow: clip !important; }
.row > .reason { grid-column: 2 / -1; white-space: normal; overflow: visible; padding: 0 10px 4px;
                 color: #374151; }
.reason a.pos { margin-left: 4px; }
.mark { display: inline-block; width: 9px; height: 9px; border-radius: 50%; margin-right: 6px;
        vertical-align: baseline; }
.crm .mark { background: var(--crm); } .outlook .mark { background: var(--outlook); }
.link .mark { background: var(--link); }
.effect { color: var(--muted); }
.sync { padding: 5px 10px; background: #ecfdf5; color: #065f46; font-weight: 600; }
.kind-online > .sync, .kind-online-sync > .sync { background: #eef2ff; color: #3730a3; }
.more { padding: 6px 10px 10px calc(var(--when, 23ch) + 10px); white-space: normal; background: #fafafa;
        cursor: auto; }
.more dl { margin: 0; display: grid; grid-template-columns: max-content 1fr; gap: 2px 12px; }
.more dt { color: var(--muted); } .more dd { margin: 0; }
.more ul { margin: 0; padding-left: 18px; }
.hidden { display: none !important; }
"""

SCRIPT = """
(() => {
  const rows = Array.from(document.querySelectorAll('.row'));
  const groups = Array.from(document.querySelectorAll('.group'));
  const search = document.getElementById('search');
  const decisionsOnly = document.getElementById('decisions-only');
  const hiddenRules = new Set();
  function toggle(row) {
    const more = document.getElementById('more-' + row.dataset.pos);
    more.classList.toggle('hidden');
    row.setAttribute('aria-expanded', String(!more.classList.contains('hidden')));
  }
  document.querySelector('.timeline').addEventListener('click', (event) => {
    if (event.target.closest('a')) return;  // a cause: follow the link, leave the details as they are
    const row = event.target.closest('.row');
    if (row) toggle(row);
  });
  function reveal() {  // a link to a row the filters hide shows it again
    const target = location.hash && document.getElementById(location.hash.slice(1));
    if (!target || !target.classList.contains('hidden')) return;
    search.value = ''; decisionsOnly.checked = false; hiddenRules.clear();
    for (const button of document.querySelectorAll('.legend button')) button.classList.remove('off');
    apply();
    target.scrollIntoView();
  }
  window.addEventListener('hashchange', reveal);
  document.querySelector('.timeline').addEventListener('keydown', (event) => {
    const row = event.target.closest('.row');
    if (row && (event.key === 'Enter' || event.key === ' ')) { event.preventDefault(); toggle(row); }
  });
  function apply() {
    const text = search.value.trim().toLowerCase();
    const visibleGroups = new Set();
    for (const row of rows) {
      const rule = row.dataset.rule || '';
      const hide = (decisionsOnly.checked && !rule) || (rule && hiddenRules.has(rule))
        || (text && !row.dataset.text.includes(text));
      row.classList.toggle('hidden', hide);
      const more = document.getElementById('more-' + row.dataset.pos);
      if (hide) more.classList.add('hidden');
      if (!hide) visibleGroups.add(row.dataset.group);
    }
    for (const group of groups) group.classList.toggle('hidden', !visibleGroups.has(group.dataset.group));
    document.getElementById('shown').textContent = rows.filter((r) => !r.classList.contains('hidden')).length;
  }
  for (const button of document.querySelectorAll('.legend button')) {
    button.addEventListener('click', () => {
      const rule = button.dataset.rule;
      if (hiddenRules.has(rule)) hiddenRules.delete(rule); else hiddenRules.add(rule);
      button.classList.toggle('off', hiddenRules.has(rule));
      apply();
    });
  }
  search.addEventListener('input', apply);
  decisionsOnly.addEventListener('change', apply);
})();
"""


def render_timeline(history: History, now: str = "", answer: Story | None = None) -> str:
    """The whole page for one item's history; `answer` is `why`'s whole story, shown on top."""
    outlook_users = sorted({ref.split(":", 1)[1].split("/")[0] for ref in _refs(history, "outlook:")})
    outlook_title = (
        f"{outlook_users[0]}'s Outlook" if len(outlook_users) == 1 else f"Outlook ({', '.join(outlook_users)})"
    )
    lanes = "".join(
        f'<div class="lane-head {key}">{escape(outlook_title if key == "outlook" else title)}</div>'
        for key, title in LANES
    )
    shown = {e.position for e in history.entries}  # the rows a position can link to
    body = "".join(
        _group(history, number, point, entries, shown) for number, (point, entries) in enumerate(history.groups())
    )
    counts: dict[str, int] = {}
    for rule in history.rules():
        counts[rule] = counts.get(rule, 0) + 1
    legend = "".join(
        f'<button type="button" class="rule {FAMILY_OF.get(rule, "unknown")}" data-rule="{escape(rule)}" '
        f'title="Show or hide {escape(rule)}">{escape(rule)} × {count}</button>'
        for rule, count in sorted(counts.items())
    )
    kinds = dict.fromkeys((key, label) for key, label, _ in RULE_FAMILIES)  # each family once
    families = " · ".join(f'<span class="rule {key}">{escape(label)}</span>' for key, label in kinds)
    span = (
        f"positions {history.entries[0].position}-{history.entries[-1].position}, "
        f"{iso(history.entries[0].at)} to {iso(history.entries[-1].at)}"
        if history.entries
        else "no event in this range"
    )
    syncs = len({e.sync for e in history.entries if e.sync is not None})
    widest = max((len(_when(e)) for e in history.entries), default=22)
    why = _why(answer.now if answer else now, answer, shown)
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="{CSP}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="icon" href="data:,">
<title>History of {escape(history.ref)}{escape(f" ({history.label})" if history.label else "")} - syncledger</title>
<style>{STYLE}</style>
</head>
<body style="--when: {widest + 3}ch">
<header>
<h1>History of {escape(history.ref)}{escape(f" ({history.label})" if history.label else "")}</h1>
{why}
<p>{counted(len(history.entries), "event")}, {counted(syncs, "sync point")}; {escape(span)}. Each decision says why
in its row; click a row for the details, a position to go to its row.</p>
<div class="controls">
<input type="search" id="search" placeholder="Filter: text, rule, user, field" aria-label="Filter">
<label><input type="checkbox" id="decisions-only"> decisions only</label>
<span><span id="shown">{len(history.entries)}</span> shown</span>
<span>Rules: {families}</span>
</div>
<div class="controls legend" aria-label="Rules in this history (click to hide or show)">{legend}</div>
</header>
<main>
<div class="grid lanes"><div>position, time</div>{lanes}</div>
<div class="timeline">{body}</div>
</main>
<script>{SCRIPT}</script>
</body>
</html>
"""


def _why(now: str, answer: Story | None, shown: set[int]) -> str:
    """The answer of `syncledger why`: the item's state, then its whole story, each decision with what caused it
    (every merged cause, as links to their rows) and the facts its rule read."""
    steps = "".join(_why_step(step, shown) for step in (answer.steps if answer else []))
    since = f", since {answer.since_what} (@{answer.since})" if answer and answer.since is not None else ""
    chain_html = f"<h2>The whole story{escape(since)} (times in UTC)</h2><ol>{steps}</ol>" if steps else ""
    waiting = "".join(f"<li>@{w.cause} {escape(w.sentence)}.</li>" for w in (answer.waiting if answer else []))
    waiting_html = f"<h2>Still waiting</h2><ol>{waiting}</ol>" if waiting else ""
    return (
        f'<section class="why" aria-label="Why"><p><strong>{escape(now)}</strong></p>{chain_html}{waiting_html}'
        "</section>"
    )


def _why_step(step: StoryStep, shown: set[int]) -> str:
    role = {"cause": "cause: ", "reached": "reached: "}.get(step.role, "")
    notes = "".join(f'<div class="note">{_linked(note, shown)}</div>' for note in step_notes(step))
    dropped = ' class="dropped"' if step.dropped else ""
    return (
        f'<li{dropped}>{_position(step.position, shown)} <span class="role">{role}</span>'
        f"{escape(step.sentence)}.{notes}</li>"
    )


def _linked(text: str, shown: set[int]) -> str:
    """The text, escaped, with each `@N` a link to that event's row when the page has it."""
    parts = re.split(r"@(\d+)", text)
    html = [escape(part) if n % 2 == 0 else _cause_link(int(part), shown) for n, part in enumerate(parts)]
    return "".join(html)


def _cause_link(position: int, shown: set[int]) -> str:
    if position in shown:
        return f'<a class="cause" href="#e-{position}">@{position}</a>'
    return f"@{position}"


def _position(position: int | None, shown: set[int]) -> str:
    """`@13` as a link to that event's row when the page has it (else as text: not an event of this history)."""
    if position is None:
        return ""
    if position in shown:
        return f'<a class="pos" href="#e-{position}">@{position}</a>'
    return f'<span class="pos">@{position}</span>'


def _when(e: Entry) -> str:
    return f"@{e.position} {e.at:%Y-%m-%d %H:%M:%S}"


def _refs(history: History, prefix: str) -> set[str]:
    refs = {c.ref for e in history.entries for c in e.changes if c.ref.startswith(prefix)}
    return refs | ({history.ref} if history.ref.startswith(prefix) else set())


def _group(history: History, number: int, point: SyncPoint | None, entries: list[Entry], shown: set[int]) -> str:
    """A section per sync point (a band, then its decisions), and one per run of events between syncs."""
    rows = "".join(_row(history.ref, entry, number, shown) for entry in entries)
    if point is None:
        return f'<section class="group" data-group="{number}">{rows}</section>'
    band = (
        f'<div class="sync" data-pos="{point.position}">⟳ {escape(point.title)} · @{point.position} · '
        f"{escape(iso(point.at) or '')}</div>"
    )
    return f'<section class="group in-sync kind-{point.kind}" data-group="{number}">{band}{rows}</section>'


def _row(ref: str, e: Entry, group: int, shown: set[int]) -> str:
    lanes = {key: "" for key, _ in LANES}
    main_lane = e.side if e.side in lanes else "link"
    if e.rule is not None:
        lanes["link"] = f'<span class="rule {FAMILY_OF.get(e.rule, "unknown")}">{escape(e.rule)}</span>'
    else:
        lanes[main_lane] = f'<span class="mark"></span>{escape(e.summary)}'
    for side, text in _effects(ref, e.changes).items():
        if side == main_lane and e.rule is None:
            continue  # an action's own lane already says what it did
        effect = f'<span class="effect"><span class="mark"></span>{escape(text)}</span>'
        lanes[side] = f"{lanes[side]} {effect}" if lanes[side] else effect
    tooltip = "\n".join(escape(line) for line in [e.summary, *(change_line(c) for c in e.changes)])  # one a line
    searchable = " ".join([e.summary, e.actor, e.rule or "", *(change_line(c) for c in e.changes)]).lower()
    cells = "".join(f'<div class="lane {key}">{lanes[key]}</div>' for key, _ in LANES)
    reason = _reason(e, shown)
    return (
        f'<div class="grid row" id="e-{e.position}" tabindex="0" role="button" aria-expanded="false" '
        f'data-pos="{e.position}" data-group="{group}" data-rule="{escape(e.rule or "")}" '
        f'data-text="{escape(searchable)}" title="{tooltip}"><div class="when">{escape(_when(e))}</div>'
        f"{cells}{reason}</div>"
        f'<div class="more hidden" id="more-{e.position}">{_details(e, shown)}</div>'
    )


def _reason(e: Entry, shown: set[int]) -> str:
    """A decision's sentence (what it did and why, without the rule's note: the label says the rule), and what
    caused it, as a link to that row."""
    if e.rule is None:
        return ""
    sentence = e.summary.removesuffix(f" ({rule_note(e.rule)})")
    extra = f" ({e.reason})" if e.reason and e.reason not in sentence else ""
    cause = f" · caused by {_position(e.cause, shown)}" if e.cause is not None else ""
    return f'<div class="reason">{escape(sentence + extra)}.{cause}</div>'


def _effects(ref: str, changes: tuple[PropertyChange, ...]) -> dict[str, str]:
    """A few words per side for its lane: created, deleted, linked, or `field: new value`; prefixed with the
    item's name when it is not the item whose history this is (a record's copies in several Outlooks)."""
    words: dict[str, list[str]] = {}
    created_or_deleted = {c.ref for c in changes if c.field == "exists"}
    for c in changes:
        if c.field == "exists":
            text = "created" if c.new else "deleted"
        elif c.field == "link":
            text = f"linked to {c.new}" if c.new else "unlinked"
        elif c.ref in created_or_deleted:
            continue  # "created" says it; the details list the values
        else:
            text = f"{c.field.removeprefix('fields.')}: {show_value(c.new)}"
        if c.ref != ref:
            text = f"{c.ref.partition(':')[2]} {text}"
        words.setdefault(c.side, []).append(text)
    return {side: ", ".join(dict.fromkeys(texts)) for side, texts in words.items()}


def _details(e: Entry, shown: set[int]) -> str:
    """Every fact of the event, each labelled for what it is (HTML, escaped here)."""
    pairs = [("position, time", escape(f"@{e.position}, {iso(e.at)}")), ("by", escape(e.actor))]
    pairs.append(("what happened" if e.rule is None else "decision", escape(e.summary)))
    if e.rule is not None:
        pairs += [("rule", escape(e.rule)), ("the rule says", escape(e.sentence or "unknown to this version"))]
        pairs += [("decided by the rules of", escape(e.method))] if e.method else []
        pairs += [("source", escape(e.source or "unknown")), ("caused by", _position(e.cause, shown))]
        pairs += [("recorded reason", escape(e.reason))] if e.reason else []
    if e.queued_for:
        pairs.append(("queued for the next sync of", escape(", ".join(e.queued_for))))
    items = "".join(f"<dt>{escape(k)}</dt><dd>{v}</dd>" for k, v in pairs)
    changes = "".join(f"<li>{escape(change_line(c))}</li>" for c in e.changes)
    return f"<dl>{items}<dt>what changed</dt><dd><ul>{changes or '<li>nothing</li>'}</ul></dd></dl>"
