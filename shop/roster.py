"""Which services make up nameko-shop: the one list the gateway, the scripts, the bench
and the tests read."""

# Each owns its database and answers RPC; the gateway calls them all.
BACKENDS = ("users", "posts", "products", "orders", "notifications")
GATEWAY = "gateway"
# In start order: the gateway last, once what it calls is there.
SERVICES = (*BACKENDS, GATEWAY)
