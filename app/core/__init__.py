"""Shared services with no business rules; imports no module."""
