"""Reading config.yml outside `nameko run` (tools, the gateway launcher, tests)."""

from __future__ import annotations

from typing import Any

import yaml
from nameko.cli.main import setup_yaml_parser


def load_config(path: str) -> dict[str, Any]:
    """The config file as `nameko run` reads it, ${VAR:default} values included."""
    setup_yaml_parser()
    with open(path) as handle:
        config: dict[str, Any] = yaml.safe_load(handle)
    return config
