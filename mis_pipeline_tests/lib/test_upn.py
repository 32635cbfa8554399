import pytest

from mis_pipeline.lib.upn import check_letter, is_temporary_upn, is_valid_upn, make_temporary_upn, make_upn


@pytest.mark.parametrize(
    "upn",
    [
        "N371300724001",  # worked example, domain.md §1.2
        "B801200005001",  # python-stdnum doctest
        "X00180001701A",  # temporary UPN from the DfE guide
        "P207000016049",  # the corrected form of a widely copied wrong example
    ],
)
def test_published_upns_are_valid(upn):
    assert is_valid_upn(upn)


@pytest.mark.parametrize(
    "upn",
    [
        "A801200005001",  # wrong check letter
        "Q207000016049",  # the published example that is actually wrong
        "N37130072400",  # too short
        "I371300724001",  # I is never a check letter
        "N37130072400S",  # S is never a final letter
        "",
        None,
        371300724001,
    ],
)
def test_malformed_or_mis_checked_upns_are_invalid(upn):
    assert not is_valid_upn(upn)


def test_check_letter_of_the_worked_example_is_n():
    assert check_letter("371300724001") == "N"


def test_made_upns_validate_and_temporary_ones_are_recognised():
    permanent = make_upn("371", "3007", 2024, 1)
    temporary = make_temporary_upn("371", "3007", 2024, 40)
    assert permanent == "N371300724001"
    assert is_valid_upn(temporary) and is_temporary_upn(temporary)
    assert not is_temporary_upn(permanent)
