"""The planner is plain Python: identities, policies and user snapshots in, plans out. No app, no XML."""
import pytest

from crm.identity_providers.policy import ENTRA_GROUPS_OVERAGE, FieldRule, GroupRule, ProviderPolicy
from crm.provisioning.identity import SamlIdentity
from crm.provisioning.plan import CREATE, DENY, UPDATE, UserState
from crm.provisioning.planner import plan_sign_in

KNOWN = {("type", "employee"), ("department", "sales"), ("department", "marketing")}


def exists(field, name):
    return (field, name.lower()) in KNOWN


def policy(**changes) -> ProviderPolicy:
    values = dict(
        provider_id=1, slug="okta", jit=True, user_type="employee", all_licenses=True, package_ids=(),
        allowed_domains=frozenset(), required_groups=frozenset(), groups_attribute="groups",
        immutable_id_attribute=None,
        field_rules=(FieldRule("email", "email", None, True), FieldRule("firstName", "given_name", None, True),
                     FieldRule("lastName", "surname", None, True), FieldRule("dept", "department", None, True),
                     FieldRule("employeeType", "type", "Employee", False)),
        group_rules=(GroupRule("groups", "crm-sales", 10, "Sales"), GroupRule("groups", "everyone", 11, "All")),
    )
    return ProviderPolicy(**(values | changes))


def identity(name_id="ann@example.com", **attributes) -> SamlIdentity:
    base = {"email": ("ann@example.com",), "firstName": ("Ann",), "lastName": ("Lee",), "dept": ("Sales",),
            "groups": ("CRM-Sales", "Everyone")}
    return SamlIdentity("okta", name_id, attributes={**base, **attributes})


def state(**changes) -> UserState:
    values = dict(user_id=7, username="ann@example.com", active=True, bound=True,
                  contact={"email": "ann@example.com", "given_name": "Ann", "surname": "Lee", "department": "Sales",
                           "type": "Employee", "full_name": "Ann Lee"},
                  roles={10: ("sso", "Sales"), 11: ("sso", "All")}, license_count=1)
    return UserState(**(values | changes))


def test_identity_is_frozen_and_keeps_every_value():
    ident = identity(groups=["a", "b"])
    assert ident.values("groups") == ("a", "b") and ident.first("groups") == "a"
    with pytest.raises(TypeError):
        ident.attributes["x"] = ("y",)
    assert ident.values("Groups") == ()  # names match exactly


def test_new_user_gets_mapped_fields_defaults_roles_and_licenses():
    plan = plan_sign_in(identity(), policy(), None, exists)
    assert plan.action == CREATE and plan.username == "ann@example.com"
    assert plan.contact == {"email": "ann@example.com", "given_name": "Ann", "surname": "Lee", "department": "Sales",
                            "type": "Employee"}
    assert plan.roles_add == {10: "Sales", 11: "All"} and plan.grant_licenses


def test_unknown_user_with_jit_off_is_denied():
    plan = plan_sign_in(identity(), policy(jit=False), None, exists)
    assert plan.action == DENY and plan.denial.code == "jit_off"
    assert plan.denial.reason.startswith("denied: JIT off")


def test_known_user_update_only_every_login_rows_and_only_changes():
    plan = plan_sign_in(identity(dept=("Marketing",), employeeType=("Partner",)), policy(), state(), exists)
    assert plan.action == UPDATE
    assert plan.field_changes == {"department": {"before": "Sales", "after": "Marketing"}}
    assert not plan.grant_licenses


def test_lookup_values_compare_ignoring_case():
    plan = plan_sign_in(identity(dept=("sales",)), policy(), state(), exists)
    assert plan.field_changes == {}


def test_default_fills_an_empty_field_but_never_overwrites_one():
    rules = (FieldRule("jobTitle", "job_title", "Employee of the month", True),)
    empty = plan_sign_in(identity(), policy(field_rules=rules), state(contact={"job_title": None}), exists)
    assert empty.field_changes == {"job_title": {"before": None, "after": "Employee of the month"}}
    filled = plan_sign_in(identity(), policy(field_rules=rules), state(contact={"job_title": "CFO"}), exists)
    assert filled.field_changes == {}


