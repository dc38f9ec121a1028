"""The gateway's own routes: health, the health of the services behind it, and info."""


def test_health_is_the_gateway_alone(api):
    response = api.http.get("/health")
    assert response.status_code == 200 and response.json() == {"status": "ok"}


def test_health_of_services_reports_each_with_its_latency(api):
    response = api.http.get("/health/services")
    assert response.status_code == 200
    users = response.json()["services"]["users"]
    assert users["status"] == "ok" and users["latency_ms"] >= 0


def test_info_names_the_system(api):
    body = api.http.get("/api/v1/info").json()
    assert body["name"] == "nameko-shop" and body["version"]
    assert body["uptime_seconds"] >= 0 and "users" in body["services"]
