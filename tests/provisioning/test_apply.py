"""writes_anything() follows apply_plan: when it says a plan writes nothing, applying it touches no database (the
sign-in then runs without a transaction of its own), and when it says a plan writes, applying it does."""
from datetime import datetime

import pytest

from crm.provisioning.apply import Lookups, apply_plan, writes_anything
from crm.provisioning.planner import plan_sign_in
from crm.provisioning.resolver import Resolution
from tests.provisioning.test_planner import exists, identity, policy, state


class Spy:
    """A connection that counts what it is asked and answers like an empty database."""

    def __init__(self, dialect: str = "sqlite"):
        self.calls = 0
        self.dialect = type("Dialect", (), {"name": dialect})()

    class _Result:
        rowcount = 1

        def scalar_one(self):
            return 1

        def all(self):
            return []

        def __iter__(self):
            return iter(())

        def one(self):
            return [], []

    def execute(self, *_args, **_kwargs):
        self.calls += 1
        return self._Result()

    def scalar(self, *_args, **_kwargs):
        self.calls += 1
        return 1


CASES = {
    "unchanged returning user": (identity(), policy(), Resolution(state(), binding_id=3, stored_immutable_id="x")),
    "a field changed": (identity(lastName=("Lee-Smith",)), policy(), Resolution(state(), binding_id=3)),
    "a group gone": (identity(groups=("CRM-Sales",)), policy(), Resolution(state(), binding_id=3)),
    "a new user": (identity(), policy(), Resolution()),
    "a local user linked": (identity(), policy(), Resolution(state(bound=False, license_count=0))),
    "no contact yet": (identity(), policy(), Resolution(state(contact={}), binding_id=3)),
    "immutable id first sent": (identity(oid=("abc",)), policy(immutable_id_attribute="oid"),
                                Resolution(state(), binding_id=3, stored_immutable_id=None)),
    "immutable id known": (identity(oid=("abc",)), policy(immutable_id_attribute="oid"),
                           Resolution(state(), binding_id=3, stored_immutable_id="abc")),
}


@pytest.mark.parametrize("dialect", ["sqlite", "postgresql"])
@pytest.mark.parametrize("name", CASES)
def test_writes_anything_says_what_apply_plan_does(name, dialect):
    ident, pol, resolution = CASES[name]
    plan = plan_sign_in(ident, pol, resolution.state, exists)
    spy = Spy(dialect)
    lookups = Lookups(spy)
    lookups._found = {("type", "employee"): 1, ("department", "sales"): 2}
    apply_plan(spy, plan, ident, pol, resolution, lookups, datetime(2026, 12, 6))
    assert writes_anything(plan, ident, pol, resolution) == (spy.calls > 0), (name, spy.calls)


def test_the_unchanged_returning_user_is_the_case_that_writes_nothing():
    ident, pol, resolution = CASES["unchanged returning user"]
    assert not writes_anything(plan_sign_in(ident, pol, resolution.state, exists), ident, pol, resolution)
