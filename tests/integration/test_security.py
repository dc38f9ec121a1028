"""OWASP API Security Top 10 (2023), tried against the running system through HTTP.

README's "Security checklist" maps each item to the tests here.
"""

import base64
import hashlib
import hmac
import json
import statistics
import time
import uuid

import pytest

from tests.integration.test_shop import ADDRESS

# --- API1 broken object level authorization ---------------------------------------


@pytest.fixture
def two_users_and_adas_things(api):
    """ada owns a post, a comment, an order and a notification; bob owns nothing."""
    _, admin = api.user_with_token("root", role="admin")
    product = api.http.post("/products", headers=admin, json={
        "name": "Mug", "price": "8.50", "category": "kitchen", "stock": 5}).json()
    ada, ada_auth = api.user_with_token("ada")
    bob, bob_auth = api.user_with_token("bob")
    post = api.post(ada_auth, title="Ada's post")
    comment = api.http.post(f"/posts/{post['id']}/comments", headers=ada_auth,
                            json={"body": "Ada's comment"}).json()
    order = api.http.post("/orders", headers=ada_auth, json={
        "items": [{"product_id": product["id"], "quantity": 1}],
        "shipping_address": ADDRESS}).json()
    deadline = time.monotonic() + 3
    notifications: list[dict] = []
    while not notifications and time.monotonic() < deadline:
        notifications = api.http.get("/notifications", headers=ada_auth).json()["items"]
    assert notifications, "ada's welcome notification never came"
    return {"ada": ada, "ada_auth": ada_auth, "bob": bob, "bob_auth": bob_auth,
            "post": post, "comment": comment, "order": order,
            "notification": notifications[0], "product": product}


def someone_elses_requests(t):
    post, order = t["post"]["id"], t["order"]["id"]
    return [
        ("PATCH", f"/posts/{post}", {"title": "mine now"}),
        ("DELETE", f"/posts/{post}", None),
        ("DELETE", f"/posts/{post}/comments/{t['comment']['id']}", None),
        ("PATCH", f"/users/{t['ada']['id']}", {"name": "mallory"}),
        ("DELETE", f"/users/{t['ada']['id']}", None),
        ("GET", f"/orders/{order}", None),
        ("GET", f"/orders/{order}/details", None),
        ("POST", f"/orders/{order}/cancel", None),
        ("POST", f"/notifications/{t['notification']['id']}/read", None),
        ("GET", f"/orders?user_id={t['ada']['id']}", None),
    ]


def test_no_route_with_an_id_gives_another_user_anything(api, two_users_and_adas_things):
    t = two_users_and_adas_things
    for method, path, body in someone_elses_requests(t):
        response = api.http.request(method, path, headers=t["bob_auth"], json=body)
        assert response.status_code in (403, 404), (method, path, response.status_code)
        text = response.text
        assert "error" in response.json()
        for secret in (t["ada"]["email"], "Ada's", ADDRESS["line1"], t["order"]["total"]):
            assert secret not in text, (method, path, secret)
    # ... and nothing of ada's changed
    ada = t["ada_auth"]
    assert api.http.get(f"/posts/{t['post']['id']}").json()["title"] == "Ada's post"
    assert api.http.get(f"/orders/{t['order']['id']}", headers=ada).json()["status"] == "placed"
    assert api.http.get("/users/me", headers=ada).json()["name"] == "ada"
    unread = api.http.get("/notifications?unread=true", headers=ada).json()["items"]
    assert t["notification"]["id"] in [n["id"] for n in unread]


def test_another_users_profile_shows_no_email(api, two_users_and_adas_things):
    t = two_users_and_adas_things
    auth: dict[str, str]
    for auth in (t["bob_auth"], {}):
        response = api.http.get(f"/users/{t['ada']['id']}", headers=auth)
        assert response.status_code == 200
        assert t["ada"]["email"] not in response.text
    listing = api.http.get("/users?limit=100", headers=t["bob_auth"]).text
    assert t["ada"]["email"] not in listing


# --- API2 broken authentication ---------------------------------------------------------


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def forge(header: dict, claims: dict, key: str | None) -> str:
    """A JWT made by hand, so any header (alg none, RS256 over an HMAC) can be tried."""
    signing_input = f"{b64(json.dumps(header).encode())}.{b64(json.dumps(claims).encode())}"
    signature = b"" if key is None else hmac.new(
        key.encode(), signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64(signature)}"


def valid_claims(user_id: str, **overrides) -> dict:
    now = int(time.time())
    return {"sub": user_id, "role": "admin", "iat": now, "exp": now + 600,
            "iss": "nameko-shop", "aud": "nameko-shop-api", **overrides}


