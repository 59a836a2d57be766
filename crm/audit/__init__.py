"""The audit trail: every change and every sign-in, who did it, and what changed."""
