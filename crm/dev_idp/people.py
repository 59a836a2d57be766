"""The people the demo IdP offers, sending Entra-style claims."""
from __future__ import annotations

from dataclasses import dataclass

CLAIMS = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/"
GROUPS = "http://schemas.microsoft.com/ws/2008/06/identity/claims/groups"
DISPLAY_NAME = "http://schemas.microsoft.com/identity/claims/displayname"
DEPARTMENT = CLAIMS + "department"
JOB_TITLE = "http://schemas.microsoft.com/identity/claims/jobtitle"
SALES_GROUP = "a3c1f2d4-5b6e-4f70-8a91-b2c3d4e5f601"
MARKETING_GROUP = "b4d2e3f5-6c7f-4081-9ba2-c3d4e5f60712"
EVERYONE_GROUP = "c5e3f4a6-7d80-4192-acb3-d4e5f6071823"


@dataclass(frozen=True)
class DemoPerson:
    """Someone to sign in as, with what the IdP says about them."""

    key: str
    title: str
    story: str
    name_id: str
    attributes: dict[str, tuple[str, ...]]


def _person(given: str, surname: str, email: str, department: str | None, job: str, groups: tuple[str, ...]):
    attributes = {CLAIMS + "emailaddress": (email,), CLAIMS + "givenname": (given,), CLAIMS + "surname": (surname,),
                  DISPLAY_NAME: (f"{given} {surname}",), JOB_TITLE: (job,)}
    if department:
        attributes[DEPARTMENT] = (department,)
    if groups:
        attributes[GROUPS] = groups
    return attributes


PEOPLE = (
    DemoPerson("new-hire", "New hire in Sales", "Signs in for the first time: JIT creates the user, contact, "
               "licenses and the Sales roles.", "nina.novak@example.com",
               _person("Nina", "Novak", "nina.novak@example.com", "Sales", "Account Executive",
                       (SALES_GROUP, EVERYONE_GROUP))),
    DemoPerson("department-change", "Returning user who moved to Marketing", "Maria already has a CRM account; her "
               "first SSO login links it, moves her contact to Marketing and adds the Marketing role (her Sales role "
               "was added by an admin, so SSO leaves it).",
               "maria.garcia@example.com",
               _person("Maria", "Garcia", "maria.garcia@example.com", "Marketing", "Marketing Specialist",
                       (MARKETING_GROUP, EVERYONE_GROUP))),
    DemoPerson("contractor", "Contractor without groups", "Gets an account and a contact but no role.",
               "cody.ross@partner.example",
               _person("Cody", "Ross", "cody.ross@partner.example", None, "Consultant", ())),
    DemoPerson("wrong-domain", "User of a domain that is not allowed", "Refused: only example.com and "
               "partner.example may sign in through the demo provider.", "eve@elsewhere.example",
               _person("Eve", "Mallory", "eve@elsewhere.example", "Sales", "Sales Representative",
                       (SALES_GROUP,))),
)
PEOPLE_BY_KEY = {p.key: p for p in PEOPLE}
