"""The orders service: placing orders (pending, one stock take, placed) and their lifecycle."""
