"""`crm seed-demo`: a bulk load that reports its progress, folds the search keys as the app does, keeps the
contact table's indexes, and changes nothing when run again."""
import pytest
from sqlalchemy import inspect, select

from crm.contacts.models import Account, Contact
from crm.demo import bulk, seed
from crm.demo.seed import contact_count, seed_demo
from crm.extensions import db
from crm.search_keys import fold


def _indexes() -> dict[str, list[str]]:
    return {i["name"]: i["column_names"] for i in inspect(db.engine).get_indexes("contact")}


def _expected_indexes() -> dict[str, list[str]]:
    return {i.name: [c.name for c in i.columns] for i in Contact.__table__.indexes}


def test_progress_goes_to_stderr_by_tenths_and_a_second_run_changes_nothing(runner, app, monkeypatch):
    monkeypatch.setattr(bulk, "BATCH", 100)
    result = runner.invoke(args=["crm", "seed-demo", "--contacts", "1000"])
    assert result.exit_code == 0, result.output
    assert result.stderr.splitlines() == [
        *(f"Loading contacts: {n * 100:,} of 1,000 ({n * 10} %)" for n in range(1, 11)),
        "Building indexes and committing...",
    ]
    assert result.stdout.startswith("Demo data loaded: 21 accounts, 1003 contacts, 3 users")
    assert contact_count() == 1003

    again = runner.invoke(args=["crm", "seed-demo", "--contacts", "1000"])
    assert again.exit_code == 0 and again.stdout == "Demo data is already loaded; nothing changed.\n"
    assert again.stderr == "" and contact_count() == 1003


def test_a_large_load_rebuilds_the_indexes_and_stores_what_the_app_would(app, monkeypatch):
    monkeypatch.setattr(bulk, "REBUILD_INDEXES_FROM", 100)  # the path a million contacts take
    monkeypatch.setattr(bulk, "BATCH", 128)
    loaded = []
    seed_demo(contacts=600, progress=loaded.append)
    db.session.expire_all()

    assert sum(loaded) == 600 and max(loaded) == 128
    assert _indexes() == _expected_indexes()
    contacts = db.session.scalars(select(Contact).where(Contact.given_name.is_not(None))).all()
    assert len(contacts) == 603
    for c in contacts:
        assert (c.name_key, c.surname_key, c.email_key) == (fold(c.full_name), fold(c.surname), fold(c.email))
    # Timestamps come back as the ORM wrote them (SQLite keeps them as text, compared as text when sorting).
    newest = db.session.scalar(select(Contact).order_by(Contact.created_at.desc(), Contact.id.desc()).limit(1))
    assert newest.created_at == max(c.created_at for c in contacts)
    assert {c.account.name for c in contacts} <= {a.name for a in db.session.scalars(select(Account))}


def test_a_load_that_fails_halfway_leaves_the_table_and_its_indexes_as_they_were(app, monkeypatch):
    monkeypatch.setattr(bulk, "REBUILD_INDEXES_FROM", 100)
    monkeypatch.setattr(bulk, "BATCH", 50)
    make_row = seed._contact_row

    def failing_row(i, *args):
        if i == 420:
            raise RuntimeError("the generator broke")
        return make_row(i, *args)

    monkeypatch.setattr(seed, "_contact_row", failing_row)
    with pytest.raises(RuntimeError, match="generator broke"):
        seed_demo(contacts=600)
    db.session.rollback()

    assert contact_count() == 0 and db.session.scalar(select(Account.id)) is None
    assert _indexes() == _expected_indexes()
