import pytest

from mis_pipeline.registry.scopes import (
    effective_scope,
    granted_scopes,
    unrecognised_permissions,
    withheld_after,
)

ALL = ("core", "attendance", "assessments", "groups", "additional_details")


@pytest.mark.parametrize(
    "granted, withheld, expected",
    [
        (ALL, (), ALL),
        (ALL, ("attendance",), ("core", "assessments", "groups", "additional_details")),
        (
            ("core", "groups"),
            ("attendance",),
            ("core", "groups"),
        ),  # withholding an ungranted item changes nothing
        (("core",), ("attendance", "groups"), ("core",)),
    ],
)
def test_the_effective_scope_is_what_was_granted_less_what_is_withheld(granted, withheld, expected):
    assert effective_scope(granted, withheld) == expected


@pytest.mark.parametrize(
    "current, withhold, allow, expected",
    [
        ((), ["attendance"], [], ("attendance",)),
        (("attendance",), ["groups"], [], ("attendance", "groups")),
        (("attendance", "groups"), [], ["attendance"], ("groups",)),
        (
            ("groups",),
            ["additional_details", "attendance"],
            [],
            ("attendance", "groups", "additional_details"),
        ),
        (("groups",), [], ["assessments"], ("groups",)),  # allowing what was never withheld is harmless
    ],
)
def test_withholding_and_allowing_items_gives_the_new_withheld_list_in_the_agreements_order(
    current, withhold, allow, expected
):
    assert withheld_after(current, withhold, allow) == expected


@pytest.mark.parametrize(
    "withhold, allow, message",
    [
        (["core"], [], "the core record cannot be withheld: pause the school to stop all collection"),
        (
            ["attendence"],
            [],
            "unknown data item 'attendence': one of attendance, assessments, groups, additional_details",
        ),
        (["groups"], ["groups"], "groups both withheld and allowed"),
    ],
)
def test_an_impossible_settings_change_is_refused_with_its_reason(withhold, allow, message):
    with pytest.raises(ValueError) as raised:
        withheld_after((), withhold, allow)
    assert str(raised.value) == message


def permission(identity, name, approved=True, declined=False) -> dict:
    return {"identity": identity, "name": name, "approved": approved, "declined": declined}


@pytest.mark.parametrize(
    "permissions, granted, not_understood",
    [
        ([permission("students.read", "Students")], ["core"], []),
        # an identity we do not know, matched by its name
        (
            [
                permission("students.sims.read", "Students"),
                permission("attendance.session.read", "Attendance"),
            ],
            ["core", "attendance"],
            [],
        ),
        # neither identity nor name known: granted but not understood
        (
            [permission("students.read", "Students"), permission("behaviours.read", "Behaviours")],
            ["core"],
            ["behaviours.read"],
        ),
        ([permission(None, "Medical Notes")], [], ["Medical Notes"]),
        # not approved, or declined: neither granted nor reported
        (
            [
                permission("behaviours.read", "Behaviours", approved=False),
                permission("photos.read", "Photos", declined=True),
            ],
            [],
            [],
        ),
    ],
)
def test_wonde_permissions_map_by_identity_then_name_and_the_rest_are_reported(
    permissions, granted, not_understood
):
    assert (granted_scopes(permissions), unrecognised_permissions(permissions)) == (granted, not_understood)
