"""deploy/observability/ passes Prometheus' own checks: the scrape config and the rules
are valid, and every alert fires on a synthetic series (rules/shop.rules.test.yml)."""

import shutil
import subprocess

from tests.observability import (
    DASHBOARD,
    OBSERVABILITY,
    RULES,
    dashboard_expressions,
    metric_names,
    rules,
)

PROMTOOL = shutil.which("promtool")  # Debian's prometheus package: scripts/bootstrap.sh


def promtool(*args):
    assert PROMTOOL, "promtool is missing: scripts/bootstrap.sh test installs it"
    done = subprocess.run([PROMTOOL, *args], cwd=OBSERVABILITY, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def test_the_scrape_config_is_valid_and_loads_the_rules():
    assert "SUCCESS: 1 rule files found" in promtool("check", "config", "prometheus.yml")


def test_the_rules_are_valid():
    assert "SUCCESS" in promtool("check", "rules", str(RULES))


def test_every_alert_fires_in_the_rule_tests():
    promtool("test", "rules", "rules/shop.rules.test.yml")
    tested = (OBSERVABILITY / "rules" / "shop.rules.test.yml").read_text()
    alerts = [rule["alert"] for rule in rules() if "alert" in rule]
    assert alerts and all(f"alertname: {alert}" in tested for alert in alerts)


def test_the_expression_reader_finds_the_metrics_and_only_them():
    assert metric_names('sum by (route, le) (rate(shop_x_bucket{route=~"a|b"}[5m])) '
                        '/ on (route) shop:y:rate5m > 0.5') == {"shop_x_bucket", "shop:y:rate5m"}


def test_the_dashboard_has_queries():
    assert DASHBOARD.exists() and len(dashboard_expressions()) >= 10
