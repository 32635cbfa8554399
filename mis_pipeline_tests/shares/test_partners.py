"""Partner resolution over random registries: no partner ever reaches a school that is not its own."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mis_pipeline.registry.partners import (
    Partner,
    PartnerKind,
    SchoolLinks,
    all_partners,
    schools_of,
)
from mis_pipeline.shares.store import shared_datasets

ITEMS = ("core", "attendance", "assessments", "groups", "additional_details")
codes = st.sampled_from(["371", "800", "937"])
schools = st.lists(
    st.builds(
        SchoolLinks,
        urn=st.integers(min_value=100000, max_value=999999).map(str),
        la_code=codes,
        trust_uid=st.none() | st.sampled_from(["2044", "10985"]),
        diocese_code=st.none() | st.sampled_from(["CE23", "RC05"]),
        sharing_off=st.frozensets(st.sampled_from(["la", "trust", "diocese"])),
        scope=st.lists(st.sampled_from(ITEMS), unique=True).map(tuple),
    ),
    max_size=30,
    unique_by=lambda s: s.urn,
)

OWN_CODE = {PartnerKind.LA: "la_code", PartnerKind.TRUST: "trust_uid", PartnerKind.DIOCESE: "diocese_code"}


@settings(max_examples=1000, deadline=None)
@given(schools)
def test_no_partner_receives_a_school_that_is_not_its_own_or_that_switched_it_off(registry):
    for partner in all_partners(registry):
        for school in schools_of(partner, registry):
            assert getattr(school, OWN_CODE[partner.kind]) == partner.code
            assert partner.kind.value not in school.sharing_off


@settings(max_examples=1000, deadline=None)
@given(schools)
def test_every_school_reaches_each_of_its_own_partners_unless_it_switched_that_kind_off(registry):
    for school in registry:
        for kind, attribute in OWN_CODE.items():
            code = getattr(school, attribute)
            expected = bool(code) and kind.value not in school.sharing_off
            assert (school in schools_of(Partner(kind, code), registry) if code else False) == expected


@settings(max_examples=500, deadline=None)
@given(schools, st.data())
def test_switching_a_kind_off_removes_the_school_from_that_partners_next_share(registry, data):
    if not registry:
        return
    school = data.draw(st.sampled_from(registry))
    kind = data.draw(st.sampled_from(list(PartnerKind)))
    code = getattr(school, OWN_CODE[kind])
    switched = [
        s
        if s is not school
        else SchoolLinks(s.urn, s.la_code, s.trust_uid, s.diocese_code, s.sharing_off | {kind.value}, s.scope)
        for s in registry
    ]
    if code:
        assert school.urn not in {s.urn for s in schools_of(Partner(kind, code), switched)}


@settings(max_examples=500, deadline=None)
@given(st.lists(st.sampled_from(ITEMS), unique=True).map(tuple))
def test_a_share_holds_the_core_record_and_only_the_items_in_the_schools_scope(scope):
    names = {
        "core": None,
        "attendance": "attendance_sessions",
        "assessments": "assessment_results",
        "groups": "pupil_groups",
        "additional_details": "pupil_details",
    }
    assert set(shared_datasets(scope)) == {"pupils"} | {names[i] for i in scope if names[i]}


@pytest.mark.parametrize("key", ["la-371", "trust-2044", "diocese-CE23"])
def test_a_partner_key_round_trips(key):
    assert Partner.parse(key).key == key


@pytest.mark.parametrize("key", ["police-1", "la-", "dfe-371", "trust-20 44", "ofsted-100"])
def test_no_other_kind_of_recipient_can_be_named(key):
    with pytest.raises(ValueError):
        Partner.parse(key)
