"""System Designer → lookups: the small name-only lists contacts use (Contact types, Departments)."""
