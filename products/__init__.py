"""The products service (arrives with a later issue)."""
