"""PATCH /products/{id}/stock: an admin's stock keeping over HTTP (before, only the shell
could), safe to retry under an Idempotency-Key."""


def test_an_admin_keeps_stock_over_http_and_a_retry_changes_nothing_twice(shop):
    api, admin, products = shop
    mug = products["Mug"]  # 3 in stock
    path = f"/products/{mug['id']}/stock"
    assert api.http.get(f"/products/{mug['id']}").json()["stock"] == 3  # cached now
    keyed = {**admin, "Idempotency-Key": "restock-mugs-1"}
    first = api.http.patch(path, headers=keyed, json={"delta": 10})
    again = api.http.patch(path, headers=keyed, json={"delta": 10})
    assert first.status_code == again.status_code == 200
    assert first.json()["stock"] == again.json()["stock"] == 13
    assert again.headers["Idempotent-Replayed"] == "true"
    assert api.http.get(f"/products/{mug['id']}").json()["stock"] == 13  # not the cached 3
    counted = api.http.patch(path, headers=admin, json={"stock": 40})
    assert counted.status_code == 200 and counted.json()["stock"] == 40


def test_stock_keeping_refuses_users_bad_bodies_and_negative_stock(shop):
    api, admin, products = shop
    path = f"/products/{products['Mug']['id']}/stock"
    _, user = api.user_with_token("ada")
    assert api.http.patch(path, headers=user, json={"delta": 1}).status_code == 403
    assert api.http.patch(path, json={"delta": 1}).status_code == 401
    both = api.http.patch(path, headers=admin, json={"delta": 1, "stock": 1})
    assert both.status_code == 400 and both.json()["code"] == "VALIDATION_ERROR"
    below = api.http.patch(path, headers=admin, json={"delta": -4})
    assert below.status_code == 409 and below.json()["details"] == {"delta": ["Stock is 3."]}
    missing = api.http.patch("/products/00000000-0000-4000-8000-000000000000/stock",
                             headers=admin, json={"delta": 1})
    assert missing.status_code == 404
