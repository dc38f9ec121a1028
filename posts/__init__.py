"""The posts service (arrives with a later issue)."""
