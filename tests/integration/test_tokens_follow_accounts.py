"""A token follows its account: a password change ends the tokens issued before it, a role
change applies to them at once, whether made through the gateway or from `nameko shell`."""

import time
import uuid

import pytest
from nameko.standalone.events import event_dispatcher
from nameko.standalone.rpc import ClusterRpcProxy

from tests.outbox import events_delivered

PRODUCT = {"name": "Lamp", "price": "10.00", "stock": 1, "category": "home"}


def eventually(request, status, seconds=2.0):
    """The answer of request() once it is status (changes made elsewhere come by event)."""
    deadline = time.monotonic() + seconds
    while True:
        response = request()
        if response.status_code == status or time.monotonic() > deadline:
            return response
        time.sleep(0.02)


def test_a_demoted_admin_is_a_user_at_once_with_the_old_token(api):
    admin, admin_auth = api.user_with_token("root", role="admin")
    _, other_admin = api.user_with_token("boss", role="admin")
    assert api.http.post("/products", json=PRODUCT, headers=admin_auth).status_code == 201
    demoted = api.http.patch(f"/users/{admin['id']}", json={"role": "user"},
                             headers=other_admin)
    assert demoted.status_code == 200 and demoted.json()["role"] == "user"
    refused = api.http.post("/products", json=PRODUCT, headers=admin_auth)
    assert refused.status_code == 403 and refused.json()["code"] == "FORBIDDEN"
    me = api.http.get("/users/me", headers=admin_auth)  # still signed in, as a user
    assert me.status_code == 200 and me.json()["role"] == "user"


def test_a_role_change_from_nameko_shell_reaches_the_tokens_too(api):
    user, auth = api.user_with_token("ada")
    with ClusterRpcProxy(api.config) as rpc:
        rpc.users.set_role(user["id"], "admin")
    created = eventually(lambda: api.http.post("/products", json=PRODUCT, headers=auth), 201)
    assert created.status_code == 201, created.text
    with ClusterRpcProxy(api.config) as rpc:
        rpc.users.set_role(user["id"], "user")
    refused = eventually(lambda: api.http.post("/products", json=PRODUCT, headers=auth), 403)
    assert refused.status_code == 403


@pytest.mark.parametrize("through_shell", [False, True])
def test_a_password_change_ends_every_older_token_and_a_new_sign_in_works(api, through_shell):
    user, old_auth = api.user_with_token("ada")
    if through_shell:
        with ClusterRpcProxy(api.config) as rpc:
            rpc.users.update_user(user["id"], {"password": "a new horse"}, {"role": "admin"})
    else:
        changed = api.http.patch(f"/users/{user['id']}", json={"password": "a new horse"},
                                 headers=old_auth)
        assert changed.status_code == 200
    refused = eventually(lambda: api.http.get("/users/me", headers=old_auth), 401)
    assert refused.status_code == 401 and "password" in refused.json()["error"]
    assert api.http.post("/signin", json={"email": user["email"],
                                          "password": "correct horse"}).status_code == 401
    new_auth = {"Authorization": f"Bearer {api.sign_in(user['email'], 'a new horse')}"}
    assert api.http.get("/users/me", headers=new_auth).status_code == 200


def test_a_name_change_ends_no_token(api):
    user, auth = api.user_with_token("ada")
    assert api.http.patch(f"/users/{user['id']}", json={"name": "lovelace"},
                          headers=auth).status_code == 200
    assert api.http.get("/users/me", headers=auth).json()["name"] == "lovelace"


def test_a_promotion_event_delivered_after_the_demotion_grants_nothing(api, redis_client):
    """Events can arrive late (a retried delivery): the older role never comes back."""
    user, auth = api.user_with_token("ada")
    _, admin = api.user_with_token("root", role="admin")
    promoted = api.http.patch(f"/users/{user['id']}", json={"role": "admin"}, headers=admin)
    assert promoted.status_code == 200
    demoted = api.http.patch(f"/users/{user['id']}", json={"role": "user"}, headers=admin)
    assert demoted.status_code == 200
    events_delivered(api.config, "users")
    dispatch = event_dispatcher(api.config)
    dispatch("users", "user_updated", {**promoted.json(), "changed": ["role"],
                                       "event_id": str(uuid.uuid4())})
    time.sleep(0.5)  # the gateway handles it in milliseconds
    assert redis_client.hget(f"account:{user['id']}", "role") == "user"
    refused = api.http.post("/products", json=PRODUCT, headers=auth)
    assert refused.status_code == 403, refused.text
