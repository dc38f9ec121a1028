"""The posts service's rules, run with nameko's worker_factory on a real SQLite database."""

import time
import uuid

import pytest
from nameko.testing.services import worker_factory

from posts.models import Base, Outbox
from posts.service import PostsService
from shop.errors import Forbidden, InvalidInput, NotFound
from shop.outbox import Emitter
from tests.outbox import written_events

ADA = {"id": str(uuid.uuid4()), "role": "user"}
BOB = {"id": str(uuid.uuid4()), "role": "user"}
ADMIN = {"role": "admin"}


@pytest.fixture
def service(sqlite_db):
    return worker_factory(PostsService, db=sqlite_db(Base), outbox=Emitter(Outbox, {}))


def new_post(service, actor=ADA, title="Hello"):
    return service.create_post({"title": title, "body": "First words."}, actor=actor)


def events(service, name):
    return written_events(service, Outbox, name)


def test_a_post_is_authored_by_its_actor(service):
    post = new_post(service)
    assert post["author_id"] == ADA["id"]
    assert service.get_post(post["id"]) == post
    assert events(service, "post_created") == [
        {"id": post["id"], "author_id": ADA["id"], "title": "Hello"}]


def test_an_operator_without_an_id_cannot_author(service):
    with pytest.raises(InvalidInput):
        new_post(service, actor=ADMIN)


@pytest.mark.parametrize("data", [
    {"title": "", "body": "x"}, {"title": "   ", "body": "x"}, {"title": "x" * 201, "body": "x"},
    {"title": "x", "body": "x" * 20_001}, {"title": "x"}, {"title": "x", "body": "y", "z": 1},
])
def test_bad_posts_are_invalid(service, data):
    with pytest.raises(InvalidInput):
        service.create_post(data, actor=ADA)


def test_only_the_author_or_an_admin_changes_a_post(service):
    post = new_post(service)
    with pytest.raises(Forbidden):
        service.update_post(post["id"], {"title": "Mine now"}, actor=BOB)
    assert service.update_post(post["id"], {"title": "Edited"}, actor=ADA)["title"] == "Edited"
    assert service.update_post(post["id"], {"body": "By admin"}, actor=ADMIN)["body"] == "By admin"
    assert events(service, "post_updated")[-1] == {
        "id": post["id"], "author_id": ADA["id"], "changed": ["body"]}


def test_deleting_a_post_takes_its_comments(service):
    post = new_post(service)
    service.add_comment(post["id"], {"body": "Nice"}, actor=BOB)
    with pytest.raises(Forbidden):
        service.delete_post(post["id"], actor=BOB)
    service.delete_post(post["id"], actor=ADA)
    with pytest.raises(NotFound):
        service.list_comments(post["id"])
    assert events(service, "post_deleted") == [{"id": post["id"], "author_id": ADA["id"]}]


def test_comment_added_names_the_posts_author(service):
    post = new_post(service)
    comment = service.add_comment(post["id"], {"body": "Nice"}, actor=BOB)
    assert events(service, "comment_added") == [{
        "id": comment["id"], "post_id": post["id"], "author_id": BOB["id"],
        "post_author_id": ADA["id"]}]


def test_commenting_on_an_unknown_post_is_not_found(service):
    with pytest.raises(NotFound):
        service.add_comment(str(uuid.uuid4()), {"body": "Hi"}, actor=BOB)


def test_who_may_delete_a_comment(service):
    post = new_post(service)
    carol = {"id": str(uuid.uuid4()), "role": "user"}
    comments = [service.add_comment(post["id"], {"body": str(n)}, actor=BOB) for n in range(3)]
    with pytest.raises(Forbidden):
        service.delete_comment(post["id"], comments[0]["id"], actor=carol)
    service.delete_comment(post["id"], comments[0]["id"], actor=BOB)     # its author
    service.delete_comment(post["id"], comments[1]["id"], actor=ADA)     # the post's author
    service.delete_comment(post["id"], comments[2]["id"], actor=ADMIN)   # an admin
    assert service.list_comments(post["id"])["total"] == 0


def test_a_comment_is_found_only_under_its_own_post(service):
    post, other = new_post(service), new_post(service, title="Other")
    comment = service.add_comment(post["id"], {"body": "Hi"}, actor=BOB)
    with pytest.raises(NotFound):
        service.delete_comment(other["id"], comment["id"], actor=ADMIN)


def test_posts_list_newest_first_and_filter_by_author(service):
    first = new_post(service, title="first")
    time.sleep(0.002)
    new_post(service, actor=BOB, title="bob's")
    time.sleep(0.002)
    third = new_post(service, title="third")
    page = service.list_posts(author_id=ADA["id"])
    assert [post["id"] for post in page["items"]] == [third["id"], first["id"]]
    assert service.list_posts(limit=1, page=3)["items"][0]["id"] == first["id"]


def test_comments_list_oldest_first(service):
    post = new_post(service)
    for n in range(3):
        service.add_comment(post["id"], {"body": f"c{n}"}, actor=BOB)
        time.sleep(0.002)
    page = service.list_comments(post["id"], page=1, limit=2)
    assert [c["body"] for c in page["items"]] == ["c0", "c1"] and page["total"] == 3


@pytest.mark.parametrize("kwargs", [{"page": 0}, {"limit": 101}, {"author_id": "nope"}])
def test_bad_list_arguments_are_invalid(service, kwargs):
    with pytest.raises(InvalidInput):
        service.list_posts(**kwargs)


def test_a_deleted_users_content_goes_and_repeating_is_harmless(service):
    ada_post = new_post(service)
    bob_post = new_post(service, actor=BOB)
    service.add_comment(bob_post["id"], {"body": "by ada"}, actor=ADA)
    service.add_comment(ada_post["id"], {"body": "by bob"}, actor=BOB)
    for _ in range(2):
        service.remove_content_of_deleted_user({"id": ADA["id"]})
    with pytest.raises(NotFound):
        service.get_post(ada_post["id"])
    assert service.list_comments(bob_post["id"])["total"] == 0
    assert service.list_posts()["total"] == 1
    assert events(service, "post_deleted") == [{"id": ada_post["id"], "author_id": ADA["id"]}]
