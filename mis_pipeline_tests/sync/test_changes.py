from datetime import date

import pytest

from mis_pipeline.warehouse.changes import PupilChange, change_counts, pupil_changes


def pupil(key="k1", **changes) -> dict:
    values = dict(
        pupil_key=key,
        school_urn="100001",
        connector="wonde",
        connector_pupil_id="A1",
        upi="u1",
        mis_id="1",
        upn="N371300724001",
        former_upn=None,
        legal_forename="Zoë",
        legal_surname="O'Neill",
        date_of_birth=date(2015, 3, 1),
        nc_year="5",
        leaving_date=None,
        source_updated_at="2026-11-01T00:00:00+00:00",
    )
    values.update(changes)
    return values


@pytest.mark.parametrize(
    "held, held_deleted, incoming, deleted, restored, expected",
    [
        # a pupil never seen before
        ({}, set(), [pupil("k2")], set(), set(), [PupilChange("k2", "new")]),
        # the same values again, with only the connector's timestamp moved: no change
        ({"k1": pupil()}, set(), [pupil(source_updated_at="2026-11-30T00:00:00+00:00")], set(), set(), []),
        # a changed surname: the field's name, never its value
        (
            {"k1": pupil()},
            set(),
            [pupil(legal_surname="Ng")],
            set(),
            set(),
            [PupilChange("k1", "changed", ("legal_surname",))],
        ),
        # a temporary UPN made permanent: the same pupil, two fields changed
        (
            {"k1": pupil(upn="N37130072400A")},
            set(),
            [pupil(former_upn="N37130072400A")],
            set(),
            set(),
            [PupilChange("k1", "changed", ("former_upn", "upn"))],
        ),
        # re-enrolment under a new connector id, same MIS record: the same pupil
        (
            {"k1": pupil()},
            set(),
            [pupil(connector_pupil_id="A9")],
            set(),
            set(),
            [PupilChange("k1", "changed", ("connector_pupil_id",))],
        ),
        # a leaving date appears: a leaver
        (
            {"k1": pupil()},
            set(),
            [pupil(leaving_date=date(2026, 11, 20))],
            set(),
            set(),
            [PupilChange("k1", "left", ("leaving_date",))],
        ),
        # a leaving date that moves is a change, not a second leaving
        (
            {"k1": pupil(leaving_date=date(2026, 11, 20))},
            set(),
            [pupil(leaving_date=date(2026, 11, 21))],
            set(),
            set(),
            [PupilChange("k1", "changed", ("leaving_date",))],
        ),
        # deleted at the connector
        ({"k1": pupil()}, set(), [], {"k1"}, set(), [PupilChange("k1", "deleted")]),
        # a deletion reported again for a pupil already marked: nothing new
        ({"k1": pupil()}, {"k1"}, [], {"k1"}, set(), []),
        # a deleted pupil whose deletion is undone
        ({"k1": pupil()}, {"k1"}, [], set(), {"k1"}, [PupilChange("k1", "restored")]),
        # a deleted pupil who arrives again, with a changed field
        (
            {"k1": pupil()},
            {"k1"},
            [pupil(nc_year="6")],
            set(),
            set(),
            [PupilChange("k1", "restored", ("nc_year",))],
        ),
        # a deletion of a pupil never held: nothing to report
        ({}, set(), [], {"k9"}, set(), []),
    ],
)
def test_each_kind_of_change_is_reported_once_with_field_names_only(
    held, held_deleted, incoming, deleted, restored, expected
):
    assert pupil_changes(held, held_deleted, incoming, deleted, restored) == expected


def test_change_counts_list_every_kind_even_when_zero():
    changes = [PupilChange("a", "new"), PupilChange("b", "new"), PupilChange("c", "deleted")]
    assert change_counts(changes) == {"new": 2, "changed": 0, "left": 0, "deleted": 1, "restored": 0}
