"""Random timelines of pupils arriving named or held back in quarantine, released, leaving, and
their school's subscription or connector access ending, with purges on random days: after every
purge, no pupil-linked row is held past its deadline, none goes before it, and no row is left that
links to a pupil we hold neither named nor in quarantine. SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mis_pipeline.config import master_keyring
from mis_pipeline.retention.store import purge_named
from mis_pipeline.retention.subjects import unlinked_counts
from mis_pipeline.warehouse.engine import get_engine
from mis_pipeline.warehouse.schema import pupils
from mis_pipeline.warehouse.vault import open_vault
from mis_pipeline_tests.retention.support import (
    add_named,
    add_quarantined,
    add_school,
    at_noon,
    release,
    rows_of,
    wipe,
)
from mis_pipeline_tests.retention.test_rules import months_later

pytestmark = pytest.mark.parametrize("warehouse_url", ["sqlite", "postgres"], indirect=True)
START = date(2027, 1, 1)
URN = "100001"

optional_day = st.none() | st.integers(min_value=0, max_value=600)
stories = st.fixed_dictionaries(
    {
        "arrives": st.integers(min_value=0, max_value=300),
        "quarantined": st.booleans(),
        "released_after": st.none() | st.integers(min_value=1, max_value=300),
        "leaves_after": st.none() | st.integers(min_value=0, max_value=300),
    }
)


@pytest.fixture
def warehouse(warehouse_url):
    engine = get_engine(warehouse_url)
    return engine, open_vault(engine, master_keyring())


def day(offset: int | None) -> date | None:
    return None if offset is None else START + timedelta(days=offset)


def deadline(story: dict, named: bool, school_end: list[date]) -> date | None:
    """The oracle: 6 calendar months after the earliest trigger that applies to the pupil today."""
    triggers = list(school_end)
    if named and story["leaves_on"] is not None and story["left"]:
        triggers.append(story["leaves_on"])
    if not named:
        triggers.append(story["arrives_on"])  # nothing names them: from the day we first held anything
    return months_later(min(triggers), 6) if triggers else None


def events_of(n: int, story: dict) -> list[tuple[date, int, str]]:
    arrives = day(story["arrives"])
    events = [(arrives, n, "arrive")]
    released = (
        arrives + timedelta(days=story["released_after"])
        if story["quarantined"] and story["released_after"]
        else None
    )
    if released:
        events.append((released, n, "release"))
    if story["leaves_after"] is not None:
        events.append(((released or arrives) + timedelta(days=story["leaves_after"]), n, "leave"))
    return events


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    st.lists(stories, min_size=1, max_size=6),
    optional_day,
    optional_day,
    st.lists(st.integers(min_value=0, max_value=900), min_size=1, max_size=3, unique=True),
)
def test_no_pupil_linked_row_outlives_its_deadline_through_quarantine_and_release(
    warehouse, stories_, subscription_end, access_ended, purge_days
):
    engine, vault = warehouse
    wipe(engine)
    school_end = [d for d in (day(subscription_end), day(access_ended)) if d]
    with engine.begin() as conn:
        add_school(conn, URN, subscription_end=day(subscription_end), access_ended_on=day(access_ended))
    state = {
        n: dict(story, arrives_on=day(story["arrives"]), leaves_on=None, left=False, named=None, gone=False)
        for n, story in enumerate(stories_)
    }
    timeline = sorted(
        [e for n, story in enumerate(stories_) for e in events_of(n, story)]
        + [(day(p), -1, "purge") for p in purge_days],
        key=lambda e: (e[0], e[2] == "purge", e[1]),
    )
    for when, n, what in timeline:
        if what == "purge":
            purge_named(engine, vault, when, actor="test")
            check_after_purge(engine, state, school_end, when)
            continue
        pupil = state[n]
        if pupil["gone"]:
            continue  # purged: the story of that pupil ends with us
        with engine.begin() as conn:
            apply(conn, vault, f"p{n}", pupil, what, when)


def apply(conn, vault, key: str, pupil: dict, what: str, when: date) -> None:
    if what == "arrive" and pupil["quarantined"]:
        add_quarantined(conn, key, URN, when, vault=vault)
        pupil["named"] = False
    elif what == "arrive":
        add_named(conn, key, URN, when, vault=vault)
        pupil["named"] = True
    elif what == "release":
        release(conn, key, URN, when)
        pupil["named"] = True
    elif what == "leave" and pupil["named"]:
        conn.execute(
            sa.update(pupils)
            .where(pupils.c.pupil_key == key)
            .values(leaving_date=when, left_informed_at=at_noon(when))
        )
        pupil.update(leaves_on=when, left=True)


def check_after_purge(engine, state: dict, school_end: list[date], today: date) -> None:
    with engine.connect() as conn:
        for n, pupil in state.items():
            if pupil["named"] is None or pupil["gone"]:
                continue  # not arrived yet, or purged before
            due = deadline(pupil, pupil["named"], school_end)
            held = rows_of(conn, f"p{n}")
            should_be_gone = due is not None and due <= today
            assert (not held) == should_be_gone, (n, pupil, due, today, held)
            pupil["gone"] = not held
        assert not any(unlinked_counts(conn).values())
