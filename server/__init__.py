"""Distillery's server package."""
