"""Sign in with SSO: SP- and IdP-initiated, JIT create and update, refusals. Real signed responses."""
import json

from crm.audit.models import AuditEvent
from crm.auth.models import User
from crm.extensions import db
from crm.licensing.models import LicensePackage
from crm.users.services import user_json
from tests import factories
from tests.conftest import csrf_token
from tests.saml_signer import Spec, signed_response
from tests.sso.conftest import CLAIMS, GROUPS, SALES_GROUP, nina


def _user(username="nina.novak@example.com") -> dict:
    user = db.session.scalar(db.select(User).where(User.username_key == username.lower()))
    return user_json(user) if user else None


def _events(outcome=None):
    stmt = db.select(AuditEvent).where(AuditEvent.category == "provisioning").order_by(AuditEvent.id)
    if outcome:
        stmt = stmt.where(AuditEvent.outcome == outcome)
    return db.session.scalars(stmt).all()


def test_first_login_creates_user_contact_licenses_and_roles_as_mapped(visitor, entra):
    response = visitor.sign_in(attributes=nina())
    assert response.status_code == 302 and response.headers["Location"] == "/"
    assert visitor.signed_in_as() is not None
    shown = _user()
    assert shown["identity"] == {"idp": "entra", "name_id": "nina.novak@example.com"}
    assert shown["active"] and shown["user_type"] == "employee"
    contact = shown["contact"]
    assert (contact["given_name"], contact["surname"], contact["full_name"]) == ("Nina", "Novak", "Nina Novak")
    assert (contact["email"], contact["department"], contact["job_title"]) == (
        "nina.novak@example.com", "Sales", "Account Executive")
    assert contact["type"] == "Employee" and contact["account"] == "Contoso Ltd"  # defaults
    assert shown["licenses"] == ["Sales Creatio", "Service Creatio"]  # all available
    assert shown["roles"] == [{"name": "All employees", "source": "sso"}, {"name": "Sales", "source": "sso"}]
    event = _events()[-1]
    assert event.outcome == "created" and event.idp_slug == "entra" and event.name_id == "nina.novak@example.com"
    assert event.details["licenses_granted"] == ["Sales Creatio", "Service Creatio"]
    assert event.details["roles_added"] == ["All employees", "Sales"]
    assert event.details["assertion_id"] and event.details["attributes"][GROUPS] == [SALES_GROUP, "all-staff"]
    assert "Account Contoso Ltd was created." in event.reason


def test_second_login_updates_only_changed_fields_and_syncs_roles(visitor, entra, client):
    visitor.sign_in(attributes=nina())
    client.post("/logout", data={"csrf_token": _token(client)})
    factories_role = factories.role("Managers")
    user = db.session.scalar(db.select(User).where(User.username == "nina.novak@example.com"))
    from crm.roles.services import add_member

    add_member(user, factories_role)  # an admin adds a role by hand: SSO must never touch it
    db.session.commit()
    changed = nina(**{CLAIMS + "department": "Marketing", "jobtitle": "Account Executive", GROUPS: ["all-staff"],
                      "company": "Fabrikam"})
    response = visitor.sign_in(attributes=changed)
    assert response.status_code == 302
    event = _events()[-1]
    assert event.outcome == "updated"
    assert event.changes == {"department": {"before": "Sales", "after": "Marketing"}}  # company is first-login only
    assert event.details["roles_removed"] == ["Sales"] and event.details["roles_added"] == []
    assert _user()["roles"] == [{"name": "All employees", "source": "sso"}, {"name": "Managers", "source": "manual"}]
    assert _user()["licenses"] == ["Sales Creatio", "Service Creatio"]  # not granted twice


def _token(client):
    from tests.conftest import csrf_token

    return csrf_token(client, "/contacts")


def test_unchanged_login_writes_nothing_but_the_event(visitor, entra, client):
    visitor.sign_in(attributes=nina())
    client.post("/logout", data={"csrf_token": _token(client)})
    visitor.sign_in(attributes=nina())
    assert _events()[-1].outcome == "unchanged" and _events()[-1].changes == {}


def test_relay_state_is_followed_only_when_it_is_a_local_path(visitor, entra):
    request_id = visitor.start("/contacts?q=a")
    response = visitor.post(signed_response(Spec(attributes=nina(), in_response_to=request_id)), "/contacts?q=a")
    assert response.headers["Location"] == "/contacts?q=a"
    for evil in ("https://evil.example/", "//evil.example/x", "/\\evil.example", "javascript:alert(1)"):
        request_id = visitor.start()
        response = visitor.post(signed_response(Spec(attributes=nina(), in_response_to=request_id)), evil)
        assert response.headers["Location"] == "/", evil


