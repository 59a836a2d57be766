"""Identity providers as configured: models, certificates, mapping lookups, presets, the cached configuration and
the frozen policy a provider hands provisioning. Below the protocol (sso), provisioning and the admin UI (designer)."""
