"""The gateway: the only HTTP entry, mapping routes to RPC calls on the other services."""
