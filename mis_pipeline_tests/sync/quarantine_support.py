"""What the simulator serves of a school's items, for the quarantine tests' expected counts."""

from __future__ import annotations

from collections import Counter

from mis_pipeline.registry.scopes import WONDE_PERMISSION_SCOPES
from mis_pipeline.sync.sources import DATASET_OF_SCOPE
from mis_simulator.datasets import datasets_for


def served_items(population, school, mis_ids: set[str]) -> Counter:
    """Records of each item other than the core record the simulator serves for these on-roll
    pupils, for the items the school granted."""
    data = datasets_for(population, school)
    ids = {p.id for p in school.pupils if p.mis_id in mis_ids}
    served = Counter(
        {
            "pupil_details": len(ids),
            "attendance_sessions": sum(1 for m in data.attendance if m.mis_id in mis_ids),
            "assessment_results": sum(1 for r in data.results if r.mis_id in mis_ids),
            "pupil_groups": sum(1 for g in data.groups for member in g.member_ids if member in ids),
        }
    )
    granted = {
        DATASET_OF_SCOPE[WONDE_PERMISSION_SCOPES[identity].value]
        for identity, on in school.permissions.items()
        if on and identity in WONDE_PERMISSION_SCOPES
    }
    return +Counter({dataset: n for dataset, n in served.items() if dataset in granted})
