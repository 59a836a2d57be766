"""Value transforms of the mapping rows, and the planner applying them: plain Python, no app, no XML."""
import time

import pytest

from crm.identity_providers.policy import FieldRule, ProviderPolicy
from crm.identity_providers.transforms import MAX_PATTERN, TransformFailed, TransformInvalid, parse
from crm.provisioning.identity import SamlIdentity
from crm.provisioning.plan import UserState
from crm.provisioning.planner import desired_contact, mapped_value, plan_sign_in

KNOWN = {("department", "sales"), ("department", "marketing")}


def exists(field, name):
    return (field, name.lower()) in KNOWN


@pytest.mark.parametrize("spec, values, expected", [
    ("lowercase", ["Ann.Lee@Example.COM"], "ann.lee@example.com"),
    ("uppercase", ["emea"], "EMEA"),
    ("trim", ["  Sales \t  EMEA  "], "Sales EMEA"),
    ("strip-domain", ["ann.lee@example.com"], "ann.lee"),
    ("strip-domain", ["ann.lee"], "ann.lee"),  # nothing to strip: the value as sent
    ("part:-:1", ["SALES-EMEA"], "SALES"),
    ("part:-:2", ["SALES-EMEA"], "EMEA"),
    ("part:-:3", ["SALES-EMEA"], None),  # no third part: nothing
    ("part:::2", ["a:b:c"], "b"),  # the separator may be the colon itself
    ("part: :2", ["Ann Lee"], "Lee"),  # or a space
    ("part:CN=:2", ["CN=Sales,OU=Groups"], "Sales,OU=Groups"),
    ("regex:^([A-Z][a-z]+)", ["Sales-EMEA"], "Sales"),
    ("regex:^(?:CN=)?([^,]+)", ["CN=Sales Team,OU=Groups,DC=example"], "Sales Team"),
    ("regex:^(x)", ["Sales"], None),  # no match: nothing
    ("regex:(x)?y", ["y"], None),  # the group took no part: nothing
    ("join:, ", ["Sales", "Marketing"], "Sales, Marketing"),
    ("join:;", ["Sales", " ", "Marketing"], "Sales;Marketing"),  # blank values are left out
    ("lowercase", ["", "  SECOND  "], "second"),  # the first non-blank value, as a row without transform uses
    ("uppercase", [], None),
])
def test_each_transform_gives_what_the_admin_expects(spec, values, expected):
    assert parse(spec).apply(values) == expected


@pytest.mark.parametrize("spec, canonical", [
    ("  LowerCase ", "lowercase"), ("STRIP-DOMAIN", "strip-domain"), ("part:-:01", "part:-:1"),
    ("join:, ", "join:, "), ("regex:^(\\w+)@", "regex:^(\\w+)@"),
])
def test_the_spelling_is_kept_canonical(spec, canonical):
    assert parse(spec).spec == canonical


@pytest.mark.parametrize("spec", ["", "   ", None])
def test_blank_is_no_transform(spec):
    assert parse(spec) is None


@pytest.mark.parametrize("spec, message", [
    ("titlecase", '"titlecase" is not a transform. Use one of: lowercase, uppercase'),
    ("lowercase:x", "lowercase takes nothing after it"),
    ("part", "Write part:SEP:N"),
    ("part:-", "Write part:SEP:N"),
    ("part::1", "Give the separator after the colon"),
    ("part:-:0", 'The part number "0" must be a whole number from 1'),
    ("part:-:x", 'The part number "x" must be a whole number from 1'),
    ("part:-:-1", 'The part number "-1" must be a whole number from 1'),
    ("part:-:101", "at most 100"),
    ("join", "Give the separator after the colon: join:SEP"),
    ("join:", "Give the separator after the colon"),
    ("join:" + "-" * 21, "The separator is longer than 20 characters"),
    ("regex", "Give the pattern after the colon"),
    ("regex:([a-z]", "The pattern is not a valid regular expression"),
    ("regex:^[a-z]+$", "The pattern needs a group in parentheses"),
    ("regex:(" + "a" * MAX_PATTERN + ")", f"The pattern is longer than {MAX_PATTERN} characters"),
])
def test_bad_transforms_are_refused_with_the_reason(spec, message):
    with pytest.raises(TransformInvalid) as refused:
        parse(spec)
    assert message in str(refused.value)


