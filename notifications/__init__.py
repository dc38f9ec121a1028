"""The notifications service (arrives with a later issue)."""