def test_roles_removed_only_when_sso_added_them():
    plan = plan_sign_in(identity(groups=()), policy(), state(roles={10: ("sso", "Sales"), 11: ("manual", "All")}),
                        exists)
    assert plan.roles_remove == {10: "Sales"} and plan.roles_add == {}


def test_group_values_match_ignoring_case():
    plan = plan_sign_in(identity(groups=("crm-SALES",)), policy(), None, exists)
    assert plan.roles_add == {10: "Sales"}


def test_entra_overage_keeps_roles_and_says_so():
    plan = plan_sign_in(identity(groups=(), **{ENTRA_GROUPS_OVERAGE: ("https://graph/x",)}), policy(), state(), exists)
    assert plan.roles_remove == {} and not plan.groups_known and "groups.link" in plan.notes[0]


def test_unknown_department_is_left_out_and_noted():
    plan = plan_sign_in(identity(dept=("Wizards",)), policy(), None, exists)
    assert "department" not in plan.contact and '"Wizards" is not a known department' in plan.notes[0]


@pytest.mark.parametrize("changes, code", [
    ({"allowed_domains": frozenset({"contoso.com"})}, "domain"),
    ({"required_groups": frozenset({"crm users"})}, "groups"),
])
def test_access_rules(changes, code):
    assert plan_sign_in(identity(), policy(**changes), None, exists).denial.code == code


def test_required_groups_with_overage_cannot_be_checked():
    plan = plan_sign_in(identity(groups=(), **{ENTRA_GROUPS_OVERAGE: ("x",)}),
                        policy(required_groups=frozenset({"crm-sales"})), None, exists)
    assert plan.denial.code == "groups" and "overage" in plan.denial.reason


def test_inactive_user_is_denied():
    assert plan_sign_in(identity(), policy(), state(active=False), exists).denial.code == "inactive"


def test_values_longer_than_the_field_are_refused():
    plan = plan_sign_in(identity(firstName=("x" * 101,)), policy(), None, exists)
    assert plan.denial.code == "limits"


def test_local_user_is_linked_by_a_provider_whose_allowed_domains_include_the_accounts():
    plan = plan_sign_in(identity(), policy(allowed_domains=frozenset({"example.com"})), state(bound=False), exists)
    assert plan.action == UPDATE and plan.link


@pytest.mark.parametrize("domains", [frozenset(), frozenset({"contoso.com"})])
def test_local_user_is_never_linked_by_a_provider_that_does_not_vouch_for_the_accounts_domain(domains):
    """A provider without allowed domains (or with others) cannot claim a password-less account by its name."""
    plan = plan_sign_in(identity(), policy(allowed_domains=domains), state(bound=False), exists)
    assert plan.action == DENY and not plan.link and plan.denial.code == "link_domain"
    assert "ann@example.com exists but is not linked to okta" in plan.denial.reason
    assert "may not claim it" in plan.denial.message


def test_a_bound_user_signs_in_from_a_provider_without_allowed_domains():
    assert plan_sign_in(identity(), policy(), state(), exists).action == UPDATE


def test_email_linking_vouches_for_the_sign_in_emails_domain_not_the_username():
    local = state(bound=False, username="ann.lee")  # a username without a domain: only the email can vouch
    by_email = policy(link_by="email", allowed_domains=frozenset({"example.com"}))
    plan = plan_sign_in(identity("00u-ann"), by_email, local, exists)
    assert plan.action == UPDATE and plan.link
    outside = plan_sign_in(identity("00u-ann", email=("ann@elsewhere.org",)),
                           policy(link_by="email", allowed_domains=frozenset({"example.com", "example.org"})),
                           local, exists)
    assert outside.action == DENY and outside.denial.code == "link_domain"
    assert "the sign-in email's domain elsewhere.org is not among its allowed domains" in outside.denial.reason
    by_username = plan_sign_in(identity("00u-ann"), policy(allowed_domains=frozenset({"example.com"})), local, exists)
    assert by_username.action == DENY and "the account's domain (none)" in by_username.denial.reason
