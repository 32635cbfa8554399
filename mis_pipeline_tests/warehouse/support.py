"""Records and syncs for warehouse tests: one school, pupils numbered 1, 2, 3…"""

from datetime import UTC, date, datetime

from mis_pipeline.warehouse.school_store import DatasetSync

STARTED = datetime(2026, 11, 30, 6, 0, tzinfo=UTC)


def record(n: int, **changes) -> dict:
    values = dict(
        pupil_key=f"key{n}",
        school_urn="100001",
        connector="wonde",
        connector_pupil_id=f"A{n:010d}",
        upi=f"upi{n}",
        mis_id=str(n),
        upn="N371300724001",
        former_upn=None,
        legal_forename="Siobhán",
        legal_surname="D'Souza",
        forename=None,
        surname=None,
        middle_names=None,
        date_of_birth=date(2014, 2, 28),
        sex="F",
        nc_year="6",
        admission_date=date(2019, 9, 1),
        leaving_date=None,
        source_updated_at=datetime(2026, 9, 1, 8, 0, tzinfo=UTC),
    )
    values.update(changes)
    return values


def sync_of(good, rejected=(), mode="full", cursor="2026-11-30T05:50:00+00:00") -> DatasetSync:
    return DatasetSync(
        "100001", "pupils", mode, cursor, STARTED, len(good) + len(rejected), list(good), list(rejected)
    )
