"""shop/nameko_internals.py names every reach into nameko beyond its documented API; these
fail on another nameko release, so an upgrade starts by re-reading those reaches."""

import importlib.metadata
import inspect

from nameko.web.server import WebServer

from shop import nameko_internals


def test_nameko_is_the_release_the_reaches_were_written_for():
    assert importlib.metadata.version("nameko") == nameko_internals.WRITTEN_FOR, (
        "nameko changed: re-read shop/nameko_internals.py, then update WRITTEN_FOR")
    assert importlib.metadata.version("eventlet") == nameko_internals.EVENTLET_WRITTEN_FOR, (
        "eventlet changed: re-read gateway/connections.py, then update EVENTLET_WRITTEN_FOR")


def test_every_overridden_method_still_has_the_signature_the_shop_overrides():
    for (cls, name), parameters in nameko_internals.OVERRIDDEN.items():
        method = getattr(cls, name, None)
        assert method is not None, f"{cls.__name__}.{name} is gone"
        assert tuple(inspect.signature(method).parameters) == parameters, (
            f"{cls.__name__}.{name} changed its parameters")


def test_the_registered_providers_of_a_web_server_are_read():
    server = WebServer()
    route = object()
    server.register_provider(route)
    assert nameko_internals.registered_providers(server) == {route}


# nameko's documented extension API: overriding these is what extensions are for.
DOCUMENTED = {"setup", "start", "stop", "kill", "get_dependency", "worker_setup",
              "worker_result", "worker_teardown", "bind", "decorator"}


def test_each_override_in_the_shop_is_listed():
    """A shop extension overriding another nameko method must list it in OVERRIDDEN."""
    from gateway.http import GatewayWebServer, Route
    from shop.entrypoints import ReplyingConsumer, RpcMethod
    from shop.redelivery import RetryingEventHandler
    from shop.timers import ConfiguredTimer
    from shop.transient import SturdyQueueConsumer

    listed = {(cls, name) for cls, name in nameko_internals.OVERRIDDEN}
    for subclass in (GatewayWebServer, Route, ReplyingConsumer, RpcMethod, ConfiguredTimer,
                     RetryingEventHandler, SturdyQueueConsumer):
        for name, member in vars(subclass).items():
            if not callable(member) or name.startswith("__") or name in DOCUMENTED:
                continue
            for base in subclass.__mro__[1:]:
                if base.__module__.startswith("nameko.") and name in vars(base):
                    assert (base, name) in listed, f"{subclass.__name__}.{name} overrides " \
                        f"{base.__name__}.{name}, which OVERRIDDEN does not list"
                    break
