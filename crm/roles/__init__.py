"""Roles (user groups) and who belongs to them."""
