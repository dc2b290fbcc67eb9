"""Alembic revision scripts of the registry schema (one module per revision)."""
