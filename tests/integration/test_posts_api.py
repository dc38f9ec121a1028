"""The posts and comments routes end to end, with their ownership rules."""

import uuid

import eventlet
import pytest


@pytest.fixture
def ada(api):
    return api.user_with_token("ada")


@pytest.fixture
def bob(api):
    return api.user_with_token("bob")


def test_creating_a_post_needs_a_sign_in_and_returns_its_location(api, ada):
    assert api.http.post("/posts", json={"title": "t", "body": "b"}).status_code == 401
    user, auth = ada
    response = api.http.post("/api/v1/posts", json={"title": "Hi", "body": "There"}, headers=auth)
    assert response.status_code == 201
    post = response.json()
    assert post["author_id"] == user["id"] and post["title"] == "Hi"
    assert response.headers["Location"] == f"/api/v1/posts/{post['id']}"
    assert api.http.get(f"/posts/{post['id']}").json() == post


@pytest.mark.parametrize("body", [{"title": "", "body": "b"}, {"title": "t"},
                                  {"title": "t" * 201, "body": "b"}, {"title": 1, "body": "b"}])
def test_invalid_posts_are_400_with_details(api, ada, body):
    response = api.http.post("/posts", json=body, headers=ada[1])
    assert response.status_code == 400 and response.json()["code"] == "VALIDATION_ERROR"
    assert response.json()["details"]


def test_listing_posts_pages_newest_first_and_filters_by_author(api, ada, bob):
    first = api.post(ada[1], "first")
    api.post(bob[1], "bob's")
    last = api.post(ada[1], "last")
    everything = api.http.get("/posts").json()
    assert everything["total"] == 3 and everything["items"][0]["id"] == last["id"]
    by_ada = api.http.get("/posts", params={"author_id": ada[0]["id"], "limit": 1, "page": 2})
    assert by_ada.status_code == 200
    assert [post["id"] for post in by_ada.json()["items"]] == [first["id"]]
    assert by_ada.json()["total"] == 2


@pytest.mark.parametrize("params", [{"page": "0"}, {"limit": "101"}, {"limit": "x"},
                                    {"author_id": "not-a-uuid"}])
def test_bad_list_parameters_are_400(api, params):
    response = api.http.get("/posts", params=params)
    assert response.status_code == 400 and response.json()["code"] == "VALIDATION_ERROR"


@pytest.mark.parametrize("post_id", [str(uuid.uuid4()), "not-a-uuid"])
def test_unknown_posts_are_404(api, ada, post_id):
    assert api.http.get(f"/posts/{post_id}").status_code == 404
    assert api.http.patch(f"/posts/{post_id}", json={"title": "x"},
                          headers=ada[1]).status_code == 404
    assert api.http.delete(f"/posts/{post_id}", headers=ada[1]).status_code == 404
    assert api.http.get(f"/posts/{post_id}/comments").status_code == 404


def test_someone_elses_post_is_403_and_an_admin_may_edit_it(api, ada, bob):
    post = api.post(ada[1])
    path = f"/posts/{post['id']}"
    response = api.http.patch(path, json={"title": "Mine"}, headers=bob[1])
    assert response.status_code == 403 and response.json()["code"] == "FORBIDDEN"
    assert api.http.delete(path, headers=bob[1]).status_code == 403
    _, admin = api.user_with_token("root", role="admin")
    assert api.http.patch(path, json={"title": "Moderated"}, headers=admin).status_code == 200
    assert api.http.get(path).json()["title"] == "Moderated"


def test_the_author_edits_and_deletes_and_the_comments_go_too(api, ada, bob):
    post = api.post(ada[1])
    path = f"/posts/{post['id']}"
    api.http.post(f"{path}/comments", json={"body": "Nice"}, headers=bob[1])
    edited = api.http.patch(path, json={"body": "Second thoughts"}, headers=ada[1])
    assert edited.status_code == 200 and edited.json()["body"] == "Second thoughts"
    deleted = api.http.delete(path, headers=ada[1])
    assert deleted.status_code == 204 and deleted.content == b""
    assert api.http.get(path).status_code == 404
    assert api.http.get(f"{path}/comments").status_code == 404


def test_comments_are_added_signed_in_and_listed_oldest_first(api, ada, bob):
    post = api.post(ada[1])
    path = f"/posts/{post['id']}/comments"
    assert api.http.post(path, json={"body": "anonymous"}).status_code == 401
    for n in range(3):
        response = api.http.post(path, json={"body": f"c{n}"}, headers=bob[1])
        assert response.status_code == 201 and response.json()["author_id"] == bob[0]["id"]
        eventlet.sleep(0.002)
    page = api.http.get(path, params={"limit": 2}).json()
    assert [c["body"] for c in page["items"]] == ["c0", "c1"] and page["total"] == 3
    assert api.http.get(path, params={"page": "-1"}).status_code == 400
    assert api.http.post(path, json={"body": ""}, headers=bob[1]).status_code == 400


def test_who_may_delete_a_comment(api, ada, bob):
    post = api.post(ada[1])
    path = f"/posts/{post['id']}/comments"
    _, carol = api.user_with_token("carol")
    by_bob = [api.http.post(path, json={"body": "x"}, headers=bob[1]).json() for _ in range(2)]
    assert api.http.delete(f"{path}/{by_bob[0]['id']}", headers=carol).status_code == 403
    assert api.http.delete(f"{path}/{by_bob[0]['id']}", headers=bob[1]).status_code == 204
    assert api.http.delete(f"{path}/{by_bob[1]['id']}", headers=ada[1]).status_code == 204
    assert api.http.delete(f"{path}/{by_bob[1]['id']}", headers=ada[1]).status_code == 404
    assert api.http.get(path).json()["total"] == 0


def test_a_deleted_users_posts_and_comments_disappear(api, ada, bob):
    ada_post = api.post(ada[1])
    bob_post = api.post(bob[1])
    api.http.post(f"/posts/{bob_post['id']}/comments", json={"body": "hi"}, headers=ada[1])
    assert api.http.get(f"/posts/{ada_post['id']}").status_code == 200  # now cached
    assert api.http.delete(f"/users/{ada[0]['id']}", headers=ada[1]).status_code == 204
    for _ in range(100):  # removal follows the user_deleted event
        if api.http.get("/posts", params={"author_id": ada[0]["id"]}).json()["total"] == 0:
            break
        eventlet.sleep(0.02)
    assert api.http.get("/posts", params={"author_id": ada[0]["id"]}).json()["total"] == 0
    assert api.http.get(f"/posts/{ada_post['id']}").status_code == 404
    assert api.http.get(f"/posts/{bob_post['id']}/comments").json()["total"] == 0
