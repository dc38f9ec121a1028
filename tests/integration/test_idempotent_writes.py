"""Every write over HTTP is safe to retry under an Idempotency-Key: the retry gets the
first answer, marked Idempotent-Replayed, and changes nothing more."""

import uuid

import pytest
from sqlalchemy import create_engine, func, select, text

from posts.models import Post
from tests.integration.test_shop import order_body
from tests.outbox import events_delivered


def retried(api, method, path, auth=None, body=None, key=None):
    """Sends a write twice under one key; both answers."""
    headers = {**(auth or {}), "Idempotency-Key": key or str(uuid.uuid4())}
    first = api.http.request(method, path, json=body, headers=headers)
    again = api.http.request(method, path, json=body, headers=headers)
    assert "Idempotent-Replayed" not in first.headers, first.text
    assert again.headers.get("Idempotent-Replayed") == "true", again.text
    assert again.status_code == first.status_code and again.text == first.text
    return first


def test_every_write_replays_its_first_answer(shop):
    api, admin, products = shop
    signed_up = retried(api, "POST", "/users", body={
        "name": "eve", "email": "eve@example.com", "password": "correct horse"})
    assert signed_up.status_code == 201
    assert api.http.get("/users").json()["total"] == 2  # root and eve, once
    _, auth = api.user_with_token("ada")
    post = retried(api, "POST", "/posts", auth, {"title": "Hi", "body": "Words."}).json()
    assert api.http.get("/posts").json()["total"] == 1
    path = f"/posts/{post['id']}"
    assert retried(api, "PATCH", path, auth, {"title": "Hello"}).json()["title"] == "Hello"
    comment = retried(api, "POST", f"{path}/comments", auth, {"body": "Me first"}).json()
    assert api.http.get(f"{path}/comments").json()["total"] == 1
    assert retried(api, "DELETE", f"{path}/comments/{comment['id']}", auth).status_code == 204
    assert retried(api, "DELETE", path, auth).status_code == 204

    lamp = products["Desk lamp"]
    made = retried(api, "POST", "/products", admin, {
        "name": "Rug", "price": "40.00", "category": "home", "stock": 1}).json()
    assert retried(api, "PATCH", f"/products/{made['id']}", admin,
                   {"price": "45.00"}).json()["price"] == "45.00"
    assert retried(api, "DELETE", f"/products/{made['id']}", admin).status_code == 204
    order = retried(api, "POST", "/orders", auth, order_body((lamp, 1))).json()
    assert retried(api, "POST", f"/orders/{order['id']}/status", admin,
                   {"status": "paid"}).json()["status"] == "paid"
    assert retried(api, "POST", f"/orders/{order['id']}/cancel", admin).json()["status"] == \
        "cancelled"
    events_delivered(api.config, "orders")
    notification = api.http.get("/notifications", headers=auth).json()["items"][0]
    assert retried(api, "POST", f"/notifications/{notification['id']}/read",
                   auth).json()["read_at"]
    assert retried(api, "POST", "/notifications/read-all", auth).status_code == 200
    assert retried(api, "PATCH", "/users/me", auth, {"name": "ada2"}).json()["name"] == "ada2"
    # The one write whose retry cannot replay: the deletion revoked the token it carries.
    gone = {**auth, "Idempotency-Key": "leave-1"}
    assert api.http.delete("/users/me", headers=gone).status_code == 204
    assert api.http.delete("/users/me", headers=gone).status_code == 401


def test_a_key_reused_for_another_write_is_refused(api):
    _, auth = api.user_with_token("ada")
    headers = {**auth, "Idempotency-Key": "post-1"}
    assert api.http.post("/posts", json={"title": "A", "body": "a"},
                         headers=headers).status_code == 201
    other = api.http.post("/posts", json={"title": "B", "body": "b"}, headers=headers)
    assert other.status_code == 422 and other.json()["code"] == "IDEMPOTENCY_KEY_REUSED"
    assert api.http.get("/posts").json()["total"] == 1


@pytest.mark.parametrize("key", ["", "x" * 256, "ключ"])
def test_a_malformed_key_is_a_400_that_writes_nothing(api, key):
    _, auth = api.user_with_token("ada")
    response = api.http.post("/posts", json={"title": "A", "body": "a"},
                             headers={**auth, "Idempotency-Key": key.encode().decode("latin-1")})
    assert response.status_code == 400 and "idempotency_key" in response.json()["details"]
    assert api.http.get("/posts").json()["total"] == 0


def test_signing_up_twice_under_one_key_from_one_client_makes_one_account(api):
    body = {"name": "eve", "email": "eve@example.com", "password": "correct horse"}
    answers = [api.http.post("/users", json=body, headers={"Idempotency-Key": "signup-1"})
               for _ in range(3)]
    assert [answer.status_code for answer in answers] == [201, 201, 201]
    assert len({answer.json()["id"] for answer in answers}) == 1


def test_a_retry_while_the_first_still_runs_is_told_to_wait(api, config):
    """PostgreSQL: the first holds its key's lock for its transaction (held here)."""
    url = config["DB_URIS"]["posts:Base"]
    if not url.startswith("postgresql"):
        pytest.skip("SQLite runs one write at a time: the second waits, then replays")
    user, auth = api.user_with_token("ada")
    engine = create_engine(url)
    with engine.connect() as holder:
        holder.execute(select(func.pg_advisory_xact_lock(
            func.hashtextextended(f"user:{user['id']} busy-1", 0))))
        response = api.http.post("/posts", json={"title": "A", "body": "a"},
                                 headers={**auth, "Idempotency-Key": "busy-1"})
        assert response.status_code == 409, response.text
        assert response.json()["code"] == "IDEMPOTENCY_KEY_IN_FLIGHT"
        assert response.headers["Retry-After"] == "1"
        holder.execute(text("ROLLBACK"))
    engine.dispose()
    done = api.http.post("/posts", json={"title": "A", "body": "a"},
                         headers={**auth, "Idempotency-Key": "busy-1"})
    assert done.status_code == 201 and "Idempotent-Replayed" not in done.headers
    with create_engine(url).connect() as reader:
        assert reader.scalar(select(func.count()).select_from(Post)) == 1
