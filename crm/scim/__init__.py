"""SCIM 2.0 (RFC 7643/7644) at /scim/v2: a directory (Okta, Entra ID) provisions one provider's users."""
