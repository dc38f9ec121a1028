"""Settings read once, typed: each service's values from the nameko config, checked at
start-up.

A settings class is a frozen dataclass whose fields are config keys in lower case
(`rpc_timeout_seconds` is RPC_TIMEOUT_SECONDS). `config.yml` holds every default; the
code holds none. A value that is missing or cannot be read as its type stops the service
at start-up with a ConfigurationError naming the key, instead of failing a request later.
"""

from __future__ import annotations

import dataclasses
import typing
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Generic, Self, TypeVar

from nameko.containers import ServiceContainer, WorkerContext
from nameko.exceptions import ConfigurationError
from nameko.extensions import DependencyProvider

TRUE, FALSE = frozenset({"true", "yes", "on", "1"}), frozenset({"false", "no", "off", "0"})
Kind = TypeVar("Kind", bound="Settings")


def at_least(minimum: float, maximum: float | None = None) -> dict[str, Any]:
    """Field metadata: the value may not be below minimum (nor above maximum)."""
    return {"minimum": minimum, "maximum": maximum}


def one_of(*choices: str) -> dict[str, Any]:
    """Field metadata: the value must be one of choices."""
    return {"choices": choices}


@dataclasses.dataclass(frozen=True)
class Settings:
    """Base of the settings classes."""

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> Self:
        hints = typing.get_type_hints(cls)
        values = {}
        for field in dataclasses.fields(cls):
            key = field.name.upper()
            if key not in config:
                raise ConfigurationError(
                    f"{key} is not set (config.yml sets every setting; is this its config?)")
            values[field.name] = _read(key, config[key], hints[field.name], field.metadata)
        return cls(**values)

    @classmethod
    def keys(cls) -> list[str]:
        return [field.name.upper() for field in dataclasses.fields(cls)]


def _read(key: str, value: Any, kind: Any, metadata: Mapping[str, Any]) -> Any:
    try:
        typed = _convert(value, kind)
    except (TypeError, ValueError) as error:
        raise ConfigurationError(f"{key}: {error}") from None
    minimum, maximum = metadata.get("minimum"), metadata.get("maximum")
    if minimum is not None and typed < minimum:
        raise ConfigurationError(f"{key} must be at least {minimum}, not {typed!r}")
    if maximum is not None and typed > maximum:
        raise ConfigurationError(f"{key} must be at most {maximum}, not {typed!r}")
    choices = metadata.get("choices")
    if choices is not None and typed not in choices:
        raise ConfigurationError(f"{key} must be one of {', '.join(choices)}, not {typed!r}")
    return typed


def _convert(value: Any, kind: Any) -> Any:
    """value as kind; the YAML loader gives scalars of any type, environment text included."""
    if kind is bool:
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in TRUE | FALSE:
            return text in TRUE
        raise ValueError(f"{value!r} is not true or false")
    if kind in (int, float):
        if isinstance(value, bool):
            raise ValueError(f"{value!r} is not a number")
        if kind is int and isinstance(value, float) and not value.is_integer():
            raise ValueError(f"{value!r} is not a whole number")
        try:
            return kind(value)
        except (TypeError, ValueError):
            raise ValueError(f"{value!r} is not {'a whole' if kind is int else 'a'} number") \
                from None
    if kind is str:
        if not isinstance(value, (str, int, float)) or isinstance(value, bool):
            raise ValueError(f"{value!r} is not text")
        return str(value)
    if typing.get_origin(kind) is tuple:  # tuple[str, ...]: a list, or text split at commas
        items = value.split(",") if isinstance(value, str) else value
        if not isinstance(items, (list, tuple)):
            raise ValueError(f"{value!r} is not a list")
        return tuple(str(item).strip() for item in items if str(item).strip())
    raise TypeError(f"settings cannot hold {kind!r}")


BUILT_ATTRIBUTE = "shop_settings"


def settings_of(container: ServiceContainer, kind: type[Kind]) -> Kind:
    """The container's settings of that kind, read from its config once (and kept on the
    container: extensions see it through a weak proxy, which cannot key a weak map)."""
    built: dict[type[Settings], Settings] | None = getattr(container, BUILT_ATTRIBUTE, None)
    if built is None:
        built = {}
        setattr(container, BUILT_ATTRIBUTE, built)
    if kind not in built:
        built[kind] = kind.from_config(container.config)
    settings = built[kind]
    assert isinstance(settings, kind)
    return settings


class SettingsProvider(DependencyProvider, Generic[Kind]):
    """Gives workers the service's settings, read and checked when the service starts."""

    def __init__(self, kind: type[Kind]) -> None:
        self.kind = kind

    if TYPE_CHECKING:  # what a worker finds in the attribute: nameko injects it
        def __get__(self, instance: object, owner: type | None = None) -> Kind: ...

    def setup(self) -> None:
        self.settings = settings_of(self.container, self.kind)

    def get_dependency(self, worker_ctx: WorkerContext) -> Kind:
        return self.settings


@dataclasses.dataclass(frozen=True)
class CallSettings(Settings):
    """What every service's calls and events are bounded by."""

    # Every RPC fails with ServiceTimeout (504 at the gateway) after this long.
    rpc_timeout_seconds: float = dataclasses.field(metadata=at_least(0.001))
    # How long a publish waits for the broker to take (confirm) an event.
    event_confirm_seconds: float = dataclasses.field(metadata=at_least(0.001))
    # Failures (not transient ones) after which an event is dead-lettered.
    event_max_attempts: int = dataclasses.field(metadata=at_least(1))
    # The outbox relay looks for unsent events this often besides being woken after a
    # write; a relay's claim on a batch lapses after the lease (shop/outbox.py).
    outbox_poll_seconds: float = dataclasses.field(metadata=at_least(0.01))
    outbox_lease_seconds: float = dataclasses.field(metadata=at_least(1))
    # How long the answer to a write under an Idempotency-Key is kept (shop/idempotency.py).
    idempotency_seconds: float = dataclasses.field(metadata=at_least(1))
