"""What crosses the wire between the gateway, the services and `nameko shell` users.

One module per service: the marshmallow schemas of its RPC arguments and replies. The
service validates and answers with them; the gateway builds its OpenAPI document from
them. Neither side imports the other's package, only this one (import-linter checks it).
"""
