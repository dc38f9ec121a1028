"""The orders service (arrives with a later issue)."""
