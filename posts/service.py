"""The posts service: its RPC methods. Run with `nameko run --config config.yml posts.service`."""

from __future__ import annotations

from sqlalchemy import bindparam, delete, select

from contracts.posts import (
    CommentSchema,
    NewCommentSchema,
    NewPostSchema,
    PostChangesSchema,
    PostListSchema,
    PostSchema,
)
from posts.models import Answers, Base, Comment, Post
from shop import health
from shop.database import Database
from shop.entrypoints import rpc_method
from shop.errors import Forbidden, NotFound
from shop.idempotency import IdempotentAnswers, idempotent
from shop.outbox import EventOutbox
from shop.redelivery import event_handler
from shop.schemas import PageSchema, acts_for, load, load_actor, load_author, no_such, parse_id

# The hot reads, in SQLAlchemy Core: statements compiled once and cached, schemas built once.
POST_BY_ID = select(Post).where(Post.id == bindparam("post_id"))
POST = PostSchema()
COMMENT = CommentSchema()


class PostsService(health.DatabaseHealth):
    name = "posts"

    db = Database(Base)
    outbox = EventOutbox(Base)
    answers = IdempotentAnswers(Answers)

    @rpc_method
    @idempotent
    def create_post(self, data: dict, actor: dict) -> dict:
        """Creates a post authored by actor ({"id", "role"}); data: {"title", "body"}."""
        author = load_author(actor)
        post = Post(author_id=author["id"], **load(NewPostSchema(), data))
        session = self.db.session
        session.add(post)
        session.flush()  # gives the post its id
        self.outbox.add(session, "post_created", {"id": post.id, "author_id": post.author_id,
                                                  "title": post.title})
        return POST.dump(post)

    @rpc_method
    def get_post(self, post_id: str) -> dict:
        """Returns a post, or raises NotFound."""
        row = self.db.first(POST_BY_ID, post_id=parse_id(post_id, "post"))
        if row is None:
            raise no_such("post", post_id)
        return POST.dump(row._mapping)

    @rpc_method
    def list_posts(self, page: int = 1, limit: int = 20, author_id: str | None = None) -> dict:
        """Returns {"items", "page", "limit", "total"}: posts newest first, optionally by author."""
        query = load(PostListSchema(), {"page": page, "limit": limit, "author_id": author_id})
        matching = select(Post)
        if query["author_id"] is not None:
            matching = matching.where(Post.author_id == str(query["author_id"]))
        return self.db.page(matching, (Post.created_at.desc(), Post.id), query, POST)

    @rpc_method
    @idempotent
    def update_post(self, post_id: str, changes: dict, actor: dict) -> dict:
        """Changes a post's title or body; only its author or an admin may."""
        actor = load_actor(actor)
        post = self._get_post(post_id)
        fields = load(PostChangesSchema(), changes)
        if not acts_for(actor, post.author_id):
            raise Forbidden("Only the author or an admin may change this post.")
        for field, value in fields.items():
            setattr(post, field, value)
        self.outbox.add(self.db.session, "post_updated", {
            "id": post.id, "author_id": post.author_id, "changed": sorted(fields)})
        self.db.session.flush()  # updated_at
        return POST.dump(post)

    @rpc_method
    @idempotent
    def delete_post(self, post_id: str, actor: dict) -> None:
        """Deletes a post and its comments; only its author or an admin may."""
        actor = load_actor(actor)
        post = self._get_post(post_id)
        if not acts_for(actor, post.author_id):
            raise Forbidden("Only the author or an admin may delete this post.")
        self._delete_posts([post])

    @rpc_method
    @idempotent
    def add_comment(self, post_id: str, data: dict, actor: dict) -> dict:
        """Adds a comment by actor to a post; data: {"body"}."""
        author = load_author(actor)
        post = self._get_post(post_id)
        comment = Comment(post_id=post.id, author_id=author["id"],
                          **load(NewCommentSchema(), data))
        session = self.db.session
        session.add(comment)
        session.flush()  # gives the comment its id
        self.outbox.add(session, "comment_added", {"id": comment.id, "post_id": post.id,
                                                   "author_id": comment.author_id,
                                                   "post_author_id": post.author_id})
        return COMMENT.dump(comment)

    @rpc_method
    def list_comments(self, post_id: str, page: int = 1, limit: int = 20) -> dict:
        """Returns a page of a post's comments, oldest first."""
        query = load(PageSchema(), {"page": page, "limit": limit})
        post = self._get_post(post_id)
        matching = select(Comment).where(Comment.post_id == post.id)
        return self.db.page(matching, (Comment.created_at, Comment.id), query, COMMENT)

    @rpc_method
    @idempotent
    def delete_comment(self, post_id: str, comment_id: str, actor: dict) -> None:
        """Deletes a comment: its author, the post's author or an admin may."""
        actor = load_actor(actor)
        post = self._get_post(post_id)
        comment = self.db.session.get(Comment, parse_id(comment_id, "comment"))
        if comment is None or comment.post_id != post.id:
            raise NotFound(f"No comment with id {comment_id!r} on this post.")
        if not (acts_for(actor, comment.author_id) or acts_for(actor, post.author_id)):
            raise Forbidden("Only the comment's author, the post's author or an admin may.")
        self.db.session.delete(comment)

    @event_handler("users", "user_deleted")
    def remove_content_of_deleted_user(self, payload: dict) -> None:
        """A deleted user's posts (with their comments) and comments go too; safe to repeat."""
        user_id = payload["id"]
        session = self.db.session
        session.execute(delete(Comment).where(Comment.author_id == user_id))
        self._delete_posts(session.scalars(select(Post).where(Post.author_id == user_id)).all())
        session.commit()

    def _get_post(self, post_id: str) -> Post:
        return self.db.get(Post, post_id, "post")

    def _delete_posts(self, posts: list[Post]) -> None:
        session = self.db.session
        for post in posts:
            session.execute(delete(Comment).where(Comment.post_id == post.id))
            session.delete(post)
            self.outbox.add(session, "post_deleted", {"id": post.id, "author_id": post.author_id})
