"""Pupil values the tests look for where they must never be, and bad records to provoke quarantine."""

import dataclasses
from contextlib import contextmanager


@contextmanager
def two_bad_records(simulator, school):
    """Corrupt two pupils of `school` at the source for the duration of the block."""
    originals = list(school.pupils)
    wrong_letter = "A" if originals[0].upn[0] != "A" else "B"
    school.pupils[0] = dataclasses.replace(originals[0], upn=wrong_letter + originals[0].upn[1:])
    school.pupils[1] = dataclasses.replace(originals[1], date_of_birth=None)
    simulator.invalidate_cache()
    try:
        yield originals
    finally:
        school.pupils[:] = originals
        simulator.invalidate_cache()


def pii_strings(population) -> set[str]:
    values = set()
    for school in population.approved_schools():
        for p in school.pupils:
            values |= {p.upn, p.date_of_birth.isoformat(), p.date_of_birth.strftime("%d/%m/%Y")}
            values |= {
                name
                for name in (p.legal_forename, p.legal_surname, p.forename, p.surname)
                if name and len(name) >= 4
            }
    return values
