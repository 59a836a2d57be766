"""Just-In-Time provisioning as plain Python: an identity and a provider's policy become a plan, applied in one
transaction with its audit event. Knows nothing of HTTP or XML."""
