"""Code shared by every nameko-shop service: error types, schema helpers, tokens, RPC."""

__version__ = "0.1.0"
