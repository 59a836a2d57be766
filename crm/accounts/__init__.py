"""Accounts: the companies contacts work for (pages and services; the Account model is a contact lookup)."""
