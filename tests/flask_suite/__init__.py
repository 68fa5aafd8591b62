"""Harness that runs Flask's own test suite against diota (see harness.py)."""
