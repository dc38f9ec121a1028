"""The gateway on Redis behind Sentinel: it finds the master through the Sentinel, and
after a failover it writes to the new master (a demoted one refuses writes).

A master, its replica and one Sentinel, each a redis-server of this test's own,
started and stopped by PID.
"""

import shutil
import subprocess
import time

import pytest
import redis
from nameko.testing.utils import find_free_port

from tests.integration.test_redis_down import RedisProcess, start_redis, stop
from tests.sentinel import replica_promotable

MASTER_NAME = "shop-cache"


def wait_for(condition, seconds=15.0):
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


@pytest.fixture
def sentinel_set(tmp_path):
    """(master, replica, sentinel port, client of the sentinel); all stopped after."""
    for folder in ("master", "replica"):
        (tmp_path / folder).mkdir()
    master = start_redis(find_free_port(), tmp_path / "master")
    replica_dir = tmp_path / "replica"
    replica_port = find_free_port()
    replica = RedisProcess(
        [shutil.which("redis-server") or "redis-server", "--bind", "127.0.0.1", "--port",
         str(replica_port), "--save", "", "--appendonly", "no", "--dir", str(replica_dir),
         "--replicaof", "127.0.0.1", str(master.port)], stdout=subprocess.DEVNULL)
    replica.port = replica_port
    sentinel_port = find_free_port()
    config = tmp_path / "sentinel.conf"  # the Sentinel rewrites it as it learns
    config.write_text(
        f"bind 127.0.0.1\nport {sentinel_port}\ndir {tmp_path}\n"
        f"sentinel monitor {MASTER_NAME} 127.0.0.1 {master.port} 1\n"
        f"sentinel down-after-milliseconds {MASTER_NAME} 1000\n"
        f"sentinel failover-timeout {MASTER_NAME} 10000\n")
    sentinel = subprocess.Popen(
        [shutil.which("redis-server") or "redis-server", str(config), "--sentinel"],
        stdout=subprocess.DEVNULL)
    watcher = redis.Redis(port=sentinel_port, decode_responses=True)
    replica_client = redis.Redis(port=replica_port)
    assert wait_for(lambda: _answers(watcher) and _replica_linked(replica_client))
    # A forced failover needs the Sentinel to know the replica, which takes a while longer.
    assert wait_for(lambda: replica_promotable(watcher, MASTER_NAME), seconds=30)
    yield master, replica, sentinel_port, watcher
    watcher.close()
    replica_client.close()
    for process in (sentinel, replica, master):
        if process.poll() is None:
            stop(process)


def _answers(client):
    try:
        return client.ping()
    except redis.ConnectionError:
        return False


def _replica_linked(client):
    try:
        return client.info("replication").get("master_link_status") == "up"
    except redis.ConnectionError:
        return False


def master_port(watcher):
    return int(watcher.sentinel_get_master_addr_by_name(MASTER_NAME)[1])


def test_the_gateway_follows_the_master_through_a_sentinel_failover(
        start_system, sentinel_set):
    master, replica, sentinel_port, watcher = sentinel_set
    _, api = start_system(
        REDIS_URIS={"default": "redis://127.0.0.1:1/0"},  # its address is not used
        REDIS_SENTINELS=f"127.0.0.1:{sentinel_port}", REDIS_SENTINEL_MASTER=MASTER_NAME,
        RATE_LIMIT_MAX=1000)
    _, auth = api.user_with_token("ada")
    post = api.post(auth)
    path = f"/posts/{post['id']}"
    assert api.http.get(path).headers["X-Cache"] == "MISS"
    assert api.http.get(path).headers["X-Cache"] == "HIT"
    assert "RateLimit-Remaining" in api.http.get("/posts").headers
    # The limiter's counters are on the master the Sentinel names, not on some other
    # Redis (a connection made outside redis-py's pool once went to localhost:6379).
    first_master = redis.Redis(port=master.port)
    assert first_master.keys("rate:general:*")
    first_master.close()

    watcher.execute_command("SENTINEL", "FAILOVER", MASTER_NAME)
    assert wait_for(lambda: master_port(watcher) == replica.port)
    promoted, demoted = redis.Redis(port=replica.port), redis.Redis(port=master.port)
    assert wait_for(lambda: promoted.info("replication")["role"] == "master")
    assert wait_for(lambda: demoted.info("replication")["role"] == "slave")  # reconfigured
    demoted.close()

    # Writes (rate-limit counters, cache entries) reach the new master: a connection
    # still on the demoted one fails once and is replaced.
    promoted.flushall()
    answers = [api.http.get(path) for _ in range(5)]
    assert [answer.status_code for answer in answers] == [200] * 5
    assert answers[-1].headers["X-Cache"] == "HIT"
    assert "RateLimit-Remaining" in answers[-1].headers
    assert promoted.dbsize() > 0 and promoted.keys("rate:general:*")
    promoted.close()

    stop(master)  # the old master gone: each connection still on it fails once
    edited = api.http.patch(path, json={"title": "After the failover"}, headers=auth)
    assert edited.status_code == 200
    reads = [api.http.get(path) for _ in range(6)]
    assert {read.status_code for read in reads} == {200}
    assert reads[-1].json()["title"] == "After the failover"
    assert reads[-1].headers["X-Cache"] == "HIT"
