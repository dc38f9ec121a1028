"""The orders service: placing orders as a saga over stock reservations, and their lifecycle."""