def bad_tokens(secret: str, user_id: str) -> dict[str, str]:
    hs256 = {"alg": "HS256", "typ": "JWT"}
    now = int(time.time())
    return {
        "alg none": forge({"alg": "none", "typ": "JWT"}, valid_claims(user_id), None),
        "alg None": forge({"alg": "None"}, valid_claims(user_id), None),
        "RS256 header, HMAC signature": forge({"alg": "RS256"}, valid_claims(user_id), secret),
        "HS512 header": forge({"alg": "HS512"}, valid_claims(user_id), secret),
        "wrong key": forge(hs256, valid_claims(user_id), secret + "x"),
        "expired": forge(hs256, valid_claims(user_id, exp=now - 5), secret),
        "not yet valid": forge(hs256, valid_claims(user_id, nbf=now + 600), secret),
        "wrong issuer": forge(hs256, valid_claims(user_id, iss="elsewhere"), secret),
        "wrong audience": forge(hs256, valid_claims(user_id, aud="another-api"), secret),
        "no subject": forge(hs256, {k: v for k, v in valid_claims(user_id).items()
                                    if k != "sub"}, secret),
        "no expiry": forge(hs256, {k: v for k, v in valid_claims(user_id).items()
                                   if k != "exp"}, secret),
        "unknown role": forge(hs256, valid_claims(user_id, role="root"), secret),
        "signature stripped": forge(hs256, valid_claims(user_id), secret).rsplit(".", 1)[0] + ".",
        "two parts": "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0",
        "garbage": "not-a-token",
        "non-ascii": "ünïcødé.ünïcødé.ünïcødé",
        "huge": "a" * 6000,
    }


def test_every_forged_or_broken_token_is_401(api):
    user, _ = api.user_with_token("ada")
    for name, token in bad_tokens(api.config["JWT_SECRET"], user["id"]).items():
        for method, path in (("GET", "/users/me"), ("POST", "/posts"), ("GET", "/orders")):
            response = api.http.request(method, path, json={"title": "t", "body": "b"},
                                        headers={"Authorization": f"Bearer {token}"})
            assert response.status_code == 401, (name, method, path, response.text)
            assert response.json()["code"] == "UNAUTHORIZED"
    forged_admin = forge({"alg": "HS256"}, valid_claims(user["id"]), api.config["JWT_SECRET"])
    assert api.http.get("/users/me", headers={  # the check itself is sound: a real one passes
        "Authorization": f"Bearer {forged_admin}"}).status_code == 200


def sign_in_seconds(api, email: str, password: str) -> float:
    started = time.perf_counter()
    response = api.http.post("/signin", json={"email": email, "password": password})
    elapsed = time.perf_counter() - started
    assert response.status_code == 401
    return elapsed


def test_unknown_email_and_wrong_password_take_the_same_time(start_system):
    _, api = start_system(BCRYPT_ROUNDS=8)  # ~15 ms a hash: well above the noise
    api.sign_up("ada")
    unknown, wrong = [], []
    for _ in range(25):  # interleaved, so the machine's moods hit both alike
        unknown.append(sign_in_seconds(api, "nobody@example.com", "correct horse"))
        wrong.append(sign_in_seconds(api, "ada@example.com", "wrong horse"))
    fast, slow = sorted((statistics.median(unknown), statistics.median(wrong)))
    assert slow <= fast * 1.15, (statistics.median(unknown), statistics.median(wrong))


def test_guessing_passwords_hits_the_sign_in_limit_and_then_even_the_right_one_waits(
        start_system):
    _, api = start_system(SIGNIN_RATE_LIMIT_MAX=5)
    user = api.sign_up("ada")
    statuses = [api.http.post("/signin", json={"email": user["email"],
                                              "password": f"guess {i}"}).status_code
                for i in range(8)]
    assert statuses[:4] == [401] * 4 and statuses[-1] == 429  # sign-up used one
    right = api.http.post("/signin", json={"email": user["email"], "password": "correct horse"})
    assert right.status_code == 429 and int(right.headers["Retry-After"]) > 0


# --- API3 broken object property level authorization --------------------------------


@pytest.mark.parametrize("body_extra", [
    {"role": "admin"}, {"id": str(uuid.uuid4())}, {"created_at": "2000-01-01T00:00:00Z"}])
def test_sign_up_cannot_set_protected_properties(api, body_extra):
    response = api.http.post("/users", json={
        "name": "eve", "email": "eve@example.com", "password": "correct horse", **body_extra})
    assert response.status_code == 400
    assert list(body_extra) == list(response.json()["details"])


