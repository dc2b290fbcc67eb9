"""Distillery's registry package."""
