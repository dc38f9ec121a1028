"""Which services make up nameko-shop: the one list the gateway, the scripts, the bench
and the tests read."""

# Each owns its database and answers RPC; the gateway calls them all.
BACKENDS = ("users", "posts", "products", "orders", "notifications")
GATEWAY = "gateway"
# In start order: the gateway last, once what it calls is there.
SERVICES = (*BACKENDS, GATEWAY)


def entry(name: str) -> str:
    """What `nameko run` is given for a service: its module and its class by name, so no
    other class imported into that module can ever be started as a second service."""
    return f"{name}.service:{name.capitalize()}Service"
