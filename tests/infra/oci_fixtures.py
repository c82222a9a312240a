"""Fixtures: see the module docstring of the matching harness module."""
