"""The README's configuration table names every variable config.yml reads."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_every_config_variable_is_documented():
    settings = "\n".join(line for line in (ROOT / "config.yml").read_text().splitlines()
                         if not line.lstrip().startswith("#"))
    variables = set(re.findall(r"\$\{([A-Z_][A-Z0-9_]*)", settings))
    readme = (ROOT / "README.md").read_text()
    table = readme[readme.index("## Configuration"):]
    missing = sorted(name for name in variables if f"`{name}`" not in table)
    assert not missing, f"README's configuration table lacks {missing}"
