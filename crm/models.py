"""Every area's models in one import, for Alembic, create_all and the shell."""
from crm.accounts.models import Account
from crm.audit.models import AuditEvent
from crm.contacts.models import Contact, ContactType, Department
from crm.designer.models import AttributeMapping, IdentityProvider, IdpCertificate, RoleMapping
from crm.licensing.models import LicensePackage, LicenseSeat
from crm.roles.models import Role, RoleMembership
from crm.sso.models import SignInAttempt, UsedAssertion
from crm.users.models import User, UserIdentity

__all__ = [
    "Account",
    "AttributeMapping",
    "AuditEvent",
    "Contact",
    "ContactType",
    "Department",
    "IdentityProvider",
    "IdpCertificate",
    "LicensePackage",
    "LicenseSeat",
    "Role",
    "RoleMapping",
    "RoleMembership",
    "SignInAttempt",
    "UsedAssertion",
    "User",
    "UserIdentity",
]
