"""The notifications service: turns domain events into stored, delivered notifications."""
