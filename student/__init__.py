"""Distillery's student package."""