def test_idp_initiated_sign_in_only_when_the_provider_allows_it(visitor, entra):
    response = visitor.post(signed_response(Spec(attributes=nina())))
    assert response.status_code == 400 and "did not start that sign-in" in response.get_data(as_text=True)
    assert visitor.signed_in_as() is None and _user() is None
    entra.allow_idp_initiated = True
    db.session.commit()
    response = visitor.post(signed_response(Spec(attributes=nina())))
    assert response.status_code == 302 and visitor.signed_in_as() is not None


def test_jit_off_refuses_an_unknown_user_and_creates_nothing(visitor, entra):
    entra.jit_enabled = False
    db.session.commit()
    response = visitor.sign_in(attributes=nina())
    page = response.get_data(as_text=True)
    assert response.status_code == 403
    assert "automatic account creation is off. Ask your administrator." in page
    assert _user() is None and visitor.signed_in_as() is None
    event = _events("denied")[-1]
    assert event.reason.startswith("denied: JIT off") and event.reference in page


def test_jit_off_still_signs_in_a_known_user_without_updating(visitor, entra, client):
    visitor.sign_in(attributes=nina())
    client.post("/logout", data={"csrf_token": _token(client)})
    entra.jit_enabled = False
    db.session.commit()
    response = visitor.sign_in(attributes=nina(**{CLAIMS + "department": "Finance"}))
    assert response.status_code == 302 and _user()["contact"]["department"] == "Sales"


def test_inactive_user_is_refused(visitor, entra, client):
    visitor.sign_in(attributes=nina())
    client.post("/logout", data={"csrf_token": _token(client)})
    user = db.session.scalar(db.select(User).where(User.username == "nina.novak@example.com"))
    user.active = False
    db.session.commit()
    response = visitor.sign_in(attributes=nina())
    assert response.status_code == 403 and "Your account is not active" in response.get_data(as_text=True)
    assert visitor.signed_in_as() is None


def test_no_free_seat_creates_the_user_but_refuses_the_sign_in(visitor, entra):
    for package in db.session.scalars(db.select(LicensePackage)):
        package.seat_limit = package.seats_used
    db.session.commit()
    response = visitor.sign_in(attributes=nina())
    page = response.get_data(as_text=True)
    assert response.status_code == 403 and "No free license seat is left" in page
    assert _user()["licenses"] == [] and _user()["contact"]["full_name"] == "Nina Novak"
    assert visitor.signed_in_as() is None


def test_selected_license_policy_grants_only_chosen_packages(visitor, entra):
    entra.license_policy = "selected"
    sales = db.session.scalar(db.select(LicensePackage).where(LicensePackage.name == "Sales Creatio"))
    entra.license_packages = [sales]
    db.session.commit()
    visitor.sign_in(attributes=nina())
    assert _user()["licenses"] == ["Sales Creatio"]


def test_domain_and_required_groups_rules(visitor, entra, client):
    entra.allowed_domains = ["contoso.com"]
    db.session.commit()
    response = visitor.sign_in(attributes=nina())
    assert response.status_code == 403 and "email domain is not allowed" in response.get_data(as_text=True)
    entra.allowed_domains, entra.required_groups = ["example.com"], ["CRM Users"]
    db.session.commit()
    response = visitor.sign_in(attributes=nina())
    assert "not in a group that may sign in" in response.get_data(as_text=True)
    entra.groups_attribute = GROUPS
    db.session.commit()
    response = visitor.sign_in(attributes=nina(**{GROUPS: ["crm users"]}))  # groups match ignoring case
    assert response.status_code == 302
    assert _user() is not None


def test_entra_group_overage_keeps_roles(visitor, entra, client):
    visitor.sign_in(attributes=nina())
    client.post("/logout", data={"csrf_token": _token(client)})
    overage = {k: v for k, v in nina().items() if k != GROUPS}
    overage["http://schemas.microsoft.com/claims/groups.link"] = "https://graph.microsoft.com/v1.0/users/x/getMemberObjects"
    visitor.sign_in(attributes=overage)
    assert {r["name"] for r in _user()["roles"]} == {"Sales", "All employees"}
    assert "groups.link" in _events()[-1].reason


