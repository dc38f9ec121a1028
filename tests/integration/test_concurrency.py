"""The same request many times at once: one account, one order."""

import collections
import uuid

import eventlet

from tests.integration.test_shop import order_body, stock_of


def test_parallel_sign_ups_with_one_email_make_one_account(api):
    def sign_up(n):
        return api.http.post("/users", json={
            "name": f"twin{n}", "email": "Twin@Example.com" if n % 2 else "twin@example.com",
            "password": "correct horse"}).status_code

    statuses = collections.Counter(eventlet.GreenPool(20).imap(sign_up, range(20)))
    assert statuses == {201: 1, 409: 19}, statuses
    assert api.http.post("/signin", json={"email": "twin@example.com",
                                          "password": "correct horse"}).status_code == 200


def test_parallel_replays_of_one_idempotent_order_make_one_order(shop):
    api, _, products = shop
    lamp = products["Desk lamp"]
    _, auth = api.user_with_token("ada")
    headers = {**auth, "Idempotency-Key": str(uuid.uuid4())}
    body = order_body((lamp, 2))

    def place(_):
        response = api.http.post("/orders", json=body, headers=headers)
        return (response.status_code, response.headers.get("Idempotent-Replayed"),
                response.json().get("id") or response.text)

    answers = list(eventlet.GreenPool(20).imap(place, range(20)))
    assert {status for status, _, _ in answers} == {201}, answers
    assert [replayed for _, replayed, _ in answers].count(None) == 1  # the first; the rest
    assert len({order_id for _, _, order_id in answers}) == 1
    assert api.http.get("/orders", headers=auth).json()["total"] == 1
    assert stock_of(api, lamp) == 8