def test_protected_properties_in_writes_are_refused(api, two_users_and_adas_things):
    t = two_users_and_adas_things
    ada, post = t["ada_auth"], t["post"]["id"]
    attempts = [
        ("POST", "/posts", {"title": "t", "body": "b", "author_id": t["bob"]["id"]}),
        ("POST", "/posts", {"title": "t", "body": "b", "id": str(uuid.uuid4())}),
        ("PATCH", f"/posts/{post}", {"author_id": t["bob"]["id"]}),
        ("PATCH", f"/posts/{post}", {"created_at": "2000-01-01T00:00:00Z"}),
        ("POST", f"/posts/{post}/comments", {"body": "b", "author_id": t["bob"]["id"]}),
        ("PATCH", f"/users/{t['ada']['id']}", {"id": str(uuid.uuid4())}),
        ("PATCH", f"/users/{t['ada']['id']}", {"password_hash": "x"}),
        ("POST", "/orders", {"items": [{"product_id": t["product"]["id"], "quantity": 1}],
                             "shipping_address": ADDRESS, "user_id": t["bob"]["id"]}),
        ("POST", "/orders", {"items": [{"product_id": t["product"]["id"], "quantity": 1,
                                        "unit_price": "0.01"}], "shipping_address": ADDRESS}),
        ("POST", "/orders", {"items": [{"product_id": t["product"]["id"], "quantity": 1}],
                             "shipping_address": ADDRESS, "status": "shipped"}),
    ]
    for method, path, body in attempts:
        response = api.http.request(method, path, headers=ada, json=body)
        assert response.status_code == 400, (method, path, body, response.text)
        assert response.json()["code"] == "VALIDATION_ERROR"
    role = api.http.patch(f"/users/{t['ada']['id']}", headers=ada, json={"role": "admin"})
    assert role.status_code == 403
    assert api.http.get("/users/me", headers=ada).json()["role"] == "user"


# --- API4 unrestricted resource consumption --------------------------------------------


def test_deep_or_huge_json_is_a_clean_400(api):
    _, auth = api.user_with_token("ada")
    headers = {**auth, "Content-Type": "application/json"}
    deep = "[" * 20_000 + "]" * 20_000  # inside the body limit
    just_parsable = "[" * 900 + "]" * 900  # deep enough to trouble whatever walks it next
    for body in (deep, '{"title": ' + deep + "}", '{"a":' * 8_000 + "1" + "}" * 8_000,
                 '{"title": ' + just_parsable + ', "body": "b"}',
                 '{"title": "t", "body": "b", "extra": ' + just_parsable + "}"):
        response = api.http.post("/posts", data=body, headers=headers)
        assert response.status_code == 400, response.text[:200]
        assert response.json()["code"] in ("MALFORMED_JSON", "VALIDATION_ERROR"), response.text


@pytest.mark.parametrize("title", [
    "x" * 30_000,                 # far over the field's limit, inside the body limit
    "nul \u0000 inside",          # PostgreSQL text cannot hold NUL
    "lone \ud800 surrogate",      # not encodable as UTF-8
    "   ",                        # blank
])
def test_hostile_strings_are_a_clean_400(api, title):
    _, auth = api.user_with_token("ada")
    response = api.http.post("/posts", headers={**auth, "Content-Type": "application/json"},
                             data=json.dumps({"title": title, "body": "b"}))
    assert response.status_code == 400, response.text[:300]
    assert response.json()["code"] == "VALIDATION_ERROR"


def test_unicode_that_is_valid_goes_in_and_comes_back_unchanged(api):
    _, auth = api.user_with_token("ada")
    title = "Zoë 👩🏽‍💻 مرحبا e\u0301 \u200b"  # emoji ZWJ sequence, RTL, combining, zero width
    post = api.http.post("/posts", headers=auth, json={"title": title, "body": "ß" * 100})
    assert post.status_code == 201, post.text
    assert api.http.get(f"/posts/{post.json()['id']}").json()["title"] == title.strip()


@pytest.mark.parametrize("query", [
    "limit=101", "limit=100000", "limit=-1", "page=0", "page=99999999999999999999",
    "page=1e3", "limit=nan", "author_id=" + "f" * 5000])
def test_paging_beyond_the_caps_is_400(api, query):
    response = api.http.get(f"/posts?{query}")
    assert response.status_code == 400, (query, response.text[:200])


def test_long_or_odd_ids_are_a_clean_404(api):
    for post_id in ("x" * 5000, "%00", "..%2F..%2Fetc", "1 OR 1=1", str(uuid.uuid4())):
        response = api.http.get(f"/posts/{post_id}")
        assert response.status_code == 404, (post_id, response.status_code)


# --- API5 broken function level authorization ------------------------------------------


def test_every_admin_route_is_403_for_a_user(api, two_users_and_adas_things):
    t = two_users_and_adas_things
    product, order = t["product"]["id"], t["order"]["id"]
    for method, path, body in [
        ("POST", "/products", {"name": "Free", "price": "0.00", "category": "x", "stock": 1}),
        ("PATCH", f"/products/{product}", {"price": "0.01"}),
        ("PATCH", f"/products/{product}", {"stock": 1000}),
        ("DELETE", f"/products/{product}", None),
        ("POST", f"/orders/{order}/status", {"status": "shipped"}),
    ]:
        response = api.http.request(method, path, headers=t["ada_auth"], json=body)
        assert response.status_code == 403, (method, path, response.text)
    assert api.http.get(f"/products/{product}").json()["price"] == "8.50"