def _allow_domains(provider, *domains: str) -> None:
    from crm.identity_providers import services as providers

    providers.save_provider(provider, providers.provider_values(provider) | {"allowed_domains": list(domains)})
    db.session.commit()


def test_local_user_with_the_same_username_is_linked_on_first_sso_login(visitor, entra):
    _allow_domains(entra, "example.com")
    factories.user("Nina.Novak@example.com", given_name="Nina", surname="Old", password=None)
    response = visitor.sign_in(attributes=nina())
    assert response.status_code == 302
    same_name = db.select(db.func.count(User.id)).where(User.username_key == "nina.novak@example.com")
    assert db.session.scalar(same_name) == 1
    assert _user("Nina.Novak@example.com")["identity"] == {"idp": "entra", "name_id": "nina.novak@example.com"}
    assert _events()[-1].outcome == "updated"


def test_a_provider_without_allowed_domains_cannot_claim_a_local_account(visitor, entra):
    """Today's hole: a provider with no allowed domains linked any password-less account named like its NameID."""
    factories.user("nina.novak@example.com", given_name="Nina", surname="Local", password=None)
    response = visitor.sign_in(attributes=nina())
    assert response.status_code == 403 and visitor.signed_in_as() is None
    assert "this identity provider may not claim it" in response.get_data(as_text=True)
    assert _user()["identity"] is None
    event = _events("denied")[-1]
    assert "exists but is not linked to entra, which has no allowed domains" in event.reason
    _allow_domains(entra, "contoso.com", "example.org")
    assert visitor.sign_in(attributes=nina()).status_code == 403 and _user()["identity"] is None
    assert "the account's domain example.com is not among its allowed domains" in _events("denied")[-1].reason


def test_a_user_bound_to_another_idp_is_never_taken_over(visitor, entra, client):
    visitor.sign_in(attributes=nina())
    client.post("/logout", data={"csrf_token": _token(client)})
    factories.provider("okta", cert_name="okta-key")
    okta = type(visitor)(client, "okta")
    response = okta.sign_in(Spec(slug="okta", key_name="okta-key", attributes={"email": "nina.novak@example.com"}))
    assert response.status_code == 403 and "another identity provider" in response.get_data(as_text=True)
    assert visitor.signed_in_as() is None
    assert _user()["identity"]["idp"] == "entra"
    assert "not taken over by okta" in _events("denied")[-1].reason


def test_unknown_type_value_is_left_out_and_noted(visitor, entra):
    from crm.identity_providers.mappings import save_attribute_mapping

    row = next(m for m in entra.attribute_mappings if m.contact_field == "type")
    save_attribute_mapping(entra, row, "employeeType", "type", "Employee", "first_login")
    db.session.commit()
    visitor.sign_in(attributes=nina(employeeType="Wizard"))
    assert _user()["contact"]["type"] is None
    assert '"Wizard" is not a known type: left out.' in _events()[-1].reason


def test_values_longer_than_the_contact_allows_are_refused(visitor, entra):
    response = visitor.sign_in(attributes=nina(jobtitle="x" * 151))
    assert response.status_code == 403 and "too long" in response.get_data(as_text=True)
    assert _user() is None


def test_audit_list_json_and_filters(visitor, entra, runner, client, admin):
    from tests.conftest import login

    visitor.sign_in(attributes=nina())
    client.post("/logout", data={"csrf_token": _token(client)})
    login(client, "admin", factories.PASSWORD)
    events = json.loads(runner.invoke(args=["audit", "list", "--json", "--limit", "5"]).output)
    assert events[0]["outcome"] == "created" and events[0]["name_id"] == "nina.novak@example.com"
    assert events[0]["details"]["roles_added"] == ["All employees", "Sales"]
    page = client.get("/audit", query_string={"idp_slug": "entra", "outcome": "created"}).get_data(as_text=True)
    assert "Created nina.novak@example.com through entra" in page


def test_login_page_shows_a_button_per_provider(client, entra):
    factories.provider("hidden", cert_name="hidden-key", show_on_login=False)
    page = client.get("/login").get_data(as_text=True)
    assert "Login via SSO (Contoso Entra ID)" in page and "Hidden" not in page


