"""Redis stopped mid-test: the API keeps working, only without cache and limits.

Each test runs its own redis-server, started and stopped by PID, so that stopping it
touches nothing else.
"""

import shutil
import subprocess
import time

import pytest
import redis
from nameko.testing.utils import find_free_port


class RedisProcess(subprocess.Popen[bytes]):
    port: int


def start_redis(port, tmp_path):
    process = RedisProcess(
        [shutil.which("redis-server") or "redis-server", "--bind", "127.0.0.1", "--port",
         str(port), "--save", "",
         "--appendonly", "no", "--dir", str(tmp_path)], stdout=subprocess.DEVNULL)
    client = redis.Redis(port=port)
    for _ in range(100):
        try:
            client.ping()
            break
        except redis.ConnectionError:
            time.sleep(0.05)
    client.close()
    process.port = port
    return process


@pytest.fixture
def private_redis(tmp_path):
    started = [start_redis(find_free_port(), tmp_path)]
    yield started
    for process in started:
        if process.poll() is None:
            process.terminate()
        process.wait(10)


@pytest.fixture
def api_on_private_redis(start_system, private_redis):
    uri = f"redis://127.0.0.1:{private_redis[0].port}/0"
    return start_system(REDIS_URIS={"default": uri}, RATE_LIMIT_MAX=50)[1]


def stop(process):
    process.terminate()
    process.wait(10)


def test_redis_stopped_mid_test_leaves_the_api_working_and_its_return_is_noticed(
        api_on_private_redis, private_redis, tmp_path):
    api = api_on_private_redis
    user, auth = api.user_with_token()
    post = api.post(auth)
    path = f"/posts/{post['id']}"
    assert api.http.get(path).headers["X-Cache"] == "MISS"
    assert api.http.get(path).headers["X-Cache"] == "HIT"
    assert "RateLimit-Limit" in api.http.get("/posts").headers

    stop(private_redis[0])

    served = api.http.get(path)
    assert served.status_code == 200 and served.headers["X-Cache"] == "MISS"
    assert served.json() == post
    listed = api.http.get("/posts")
    assert listed.status_code == 200 and "RateLimit-Limit" not in listed.headers
    edited = api.http.patch(path, json={"title": "Still works"}, headers=auth)
    assert edited.status_code == 200
    assert api.http.get(path).json()["title"] == "Still works"
    assert api.http.get("/users/me", headers=auth).status_code == 200
    assert api.http.get("/health/services").status_code == 200

    private_redis.append(start_redis(private_redis[0].port, tmp_path))  # back, empty
    assert api.http.get(path).headers["X-Cache"] == "MISS"
    assert api.http.get(path).headers["X-Cache"] == "HIT"
    assert "RateLimit-Limit" in api.http.get("/posts").headers


def test_a_deleted_users_token_is_refused_even_with_redis_down(api_on_private_redis,
                                                               private_redis):
    api = api_on_private_redis
    user, auth = api.user_with_token()
    stop(private_redis[0])
    assert api.http.delete(f"/users/{user['id']}", headers=auth).status_code == 204
    for _ in range(50):  # the broadcast event reaches this gateway in milliseconds
        me = api.http.get("/users/me", headers=auth)
        if me.status_code == 401:
            break
        time.sleep(0.02)
    assert me.status_code == 401


def test_a_password_change_ends_old_tokens_even_with_redis_down(api_on_private_redis,
                                                                private_redis):
    api = api_on_private_redis
    user, old_auth = api.user_with_token()
    stop(private_redis[0])
    changed = api.http.patch(f"/users/{user['id']}", json={"password": "a new horse"},
                             headers=old_auth)
    assert changed.status_code == 200
    assert api.http.get("/users/me", headers=old_auth).status_code == 401
    new_auth = {"Authorization": f"Bearer {api.sign_in(user['email'], 'a new horse')}"}
    assert api.http.get("/users/me", headers=new_auth).status_code == 200
