"""The admin's Users pages, the user's SSO binding and what the CLI prints of a user."""
