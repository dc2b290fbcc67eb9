"""Distillery's teacher package."""
