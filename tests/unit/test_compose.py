"""docker-compose.yml, checked without Docker: what it runs exists, what it sets is read."""

import re
from pathlib import Path

import pytest
import yaml

from shop.roster import BACKENDS, SERVICES, entry

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
CONTAINERS = COMPOSE["services"]
CONFIG_VARIABLES = set(re.findall(r"\$\{([A-Z_][A-Z0-9_]*)", (ROOT / "config.yml").read_text()))
OURS = {name: spec for name, spec in CONTAINERS.items() if spec.get("build")}


def test_every_nameko_service_runs_a_module_that_exists():
    runs = {name: spec["command"] for name, spec in OURS.items() if "nameko" in spec["command"]}
    assert set(runs) == set(BACKENDS)
    for name, command in runs.items():
        assert command == ["nameko", "run", "--config", "config.yml", entry(name)]
        assert (ROOT / name / "service.py").is_file()


def test_the_gateway_runs_its_processes_through_the_launcher():
    assert OURS["gateway"]["command"] == ["python", "-m", "gateway.processes",
                                          "--config", "config.yml"]
    assert (ROOT / "gateway" / "processes.py").is_file()
    assert OURS["gateway"]["environment"]["GATEWAY_PROCESSES"] == "${GATEWAY_PROCESSES:-1}"


@pytest.mark.parametrize("name", sorted(OURS))
def test_every_variable_our_services_get_is_read_by_config_yml(name):
    assert set(OURS[name]["environment"]) <= CONFIG_VARIABLES


@pytest.mark.parametrize("name", sorted(CONTAINERS))
def test_every_image_is_pinned_to_a_version(name):
    image = CONTAINERS[name]["image"]
    repository, _, tag = image.rpartition(":")
    assert repository and tag != "latest" and re.search(r"\d+\.\d+", tag), image


@pytest.mark.parametrize("name", sorted(set(CONTAINERS) - {"migrate"}))
def test_every_long_running_service_has_a_healthcheck_and_a_restart_policy(name):
    assert CONTAINERS[name]["healthcheck"]["test"]
    assert CONTAINERS[name]["restart"] == "unless-stopped"


def test_services_start_after_healthy_dependencies_and_migrations():
    for name, spec in OURS.items():
        conditions = {dep: rule["condition"] for dep, rule in spec["depends_on"].items()}
        assert conditions["postgres"] == "service_healthy"
        if name != "migrate":
            assert conditions["rabbitmq"] == conditions["redis"] == "service_healthy"
            assert conditions["migrate"] == "service_completed_successfully"


def test_secrets_come_from_the_environment_and_production_mode_is_on():
    environment = OURS["gateway"]["environment"]
    assert environment["APP_ENV"] == "production"
    assert environment["JWT_SECRET"].startswith("${JWT_SECRET:?")


def test_only_the_gateway_publishes_a_port_so_any_service_can_scale():
    published = {name for name, spec in OURS.items() if spec.get("ports")}
    assert published == {"gateway"} and OURS["gateway"]["ports"] == ["8000:8000"]
    assert not any("container_name" in spec for spec in CONTAINERS.values())


def test_the_image_holds_every_package_it_runs():
    dockerfile = (ROOT / "Dockerfile").read_text()
    for package in ("shop", "contracts", *SERVICES):
        assert f"COPY {package} {package}" in dockerfile
    assert re.search(r"^USER (?!root)\w+", dockerfile, re.MULTILINE)


def test_the_roster_names_every_service_package_and_nothing_else():
    assert {path.parent.name for path in ROOT.glob("*/service.py")} == set(SERVICES)


@pytest.mark.parametrize("name", SERVICES)
def test_each_entry_names_the_one_service_class_of_its_module(name):
    from nameko.cli.run import import_service

    found = import_service(entry(name))
    assert [cls.name for cls in found] == [name]


@pytest.mark.parametrize("name", sorted(OURS.keys() - {"migrate"}))
def test_each_of_our_containers_is_healthy_when_its_probe_says_ready(name):
    assert OURS[name]["healthcheck"]["test"] == ["CMD", "python", "-m", "shop.healthcheck",
                                                 name, "--ready"]
