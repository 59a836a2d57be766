"""Local passwords: at least 12 characters wherever one is set, and checking one costs the same for every username."""
import pytest

from crm.auth import passwords
from crm.auth.models import User
from crm.users import services as users
from tests import factories
from tests.conftest import login


def test_a_password_shorter_than_12_characters_is_refused_wherever_it_is_set(app):
    with pytest.raises(users.UserError, match="at least 12 characters"):
        users.create_user("short@example.com", password="eleven-char")
    with pytest.raises(passwords.WeakPassword, match="at least 12 characters"):
        User(username="direct@example.com").set_password("a")
    assert users.create_user("long@example.com", password="twelve-chars").check_password("twelve-chars")


@pytest.fixture
def hashings(monkeypatch):
    """Every password hash checked during the test."""
    calls = []
    real = passwords.check_password_hash
    monkeypatch.setattr(passwords, "check_password_hash", lambda *args: calls.append(args[0]) or real(*args))
    return calls


def test_unknown_users_and_users_without_a_password_cost_one_hashing_like_everyone(client, app, hashings):
    factories.user("admin@example.com")
    factories.user("sso-only@example.com", password=None)
    for username in ("admin@example.com", "nobody@example.com", "sso-only@example.com"):
        hashings.clear()
        response = login(client, username, "a wrong password")
        assert "The username or password is not correct." in response.get_data(as_text=True)
        assert len(hashings) == 1, username
    # the throwaway hash has the same method and cost as a real one
    real = factories._PASSWORD_HASH.split("$", 1)[0]
    assert passwords._throwaway_hash().split("$", 1)[0] == real
