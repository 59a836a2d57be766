"""Contacts and the lookups their columns point to: Account (the company), Contact type, Department."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship, validates

from crm.extensions import db
from crm.search_keys import KeepsNameKey, fold, key_type
from crm.timeutil import utcnow


class _NamedLookup(KeepsNameKey):
    """Columns and behaviour shared by the small name-only lookups."""

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    name_key: Mapped[str] = mapped_column(key_type(100), unique=True)
    description: Mapped[str | None] = mapped_column(String(250))

    def __str__(self) -> str:
        return self.name


class Account(KeepsNameKey, db.Model):
    """A company (Creatio: Account)."""

    __tablename__ = "account"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    name_key: Mapped[str] = mapped_column(key_type(200), unique=True)
    industry: Mapped[str | None] = mapped_column(String(100))
    city: Mapped[str | None] = mapped_column(String(100))
    web: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)

    def __str__(self) -> str:
        return self.name


class ContactType(_NamedLookup, db.Model):
    """Lookup: Employee, Customer, Partner, Supplier..."""

    __tablename__ = "contact_type"


class Department(_NamedLookup, db.Model):
    """Lookup: the department a contact works in."""

    __tablename__ = "department"


class Contact(db.Model):
    """A person (Creatio: Contact). Lookup columns hold ids; forms and SSO set them by display name."""

    __tablename__ = "contact"
    # The list's three orders, (key, id), then the searched and sorted columns: a search walks an order, or
    # collects a branch's matches with their sort keys, from the index alone (crm/contacts/search.py). The names
    # are those of migration 0001's narrower indexes, which 0007 widened.
    __table_args__ = (
        Index("ix_contact_name_key_id", "name_key", "id", "surname_key", "email_key", "account_id", "created_at"),
        Index("ix_contact_surname_key", "surname_key", "name_key", "email_key", "created_at", "id"),
        Index("ix_contact_email_key_id", "email_key", "id", "name_key", "surname_key", "account_id", "created_at"),
        Index("ix_contact_created_at_id", "created_at", "id", "name_key", "surname_key", "email_key", "account_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    given_name: Mapped[str | None] = mapped_column(String(100))
    surname: Mapped[str | None] = mapped_column(String(100))
    full_name: Mapped[str] = mapped_column(String(250))
    email: Mapped[str | None] = mapped_column(String(254))
    phone: Mapped[str | None] = mapped_column(String(50))
    mobile_phone: Mapped[str | None] = mapped_column(String(50))
    job_title: Mapped[str | None] = mapped_column(String(150))
    city: Mapped[str | None] = mapped_column(String(100))
    notes: Mapped[str | None] = mapped_column(Text)
    department_id: Mapped[int | None] = mapped_column(ForeignKey("department.id"), index=True)
    account_id: Mapped[int | None] = mapped_column(ForeignKey("account.id"), index=True)
    type_id: Mapped[int | None] = mapped_column(ForeignKey("contact_type.id"), index=True)
    name_key: Mapped[str] = mapped_column(key_type(250), default="")
    surname_key: Mapped[str] = mapped_column(key_type(100), default="")
    email_key: Mapped[str] = mapped_column(key_type(254), default="")
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, onupdate=utcnow)

    department: Mapped[Department | None] = relationship(lazy="joined")
    account: Mapped[Account | None] = relationship(lazy="joined")
    type: Mapped[ContactType | None] = relationship(lazy="joined")

    @validates("full_name")
    def _keep_name_key(self, _key: str, value: str) -> str:
        self.name_key = fold(value)
        return value

    @validates("surname")
    def _keep_surname_key(self, _key: str, value: str | None) -> str | None:
        self.surname_key = fold(value)
        return value

    @validates("email")
    def _keep_email_key(self, _key: str, value: str | None) -> str | None:
        self.email_key = fold(value)
        return value

    def __str__(self) -> str:
        return self.full_name
