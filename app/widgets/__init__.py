"""Reusable Qt widgets (no session knowledge)."""