def test_clock_skew_edges(visitor, entra, client):
    """Conditions and SubjectConfirmationData get the provider's clock skew (120 s unless set) both ways, not
    python3-saml's fixed 300 s; tests/sso/test_session_policy.py holds the edges to the second."""
    from datetime import timedelta

    def attempt(**fields):
        response = visitor.sign_in(Spec(attributes=nina()).but(**fields))
        if response.status_code == 302:
            client.post("/logout", data={"csrf_token": _token(client)})
        return response.status_code

    assert attempt(not_before=timedelta(seconds=100)) == 302  # IdP clock 100 s ahead
    assert attempt(not_before=timedelta(seconds=240)) == 400  # 4 minutes ahead: within python3-saml's 300 s, not ours
    assert attempt(not_on_or_after=timedelta(seconds=-100)) == 302  # Conditions ended 100 s ago
    assert attempt(not_on_or_after=timedelta(seconds=-240)) == 400
    assert attempt(scd_not_on_or_after=timedelta(seconds=-5)) == 302
    assert attempt(scd_not_on_or_after=timedelta(seconds=-140)) == 400


def test_a_cross_site_post_without_the_session_cookie_is_posted_again_from_our_site(entra, app, client):
    """SameSite=Lax keeps the session cookie off the IdP's cross-site POST; the ACS bounces the form once."""
    client.get("/sso/entra/login")
    with client.session_transaction() as session:
        request_id = session["saml_pending"]["id"]
    cookie = client.get_cookie(app.config["SESSION_COOKIE_NAME"])
    client.delete_cookie(app.config["SESSION_COOKIE_NAME"])  # what the browser leaves out on a cross-site POST
    payload = signed_response(Spec(attributes=nina(), in_response_to=request_id))
    bounce = client.post("http://localhost/sso/entra/acs", data={"SAMLResponse": payload, "RelayState": "/accounts"})
    page = bounce.get_data(as_text=True)
    assert bounce.status_code == 200 and 'name="_same_site" value="1"' in page and "data-autosubmit" in page
    client.set_cookie(cookie.key, cookie.value)  # the same-site POST from our page brings it back
    response = client.post("http://localhost/sso/entra/acs", data={"SAMLResponse": payload, "RelayState": "/accounts",
                                                                  "_same_site": "1"})
    assert response.status_code == 302 and response.headers["Location"] == "/accounts"


def test_the_re_post_page_posts_to_the_configured_acs_whatever_the_host_header_says(entra, app, client):
    """A forged Host header must not choose where the browser sends the SAMLResponse next."""
    client.get("/sso/entra/login")
    with client.session_transaction() as session:
        request_id = session["saml_pending"]["id"]
    client.delete_cookie(app.config["SESSION_COOKIE_NAME"])
    payload = signed_response(Spec(attributes=nina(), in_response_to=request_id))
    bounce = client.post("http://evil.example/sso/entra/acs", data={"SAMLResponse": payload})
    page = bounce.get_data(as_text=True)
    assert bounce.status_code == 200 and 'name="_same_site" value="1"' in page
    assert 'action="http://localhost/sso/entra/acs"' in page and "evil.example" not in page


def test_an_idp_initiated_post_needs_no_re_post_and_signs_in_at_once(entra, app, client):
    """Only a response that answers a request needs this browser's session cookie; an IdP-initiated one (the app
    tile in the IdP's portal) signs in on the IdP's own POST, and the new session's cookie comes with that answer."""
    entra.allow_idp_initiated = True
    db.session.commit()
    response = client.post("http://localhost/sso/entra/acs", data={"SAMLResponse": signed_response(Spec(
        attributes=nina())), "RelayState": "/accounts"})
    assert response.status_code == 302 and response.headers["Location"] == "/accounts"
    assert "SameSite=Lax" in response.headers["Set-Cookie"]
    with client.session_transaction() as session:
        assert session.get("_user_id")


def test_local_users_with_a_password_or_admin_role_are_never_linked_automatically(visitor, entra, client):
    factories.user("nina.novak@example.com", given_name="Nina", surname="Local")  # has a local password
    response = visitor.sign_in(attributes=nina())
    assert response.status_code == 403 and visitor.signed_in_as() is None
    assert "username_taken" not in response.get_data(as_text=True)
    assert "an administrator must link it" in _events("denied")[-1].reason
    assert _user()["identity"] is None


