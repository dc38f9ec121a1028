"""config.yml as the tests read it: its defaults are the only ones, in tests too."""

from pathlib import Path
from typing import Any, TypeVar

from shop.config import load_config
from shop.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
Kind = TypeVar("Kind", bound=Settings)


def config_yml() -> dict[str, Any]:
    """config.yml loaded as `nameko run` loads it (environment variables applied)."""
    return load_config(str(ROOT / "config.yml"))


def settings(kind: type[Kind], **overrides: Any) -> Kind:
    """A service's settings as config.yml sets them, with overrides by field name."""
    return kind.from_config({**config_yml(),
                             **{name.upper(): value for name, value in overrides.items()}})
