"""What the notifications service accepts and returns."""

from marshmallow import Schema, fields

from shop.schemas import PageSchema, UtcDateTime


class NotificationQuerySchema(PageSchema):
    unread = fields.Boolean(load_default=False)


class NotificationSchema(Schema):
    id = fields.String()
    user_id = fields.String()
    kind = fields.String()
    title = fields.String()
    body = fields.String()
    read_at = UtcDateTime(allow_none=True)
    created_at = UtcDateTime()
