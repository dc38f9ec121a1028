"""Settings: config.yml holds every default, each service reads its own once, typed, and a
bad value stops the service at start-up naming the key."""

import re
from pathlib import Path

import pytest
from nameko.exceptions import ConfigurationError
from nameko.testing.services import dummy

from gateway.settings import GatewaySettings
from notifications.settings import NotificationsSettings
from orders.settings import OrdersSettings
from products.settings import ProductsSettings
from shop.settings import CallSettings, SettingsProvider, settings_of
from tests.config_yml import config_yml, settings
from users.settings import UsersSettings

ROOT = Path(__file__).resolve().parents[2]
KINDS = (CallSettings, GatewaySettings, UsersSettings, ProductsSettings, OrdersSettings,
         NotificationsSettings)


@pytest.mark.parametrize("kind", KINDS)
def test_config_yml_sets_every_setting_with_a_valid_default(kind, monkeypatch):
    for key in kind.keys():
        monkeypatch.delenv(key, raising=False)
    kind.from_config(config_yml())  # raises, naming the key, if one is missing or bad


def test_values_from_the_environment_are_read_as_their_types():
    read = settings(GatewaySettings, rate_limit_max="50", redis_timeout_seconds="0.25",
                    cache_enabled="false", rate_limit_enabled="1",
                    cors_origins="https://a.example, https://b.example")
    assert read.rate_limit_max == 50 and read.redis_timeout_seconds == 0.25
    assert read.cache_enabled is False and read.rate_limit_enabled is True
    assert read.cors_origins == ("https://a.example", "https://b.example")


@pytest.mark.parametrize("overrides, message", [
    ({"rate_limit_max": "lots"}, "RATE_LIMIT_MAX: 'lots' is not a whole number"),
    ({"rate_limit_max": 2.5}, "RATE_LIMIT_MAX: 2.5 is not a whole number"),
    ({"rate_limit_max": True}, "RATE_LIMIT_MAX: True is not a number"),
    ({"rate_limit_max": 0}, "RATE_LIMIT_MAX must be at least 1"),
    ({"cache_enabled": "maybe"}, "CACHE_ENABLED: 'maybe' is not true or false"),
    ({"cors_origins": {"a": 1}}, "CORS_ORIGINS: .* is not a list"),
    ({"redis_timeout_seconds": "soon"}, "REDIS_TIMEOUT_SECONDS: 'soon' is not a number"),
])
def test_a_bad_value_is_refused_naming_its_key(overrides, message):
    with pytest.raises(ConfigurationError, match=message):
        settings(GatewaySettings, **overrides)


def test_bounds_and_choices_of_the_services_settings():
    with pytest.raises(ConfigurationError, match="BCRYPT_ROUNDS must be at most 31"):
        settings(UsersSettings, bcrypt_rounds=40)
    with pytest.raises(ConfigurationError, match="NOTIFICATION_SENDER must be one of log, smtp"):
        settings(NotificationsSettings, notification_sender="pigeon")
    with pytest.raises(ConfigurationError, match="SMTP_PORT must be at most 65535"):
        settings(NotificationsSettings, smtp_port=70000)


def test_a_missing_setting_is_named():
    config = config_yml()
    del config["ORDER_PENDING_SECONDS"]
    with pytest.raises(ConfigurationError, match="ORDER_PENDING_SECONDS is not set"):
        OrdersSettings.from_config(config)


class Service:
    name = "settings_test"
    settings = SettingsProvider(OrdersSettings)

    @dummy
    def method(self):
        pass


def test_a_service_reads_its_settings_once_at_setup(container_factory):
    config = {**config_yml(), "ORDER_PENDING_SECONDS": "90"}
    container = container_factory(Service, config)
    container.start()
    read = settings_of(container, OrdersSettings)
    assert read.order_pending_seconds == 90.0
    assert settings_of(container, OrdersSettings) is read


def test_a_service_with_a_bad_setting_does_not_start(container_factory):
    container = container_factory(Service, {**config_yml(), "ORDER_PENDING_SECONDS": "-"})
    with pytest.raises(ConfigurationError, match="ORDER_PENDING_SECONDS"):
        container.start()


def test_the_readmes_configuration_table_gives_config_ymls_defaults():
    """Every variable config.yml reads is in the README's table, with the same default."""
    text = "\n".join(line for line in (ROOT / "config.yml").read_text().splitlines()
                     if not line.lstrip().startswith("#"))
    defaults = dict(re.findall(r"\$\{([A-Z_]+):([^}{$]*)\}", text))
    table = (ROOT / "README.md").read_text().split("## Configuration", 1)[1].split("\n## ")[0]
    documented: dict[str, str] = {}
    for names, default in re.findall(r"^\| ((?:`[A-Z_]+`(?:, | / )?)+) \| ([^|]*) \|", table,
                                     re.MULTILINE):
        keys = re.findall(r"`([A-Z_]+)`", names)
        values = re.findall(r"`([^`]*)`", default)
        for key, value in zip(keys, values if len(values) == len(keys) else [None] * len(keys),
                              strict=True):
            documented[key] = value
    for key, default in defaults.items():
        assert key in documented, f"{key} (config.yml) is missing from the README's table"
        if documented[key] is not None and default:
            assert documented[key] == default, f"{key}: README says {documented[key]!r}, " \
                f"config.yml {default!r}"
