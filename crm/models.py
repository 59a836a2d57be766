"""Every area's models in one import, for Alembic, create_all and the shell."""
from crm.audit.models import AuditEvent
from crm.auth.models import User, UserSession
from crm.auth.throttling import SignInThrottle
from crm.contacts.models import Account, Contact, ContactType, Department
from crm.identity_providers.directory_groups import DirectoryGroup, DirectoryGroupMember
from crm.identity_providers.models import AttributeMapping, IdentityProvider, IdpCertificate, RoleMapping
from crm.identity_providers.scim_tokens import ScimToken
from crm.licensing.models import LicensePackage, LicenseSeat
from crm.roles.models import Role, RoleMembership, RolePermission
from crm.sso.models import SignInAttempt, UsedAssertion
from crm.users.models import UserIdentity

__all__ = [
    "Account",
    "AttributeMapping",
    "AuditEvent",
    "Contact",
    "ContactType",
    "Department",
    "DirectoryGroup",
    "DirectoryGroupMember",
    "IdentityProvider",
    "IdpCertificate",
    "LicensePackage",
    "LicenseSeat",
    "Role",
    "RoleMapping",
    "RoleMembership",
    "RolePermission",
    "ScimToken",
    "SignInAttempt",
    "SignInThrottle",
    "UsedAssertion",
    "User",
    "UserIdentity",
    "UserSession",
]
