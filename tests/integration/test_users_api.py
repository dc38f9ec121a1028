"""The users routes end to end: HTTP → gateway → RPC → users service → SQLite."""

import pytest


def test_sign_up_returns_the_user_and_its_location(api):
    response = api.http.post("/users", json={
        "name": "ada", "email": "Ada@Example.com", "password": "correct horse"})
    assert response.status_code == 201
    user = response.json()
    assert response.headers["Location"] == f"/users/{user['id']}"
    assert response.headers["Content-Type"] == "application/json"
    assert user["email"] == "ada@example.com" and user["role"] == "user"
    assert not {"password", "password_hash"} & set(user)


def test_routes_are_served_under_api_v1_too(api):
    response = api.http.post("/api/v1/users", json={
        "name": "ada", "email": "ada@example.com", "password": "correct horse"})
    assert response.status_code == 201
    assert response.headers["Location"] == f"/api/v1/users/{response.json()['id']}"
    assert api.http.get(response.headers["Location"]).status_code == 200


def test_sign_in_returns_a_bearer_token(api):
    user = api.sign_up()
    response = api.http.post("/signin", json={"email": "ada@example.com",
                                              "password": "correct horse"})
    assert response.status_code == 200
    body = response.json()
    assert body["token_type"] == "Bearer" and body["expires_in"] == 3600
    assert body["user"]["id"] == user["id"] and "token" in body


def test_wrong_password_and_unknown_email_get_the_same_401(api):
    api.sign_up()
    wrong = api.http.post("/signin", json={"email": "ada@example.com", "password": "nope nope"})
    unknown = api.http.post("/signin", json={"email": "bob@example.com",
                                             "password": "correct horse"})
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json()["error"] == unknown.json()["error"]
    assert wrong.json()["code"] == unknown.json()["code"] == "UNAUTHORIZED"


def test_me_needs_a_token_and_shows_the_own_email(api):
    response = api.http.get("/users/me")
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == "Bearer"
    user, auth = api.user_with_token()
    me = api.http.get("/users/me", headers=auth)
    assert me.status_code == 200 and me.json() == user


def test_a_profile_shows_the_email_only_to_its_owner_and_admins(api):
    ada, ada_auth = api.user_with_token("ada")
    _, bob_auth = api.user_with_token("bob")
    _, admin_auth = api.user_with_token("root", role="admin")
    path = f"/users/{ada['id']}"
    assert "email" not in api.http.get(path).json()
    assert "email" not in api.http.get(path, headers=bob_auth).json()
    assert api.http.get(path, headers=ada_auth).json()["email"] == "ada@example.com"
    assert api.http.get(path, headers=admin_auth).json()["email"] == "ada@example.com"


def test_listing_users_pages_public_profiles(api):
    for name in ("ann", "ben", "cat"):
        api.sign_up(name)
    response = api.http.get("/users", params={"page": 2, "limit": 2})
    assert response.status_code == 200
    body = response.json()
    assert (body["page"], body["limit"], body["total"]) == (2, 2, 3)
    assert [user["name"] for user in body["items"]] == ["cat"]
    assert "email" not in body["items"][0]


@pytest.mark.parametrize("params", [{"page": "0"}, {"limit": "101"}, {"limit": "ten"}])
def test_bad_paging_values_are_400(api, params):
    response = api.http.get("/users", params=params)
    assert response.status_code == 400
    assert response.json()["code"] == "VALIDATION_ERROR"
    assert set(response.json()["details"]) <= {"page", "limit"}


def test_updating_oneself_works_and_someone_else_is_forbidden(api):
    ada, ada_auth = api.user_with_token("ada")
    bob, _ = api.user_with_token("bob")
    response = api.http.patch(f"/users/{ada['id']}", json={"name": "Ada L"}, headers=ada_auth)
    assert response.status_code == 200 and response.json()["name"] == "Ada L"
    response = api.http.patch(f"/users/{bob['id']}", json={"name": "x"}, headers=ada_auth)
    assert response.status_code == 403 and response.json()["code"] == "FORBIDDEN"
    assert api.http.get(f"/users/{bob['id']}").json()["name"] == "bob"


def test_only_admins_change_roles(api):
    ada, ada_auth = api.user_with_token("ada")
    _, admin_auth = api.user_with_token("root", role="admin")
    path = f"/users/{ada['id']}"
    assert api.http.patch(path, json={"role": "admin"}, headers=ada_auth).status_code == 403
    response = api.http.patch(path, json={"role": "admin"}, headers=admin_auth)
    assert response.status_code == 200 and response.json()["role"] == "admin"


def test_updating_an_unknown_user_is_404(api):
    _, auth = api.user_with_token()
    for user_id in ("5b9b0f52-4b1c-4a59-9a5e-0a8e54d7a0c1", "not-a-uuid"):
        response = api.http.patch(f"/users/{user_id}", json={"name": "x"}, headers=auth)
        assert response.status_code == 404 and response.json()["code"] == "NOT_FOUND"


def test_signed_out_changes_are_401(api):
    ada = api.sign_up()
    assert api.http.patch(f"/users/{ada['id']}", json={"name": "x"}).status_code == 401
    assert api.http.delete(f"/users/{ada['id']}").status_code == 401


def test_duplicate_email_is_409(api):
    api.sign_up("ada", "ada@example.com")
    response = api.http.post("/users", json={"name": "other", "email": "ADA@example.com",
                                             "password": "correct horse"})
    assert response.status_code == 409
    assert response.json()["code"] == "CONFLICT" and "email" in response.json()["details"]


def test_deleting_someone_else_is_forbidden(api):
    ada, _ = api.user_with_token("ada")
    _, bob_auth = api.user_with_token("bob")
    assert api.http.delete(f"/users/{ada['id']}", headers=bob_auth).status_code == 403
    assert api.http.get(f"/users/{ada['id']}").status_code == 200


def test_a_deleted_users_token_stops_working_at_once(api):
    ada, auth = api.user_with_token()
    response = api.http.delete(f"/users/{ada['id']}", headers=auth)
    assert response.status_code == 204 and response.content == b""
    assert api.http.get(f"/users/{ada['id']}").status_code == 404
    for _ in range(50):  # the revocation arrives by event, within milliseconds
        me = api.http.get("/users/me", headers=auth)
        if me.status_code == 401:
            break
    assert me.status_code == 401 and me.json()["code"] == "UNAUTHORIZED"


def test_an_admin_may_delete_anyone(api):
    ada, _ = api.user_with_token("ada")
    _, admin_auth = api.user_with_token("root", role="admin")
    assert api.http.delete(f"/users/{ada['id']}", headers=admin_auth).status_code == 204


def test_the_signed_in_user_changes_and_deletes_itself_at_users_me(api):
    user, auth = api.user_with_token("ada")
    options = api.http.options("/users/me")
    assert options.headers["Allow"] == "DELETE, GET, HEAD, PATCH"  # each of them served
    changed = api.http.patch("/users/me", json={"name": "lovelace"}, headers=auth)
    assert changed.status_code == 200 and changed.json()["id"] == user["id"]
    assert api.http.get("/users/me", headers=auth).json()["name"] == "lovelace"
    assert api.http.patch("/users/me", json={}, headers=auth).status_code == 400
    assert api.http.patch("/users/me", json={"name": "x"}).status_code == 401
    assert api.http.delete("/users/me", headers=auth).status_code == 204
    assert api.http.get(f"/users/{user['id']}").status_code == 404
    assert api.http.get("/users/me", headers=auth).status_code == 401
