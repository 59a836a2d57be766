"""Local sign-in: the break-glass path for administrators."""
from crm.auth.models import User
from tests import factories
from tests.conftest import csrf_token, login, signed_in_user_id


def test_admin_signs_in_and_sees_the_console(client, admin):
    response = login(client, "ADMIN", factories.PASSWORD)  # usernames ignore case
    assert response.status_code == 302
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "Contacts" in page and "System Designer" in page and "Signed in as" in page


def test_wrong_password_is_refused_with_a_message(client, admin):
    response = login(client, "admin", "wrong")
    assert response.status_code == 200
    assert "The username or password is not correct." in response.get_data(as_text=True)
    assert client.get("/contacts").status_code == 302  # still signed out


def test_inactive_user_cannot_sign_in(client, app):
    factories.user("gone@example.com", active=False)
    response = login(client, "gone@example.com", factories.PASSWORD)
    assert "This account is not active" in response.get_data(as_text=True)
    assert client.get("/contacts").status_code == 302


def test_login_form_without_csrf_token_is_refused(client, admin):
    response = client.post("/login", data={"username": "admin", "password": factories.PASSWORD})
    assert response.status_code == 400
    assert client.get("/contacts").status_code == 302


def test_sign_in_starts_a_fresh_session(client, admin):
    with client.session_transaction() as session:
        session["planted"] = "by an attacker"
    login(client, "admin", factories.PASSWORD)
    with client.session_transaction() as session:
        assert "planted" not in session
        token = session["_user_id"]
    assert signed_in_user_id(token) == admin.id


def test_sign_out_ends_the_session(admin_client):
    token = csrf_token(admin_client, "/contacts")
    response = admin_client.post("/logout", data={"csrf_token": token})
    assert response.status_code == 302
    assert admin_client.get("/contacts").status_code == 302


def test_next_parameter_only_allows_local_paths(client, admin):
    token = csrf_token(client)
    response = client.post("/login?next=//evil.example/x",
                           data={"username": "admin", "password": factories.PASSWORD, "csrf_token": token})
    assert response.headers["Location"] == "/contacts"


def test_username_uniqueness_ignores_case_in_the_database(app):
    import pytest
    from sqlalchemy.exc import IntegrityError

    from crm.extensions import db

    factories.user("Jane.Doe@Example.com")
    db.session.add(User(username="jane.doe@example.com", user_type="employee"))
    with pytest.raises(IntegrityError):
        db.session.commit()


def test_an_unexpected_error_shows_the_500_page_without_details(app, client, admin):
    def broken():
        raise RuntimeError("secret internals")

    app.add_url_rule("/broken-for-test", "broken_for_test", broken)
    login(client, "admin", factories.PASSWORD)
    response = client.get("/broken-for-test")
    page = response.get_data(as_text=True)
    assert response.status_code == 500 and "Something went wrong" in page
    assert "secret internals" not in page and "Traceback" not in page and 'class="sidebar"' in page
