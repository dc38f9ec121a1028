"""Every route under /api too, for clients written for the systems this one replaces
(/api/users, /api/products, /api/orders/{id}/details, ...), as under /api/v1."""

ADDRESS = {"line1": "1 Main St", "city": "Berlin", "postal_code": "10115", "country": "DE"}


def test_clients_of_the_old_systems_get_every_route_under_api(shop):
    api, admin, products = shop
    signed_up = api.http.post("/api/users", json={
        "name": "ada", "email": "ada@example.com", "password": "correct horse"})
    assert signed_up.status_code == 201
    assert signed_up.headers["Location"] == f"/api/users/{signed_up.json()['id']}"
    token = api.http.post("/api/signin", json={"email": "ada@example.com",
                                                "password": "correct horse"}).json()["token"]
    ada = {"Authorization": f"Bearer {token}"}
    lamp = products["Desk lamp"]
    reads = [api.http.get(f"/api/products/{lamp['id']}") for _ in range(2)]
    assert [read.headers["X-Cache"] for read in reads] == ["MISS", "HIT"]
    assert reads[1].json() == api.http.get(f"/products/{lamp['id']}").json()
    placed = api.http.post("/api/orders", headers=ada, json={
        "items": [{"product_id": lamp["id"], "quantity": 1}], "shipping_address": ADDRESS})
    assert placed.status_code == 201
    assert placed.headers["Location"].startswith("/api/orders/")
    details = api.http.get(f"/api/orders/{placed.json()['id']}/details", headers=ada)
    assert details.status_code == 200
    assert api.http.get("/api/health").json() == {"status": "ok"}
    assert api.http.get("/api/no-such-route").status_code == 404
    assert api.http.patch(f"/api/products/{lamp['id']}/stock", headers=admin,
                          json={"delta": 1}).status_code == 200
