"""SAML: the only package that knows the protocol (metadata, certificates, python3-saml)."""
