"""The local stack's processes and servers: `make run`, `make test`, the benchmark and
the system tests start everything they need through this package."""
