"""Realistic data for the benchmark, written straight to the services' databases (signing up
1 000 users through bcrypt would take minutes and measure nothing)."""

from __future__ import annotations

import json
import random
import urllib.request
import uuid

import bcrypt
from sqlalchemy import create_engine, delete, insert
from sqlalchemy.pool import NullPool

from posts.models import Comment, Post
from products.models import Product
from shop.schemas import utcnow
from users.models import User

CATEGORIES = ("home", "kitchen", "garden", "office", "toys", "books", "sports", "music",
              "tools", "travel")
PASSWORD = "benchmark horse battery"


def seed(uris: dict, small: bool = False) -> dict:
    """Fills users, posts and products anew; returns what the load scripts need."""
    users, posts, products = (20, 50, 20) if small else (1_000, 10_000, 1_000)
    rng = random.Random(7)
    password_hash = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(12)).decode()
    now = utcnow()
    user_rows = [{"id": str(uuid.uuid4()), "name": f"user{n}", "email": f"user{n}@bench.test",
                  "role": "user", "password_hash": password_hash, "created_at": now,
                  "updated_at": now} for n in range(users)]
    post_rows = [{"id": str(uuid.uuid4()), "title": f"Post {n}", "body": "words " * 60,
                  "author_id": rng.choice(user_rows)["id"], "created_at": now,
                  "updated_at": now} for n in range(posts)]
    product_rows = [{"id": str(uuid.uuid4()), "name": f"Product {n}",
                     "description": f"A fine {CATEGORIES[n % 10]} thing, number {n}.",
                     "price_cents": rng.randint(100, 90_000), "category": CATEGORIES[n % 10],
                     "stock": 1_000_000, "is_active": True, "created_at": now,
                     "updated_at": now} for n in range(products)]
    _replace(uris["users:Base"], User, user_rows)
    _replace(uris["posts:Base"], Post, post_rows, also_clear=(Comment,))
    _replace(uris["products:Base"], Product, product_rows)
    return {"email": user_rows[0]["email"], "password": PASSWORD,
            "post_ids": [row["id"] for row in post_rows[:100]],
            "product_ids": [row["id"] for row in product_rows]}


def _replace(url: str, model, rows: list[dict], also_clear: tuple = ()) -> None:
    engine = create_engine(url, poolclass=NullPool)
    with engine.begin() as connection:
        for other in also_clear:
            connection.execute(delete(other))
        connection.execute(delete(model))
        for start in range(0, len(rows), 1_000):
            connection.execute(insert(model), rows[start:start + 1_000])
    engine.dispose()


def sign_in(base_url: str, data: dict) -> str:
    body = json.dumps({"email": data["email"], "password": data["password"]}).encode()
    request = urllib.request.Request(f"{base_url}/signin", data=body,
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as reply:
        return json.loads(reply.read())["token"]
