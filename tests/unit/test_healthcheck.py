"""The probe's reading of heartbeat files (python -m shop.healthcheck)."""

import json
import os

import pytest

from shop import healthcheck
from shop.config import load_config
from shop.liveness import heartbeat_path

NOW = 1_800_000_000.0


def write(directory, service: str, pid: int, at: float = NOW, consuming: bool = True):
    heartbeat_path(directory, service, pid).write_text(json.dumps(
        {"service": service, "pid": pid, "at": at, "stale_after": at + 15,
         "consuming": consuming}))


@pytest.fixture
def env(tmp_path):
    return {"LIVENESS_DIR": str(tmp_path)}


def test_a_fresh_heartbeat_of_a_running_process_passes(tmp_path, env):
    write(tmp_path, "users", os.getpid())
    assert healthcheck.check("users", False, env, NOW + 10) is None
    assert healthcheck.check("users", True, env, NOW + 10) is None


def test_a_stale_heartbeat_fails_liveness(tmp_path, env):
    write(tmp_path, "users", os.getpid())
    assert healthcheck.check("users", False, env, NOW + 16) == \
        f"users process {os.getpid()} last beat 16 s ago"


def test_a_process_off_the_broker_is_alive_but_not_ready(tmp_path, env):
    write(tmp_path, "orders", os.getpid(), consuming=False)
    assert healthcheck.check("orders", False, env, NOW) is None
    assert healthcheck.check("orders", True, env, NOW) == \
        f"orders process {os.getpid()} is not consuming from the broker"


def test_a_dead_process_heartbeat_is_ignored(tmp_path, env):
    dead_pid = 2 ** 22 + 7  # above the largest pid_max Linux allows
    write(tmp_path, "posts", dead_pid)
    assert "no running posts process" in str(healthcheck.check("posts", False, env, NOW))
    write(tmp_path, "posts", os.getpid())
    assert healthcheck.check("posts", False, env, NOW) is None


def test_every_process_of_the_service_must_be_fresh(tmp_path, env):
    write(tmp_path, "gateway", os.getpid())
    write(tmp_path, "gateway", os.getppid(), at=NOW - 60)
    failure = str(healthcheck.check("gateway", False, env, NOW))
    assert f"gateway process {os.getppid()}" in failure


def test_a_wrong_command_line_is_a_usage_error(capsys):
    assert healthcheck.main([]) == 2
    assert healthcheck.main(["users", "--readyy"]) == 2
    assert "usage: python -m shop.healthcheck <service> [--ready]" in capsys.readouterr().err


@pytest.mark.parametrize("env", [{}, {"RUN_DIR": "/srv/shop"},
                                 {"RUN_DIR": "/srv/shop", "LIVENESS_DIR": "/tmp/live"},
                                 {"WEB_SERVER_ADDRESS": "0.0.0.0:9000"}])
def test_the_probe_reads_the_environment_as_config_yml_does(monkeypatch, env):
    for name in ("RUN_DIR", "LIVENESS_DIR", "WEB_SERVER_ADDRESS"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    config = load_config("config.yml")
    assert str(healthcheck.liveness_dir(env)) == config["LIVENESS_DIR"]
    assert healthcheck.web_server_address(env) == config["WEB_SERVER_ADDRESS"]