def test_a_pattern_that_backtracks_without_end_is_stopped_in_time():
    catastrophic = parse("regex:^((a|aa)+)+c")  # exponential on a run of a's without a c
    started = time.perf_counter()
    with pytest.raises(TransformFailed) as failed:
        catastrophic.apply(["a" * 5000])
    assert time.perf_counter() - started < 1.0
    assert "took too long" in str(failed.value)


def test_a_pattern_sees_at_most_the_first_1000_characters():
    assert parse("regex:(z)").apply(["a" * 1000 + "z"]) is None
    assert parse("regex:(z)").apply(["a" * 999 + "z"]) == "z"


# --- the planner applies them --------------------------------------------------------------------------------

def policy(*rules) -> ProviderPolicy:
    return ProviderPolicy(provider_id=1, slug="okta", jit=True, user_type="employee", all_licenses=True,
                          package_ids=(), allowed_domains=frozenset(), required_groups=frozenset(),
                          groups_attribute=None, immutable_id_attribute=None, field_rules=rules, group_rules=())


def identity(**attributes) -> SamlIdentity:
    return SamlIdentity("okta", "ann@example.com", attributes=attributes)


def test_the_planner_writes_the_transformed_value_and_the_lookup_is_found_by_it():
    rules = (FieldRule("dept", "department", None, True, parse("regex:^([A-Z]+)-")),
             FieldRule("mail", "email", None, True, parse("lowercase")),
             FieldRule("cn", "job_title", None, True, parse("part:,:1")))
    plan = plan_sign_in(identity(dept=("SALES-EMEA",), mail=("Ann@Example.com",), cn=("Engineer,Level 2",)),
                        policy(*rules), None, exists)
    assert plan.contact["department"] == "SALES" and plan.contact["email"] == "ann@example.com"
    assert plan.contact["job_title"] == "Engineer"
    assert plan.field_changes["department"] == {"before": None, "after": "SALES"}


def test_a_transform_that_finds_nothing_falls_back_to_the_default_and_says_why():
    rule = FieldRule("dept", "department", "Marketing", True, parse("regex:^(Sales)"))
    values, notes = desired_contact(identity(dept=("Support",)), policy(rule), None, exists)
    assert values["department"] == "Marketing"
    assert notes == ['Department: the transform regex:^(Sales) found nothing in "Support"; treated as not sent.']


def test_a_stopped_pattern_is_noted_and_the_sign_in_goes_on():
    rule = FieldRule("title", "job_title", None, True, parse("regex:^((a|aa)+)+c"))
    plan = plan_sign_in(identity(title=("a" * 2000,)), policy(rule), None, exists)
    assert plan.action == "create" and "job_title" not in plan.contact
    assert any("took too long" in note for note in plan.notes)


def test_a_later_login_compares_the_transformed_value():
    rule = FieldRule("dept", "department", None, True, parse("part:-:1"))
    state = UserState(user_id=7, username="ann@example.com", active=True, bound=True,
                      contact={"department": "Sales", "email": "ann@example.com"}, roles={}, license_count=1)
    plan = plan_sign_in(identity(dept=("SALES-EMEA",)), policy(rule), state, exists)
    assert "department" not in plan.field_changes  # "SALES" is the lookup Sales: unchanged


def test_join_takes_every_value_where_a_plain_row_takes_the_first():
    plain = FieldRule("groups", "notes", None, True)
    joined = FieldRule("groups", "notes", None, True, parse("join:, "))
    ident = identity(groups=("Sales", "Staff"))
    assert mapped_value(ident, plain) == ("Sales", None)
    assert mapped_value(ident, joined) == ("Sales, Staff", None)
