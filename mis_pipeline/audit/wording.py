"""Audit entries in plain English, for the DPO's report and the operator's terminal: counts, item
and partner names, dates as a reader in England writes them. Pure: the names come in `Names`."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from data_contracts import CHANGE_KINDS
from mis_pipeline.lib.codes import DATASETS, ITEMS, RETENTION_RULES
from mis_pipeline.lib.dates import as_utc, london_date, uk_day


@dataclass(frozen=True)
class Names:
    schools: dict[str, str]
    partners: dict[str, str]

    def school(self, urn: str | None) -> str | None:
        return self.schools.get(urn) if urn else None


# ─────────────────────────────────────────────────────────────────────────────
def count(n: int, one: str, many: str | None = None) -> str:
    return f"{n} {one if n == 1 else (many or one + 's')}"


def _listed(words: list[str]) -> str:
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]


def _day(text: str | None) -> str:
    return uk_day(date.fromisoformat(text)) if text else "not set"


def _item(name: str) -> str:
    return ITEMS.get(name) or DATASETS.get(name) or name.replace("_", " ").capitalize()


def describe(entry: dict, names: Names, school_urn: str | None = None) -> str:
    """One entry in plain English, from counts and names only."""
    d, action = entry["detail"], entry["action"]
    day = uk_day(london_date(as_utc(entry["occurred_at"])))
    describer = _DESCRIBERS.get(action)
    if describer is None:
        return f"{action.replace('_', ' ').capitalize()}."
    return describer(d, day, names, school_urn)


def _received(d: dict, day: str, names: Names, school_urn: str | None) -> str:
    counts = d.get("pupils", {})
    pupils = (
        _listed([f"{counts[kind]} {kind}" for kind in CHANGE_KINDS if counts.get(kind)])
        if any(counts.get(kind) for kind in CHANGE_KINDS)
        else "no change"
    )
    items = [
        f"{_item(name)}: {c['inserted']} added, {c['updated']} updated, {c['deleted']} removed"
        for name, c in d.get("items", {}).items()
    ]
    return f"Pupils: {pupils}." + (f" {'; '.join(items)}." if items else "")


def _shared(d: dict, day: str, names: Names, school_urn: str | None) -> str:
    partner = names.partners.get(d.get("partner"), d.get("partner"))
    items = [DATASETS.get(k, k) for k, n in d.get("counts", {}).items() if k != "pupils" and n]
    what = f" ({_listed(items)})" if items else ""
    if school_urn is not None:
        mine = (d.get("pupils_by_school") or {}).get(school_urn)
        pupils = (
            count(mine, "of this school's pupils", "of this school's pupils")
            if mine is not None
            else "this school's pupils (how many was not recorded before per-school counts)"
        )
        others = len(d.get("schools", [])) - 1
        along = f", with {count(others, 'other school')} of the same partner" if others > 0 else ""
        return f"Shared with {partner} ({d.get('partner')}): {pupils}{what}{along}."
    schools = d.get("schools", [])
    return (
        f"Shared with {partner} ({d.get('partner')}): {count(d.get('counts', {}).get('pupils', 0), 'pupil')} "
        f"of {count(len(schools), 'school')}{what}."
    )


def _purged(d: dict, day: str, names: Names, school_urn: str | None) -> str:
    kind = d.get("kind")
    if kind == "named":
        rules = (
            _listed(
                [f"{n} because {RETENTION_RULES.get(rule, rule)}" for rule, n in d.get("by_rule", {}).items()]
            )
            if d.get("by_rule")
            else "no rule recorded"
        )
        return (
            f"Names and identifiers of {count(d.get('pupils', 0), 'pupil')} removed ({rules}), due by "
            f"{_day(d.get('as_of'))}; the un-named figures are kept for up to 5 years."
        )
    if kind == "unnamed":
        return (
            f"Across all schools: {count(d.get('unnamed_records', 0), 'un-named record')} and "
            f"{count(d.get('change_sets', 0), 'change set')} deleted, 5 years after they were un-named."
        )
    if kind == "unlinked":
        return f"Rows no longer linked to any pupil held removed: {_rows_removed(d)}."
    if kind == "unattributed_quarantine":
        return (
            f"{count(d.get('quarantined_records_removed', 0), 'held-back record')} naming no pupil deleted, "
            "6 months after they were held back."
        )
    return (
        f"The subscription ended: {count(d.get('quarantined_records_removed', 0), 'record')} held back by "
        f"our checks deleted as of {_day(d.get('as_of'))}."
    )


def _rows_removed(d: dict) -> str:
    rows = [f"{DATASETS.get(name, name)}: {count(n, 'row')}" for name, n in d.get("rows_removed", {}).items()]
    return _listed(rows) if rows else "nothing was held"


def _items_removed(d: dict, day: str, names: Names, school_urn: str | None) -> str:
    return f"No longer authorised by the school, so removed: {_rows_removed(d)}."


_KIND_WORDS = {"la": "the local authority", "trust": "the academy trust", "diocese": "the diocese"}


def _setting(name: str, before, after, day: str) -> list[str]:
    if name == "withheld_items":
        return [f"{_item(i)}: withheld from {day}" for i in after if i not in before] + [
            f"{_item(i)}: collected again from {day}" for i in before if i not in after
        ]
    if name == "sharing_off":
        return [
            f"Sharing with {_KIND_WORDS.get(k, k)}: switched off from {day}" for k in after if k not in before
        ] + [
            f"Sharing with {_KIND_WORDS.get(k, k)}: switched on again from {day}"
            for k in before
            if k not in after
        ]
    if name == "paused":
        return [
            f"Data collection: paused from {day} (the school is not contacted)"
            if after
            else f"Data collection: resumed from {day}"
        ]
    if name == "sync_mode":
        return [f"Sync mode: {after} (was {before or 'not set'})"]
    if name == "agreement_accepted_on":
        if not after:
            return [
                "Data sharing agreement: acceptance cleared"
                + (f" (was accepted on {_day(before)})" if before else "")
            ]
        return [
            f"Data sharing agreement: accepted on {_day(after)}"
            + (f" (was {_day(before)})" if before else "")
        ]
    if name == "agreement_withdrawn_on":
        return [
            f"Data sharing agreement: withdrawn on {_day(after)} (collection stops; the retention clock starts)"
            if after
            else "Data sharing agreement: withdrawal cleared"
        ]
    if name == "agreement_version":
        return [f"Agreement version: {after or 'not given'}"]
    if name == "subscription_end":
        return [f"Subscription end: {_day(after) if after else 'cleared'} (was {_day(before)})"]
    if name == "final_year_group":
        return [f"Final year group: Year {after} (was {f'Year {before}' if before else 'not set'})"]
    was = f" (was {before})" if before not in (None, "", []) else ""
    return [
        f"{name.replace('_', ' ').capitalize()}: {after if after not in (None, '', []) else 'not set'}{was}"
    ]


def describe_settings(moved: dict, day: date | str) -> str:
    """What a settings change moved ({setting: {"before", "after"}}), in plain English."""
    day = uk_day(day) if isinstance(day, date) else day
    lines = [
        line for name, v in moved.items() for line in _setting(name, v.get("before"), v.get("after"), day)
    ]
    return "; ".join(lines) + "." if lines else "No setting moved."


def _settings(d: dict, day: str, names: Names, school_urn: str | None) -> str:
    return describe_settings(d, day)


def _sar(d: dict, day: str, names: Names, school_urn: str | None) -> str:
    outcome = (
        "a pupil was found and reported"
        if d.get("found")
        else "no named data held; un-named figures reported"
    )
    return f"Subject access report ({str(d.get('format', '')).upper()}): {outcome}. The report names no pupil here."


def _keys(d: dict, day: str, names: Names, school_urn: str | None) -> str:
    retired = d.get("retired_master_keys") or []
    tail = f"; master keys retired: {', '.join(retired)}" if retired else ""
    return (
        f"Encryption keys rotated: {count(d.get('data_keys_rewrapped', 0), 'pupil data key')} re-wrapped under "
        f"master key {d.get('master_key')}{tail}."
    )


_DESCRIBERS = {
    "change_set_applied": _received,
    "share_made": _shared,
    "purge": _purged,
    "items_removed": _items_removed,
    "settings_changed": _settings,
    "subject_access_report": _sar,
    "keys_rotated": _keys,
}
