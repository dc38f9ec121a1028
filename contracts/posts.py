"""What the posts service accepts and returns."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from shop.schemas import ChangesSchema, PageSchema, UtcDateTime, not_blank

TITLE = validate.Length(min=1, max=200)
POST_BODY = validate.Length(min=1, max=20_000)
COMMENT_BODY = validate.Length(min=1, max=2_000)


class NewPostSchema(Schema):
    title = fields.String(required=True, validate=[TITLE, not_blank])
    body = fields.String(required=True, validate=[POST_BODY, not_blank])


class PostChangesSchema(ChangesSchema):
    EMPTY = "Give a title, a body, or both."

    title = fields.String(validate=[TITLE, not_blank])
    body = fields.String(validate=[POST_BODY, not_blank])


class NewCommentSchema(Schema):
    body = fields.String(required=True, validate=[COMMENT_BODY, not_blank])


class PostListSchema(PageSchema):
    author_id = fields.UUID(load_default=None)


class PostSchema(Schema):
    id = fields.String()
    title = fields.String()
    body = fields.String()
    author_id = fields.String()
    created_at = UtcDateTime()
    updated_at = UtcDateTime()


class CommentSchema(Schema):
    id = fields.String()
    post_id = fields.String()
    author_id = fields.String()
    body = fields.String()
    created_at = UtcDateTime()
