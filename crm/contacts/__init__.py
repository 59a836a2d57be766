"""Contacts and their lookups (Account, Contact type, Department)."""