def test_the_immutable_id_wins_over_a_reassigned_name_id(visitor, entra, client):
    from crm.identity_providers import services as providers

    values = providers.provider_values(entra) | {"immutable_id_attribute": "objectid"}
    providers.save_provider(entra, values)
    db.session.commit()
    visitor.sign_in(attributes=nina(objectid="guid-of-nina"))
    client.post("/logout", data={"csrf_token": _token(client)})
    response = visitor.sign_in(attributes=nina(objectid="guid-of-newcomer"))  # the IdP gave Nina's address away
    assert response.status_code == 403 and visitor.signed_in_as() is None
    visitor.sign_in(attributes=nina(objectid="guid-of-nina"), name_id="nina.renamed@example.com")
    assert visitor.signed_in_as() is not None  # Nina renamed at the IdP: still her account, by immutable id


def test_look_alike_and_space_name_ids_are_refused(visitor, entra):
    for name_id in ("\u212aate@example.com", "nina.novak@example.com\u00a0", "\u00a0", "nina\u200b@example.com"):
        response = visitor.sign_in(attributes=nina(), name_id=name_id)
        assert response.status_code == 400 and visitor.signed_in_as() is None, repr(name_id)
    assert _user() is None


def test_an_sso_sign_in_opens_a_session_that_logout_ends(visitor, entra, client):
    from crm.auth.models import UserSession

    visitor.sign_in(attributes=nina())
    (row,) = db.session.scalars(db.select(UserSession))
    user = db.session.scalar(db.select(User).where(User.username == "nina.novak@example.com"))
    assert (row.user_id, row.method) == (user.id, "sso:entra")
    assert visitor.signed_in_as() == str(user.id)
    client.post("/logout", data={"csrf_token": csrf_token(client, "/contacts")})
    assert db.session.scalars(db.select(UserSession)).all() == []


def test_a_refused_sign_in_opens_no_session(visitor, entra):
    from crm.auth.models import UserSession

    entra.jit_enabled = False
    db.session.commit()
    visitor.sign_in(attributes=nina())
    assert db.session.scalars(db.select(UserSession)).all() == []


def test_an_administrators_revoke_sticks_at_the_next_sign_in(visitor, entra, client):
    from crm.licensing.models import LicenseSeat
    from crm.licensing.services import revoke

    visitor.sign_in(attributes=nina())
    user = db.session.scalar(db.select(User).where(User.username == "nina.novak@example.com"))
    for seat in list(user.seats):
        revoke(user, seat.package)
    db.session.commit()
    visitor.client.delete_cookie("session")
    visitor.sign_in(attributes=nina())
    assert db.session.scalar(db.select(db.func.count()).select_from(LicenseSeat)) == 0
    page = client.get("/", follow_redirects=True)
    assert page.status_code == 403 and "no license seat" in page.get_data(as_text=True)


def test_the_group_mapping_decides_what_an_sso_user_may_do(visitor, entra, client):
    from crm.auth.permissions import CONTACTS_VIEW

    factories.role("Sales", (CONTACTS_VIEW,))
    visitor.sign_in(attributes=nina(**{GROUPS: [SALES_GROUP]}))
    assert client.get("/contacts").status_code == 200 and client.get("/accounts").status_code == 403
    visitor.client.delete_cookie("session")
    visitor.sign_in(attributes=nina(**{GROUPS: []}))
    assert client.get("/contacts").status_code == 403


def test_name_ids_that_mix_scripts_in_one_part_are_refused_with_the_reason(visitor, entra, client):
    """A Cyrillic "а" (U+0430) or a Greek "ο" among Latin letters looks exactly like another person's name."""
    for name_id in ("n\u0430dia@example.com", "nadia@ex\u0430mple.com", "j\u03bfhn.smith@example.com"):
        response = visitor.sign_in(attributes=nina(), name_id=name_id)
        assert response.status_code == 400 and visitor.signed_in_as() is None, name_id
        assert "mixes letters of different alphabets" in response.get_data(as_text=True)
    assert db.session.scalar(db.select(db.func.count(User.id))) == 0
    reasons = [e.reason for e in _events("rejected")]
    assert "look_alike: NameID 'nаdia@example.com' mixes Cyrillic and Latin letters in 'nаdia'" in reasons[0]
    # Whole parts in one script are names, not disguises: a Cyrillic address at a Latin domain, Japanese with kana.
    for name_id in ("наталья@example.com", "山田たろう@example.jp"):
        assert visitor.sign_in(attributes=nina(), name_id=name_id).status_code == 302, name_id
        client.post("/logout", data={"csrf_token": _token(client)})
