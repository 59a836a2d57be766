"""System Designer → Single Sign On configuration: identity providers, certificates, mapping lookups,
troubleshooting reports, and the `sso` commands."""
