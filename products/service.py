"""The products service: its RPC methods. Run with
`nameko run --config config.yml products.service`."""

from __future__ import annotations

from sqlalchemy import bindparam, func, or_, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from contracts.products import (
    NewProductSchema,
    ProductChangesSchema,
    ProductIdsSchema,
    ProductQuerySchema,
    ProductSchema,
    StockChangeSchema,
    StockSettingSchema,
    StockTakeSchema,
)
from products import stock
from products.models import Answers, Base, Product, ReservationItem
from products.settings import ProductsSettings
from shop import health
from shop.database import Database
from shop.entrypoints import rpc_method
from shop.errors import Conflict, Forbidden
from shop.idempotency import IdempotentAnswers, idempotent
from shop.money import cents, from_cents
from shop.outbox import EventOutbox
from shop.schemas import is_admin, load, load_actor, no_such, parse_id, utcnow
from shop.settings import SettingsProvider

# The hot reads, in SQLAlchemy Core: statements compiled once and cached, schemas built once.
ACTIVE_PRODUCT_BY_ID = select(Product).where(Product.id == bindparam("product_id"),
                                             Product.is_active)
ACTIVE_PRODUCTS_BY_IDS = select(Product).where(
    Product.id.in_(bindparam("product_ids", expanding=True)), Product.is_active)
PRODUCT = ProductSchema()
QUERY = ProductQuerySchema()
PRODUCT_IDS = ProductIdsSchema()
STOCK_TAKE = StockTakeSchema()
SORT_ORDERS = {
    "price": (Product.price_cents, Product.id),
    "-price": (Product.price_cents.desc(), Product.id),
    "name": (Product.name, Product.id),
    "-created_at": (Product.created_at.desc(), Product.id),
}


def escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


class ProductsService(health.DatabaseHealth):
    name = "products"

    db = Database(Base)
    outbox = EventOutbox(Base)
    answers = IdempotentAnswers(Answers)
    settings = SettingsProvider(ProductsSettings)

    # --- the catalogue -------------------------------------------------------------

    @rpc_method
    @idempotent
    def create_product(self, data: dict, actor: dict) -> dict:
        """Adds a product (admin only). data: {"name", "description", "price", "category",
        "stock"}; price as a string or number with at most two places."""
        self._require_admin(actor)
        fields = load(NewProductSchema(), data)
        product = Product(name=fields["name"], description=fields["description"],
                          price_cents=cents(fields["price"]), category=fields["category"],
                          stock=fields["stock"], is_active=True)
        session = self.db.session
        session.add(product)
        session.flush()  # gives the product its id
        self.outbox.add(session, "product_created", {"id": product.id, "name": product.name,
                                                     "category": product.category})
        return ProductSchema().dump(product)

    @rpc_method
    def get_product(self, product_id: str) -> dict:
        """Returns a product on sale, or raises NotFound."""
        row = self.db.first(ACTIVE_PRODUCT_BY_ID, product_id=parse_id(product_id, "product"))
        if row is None:
            raise no_such("product", product_id)
        return PRODUCT.dump(row._mapping)

    @rpc_method
    def get_many(self, product_ids: list) -> dict:
        """Returns {id: the product on sale, or None} for up to 100 ids in one query: what
        a caller needs for many products costs one call, not one each."""
        ids = [str(product_id) for product_id in load(PRODUCT_IDS, {"ids": product_ids})["ids"]]
        found = {row.id: PRODUCT.dump(row._mapping)
                 for row in self.db.all(ACTIVE_PRODUCTS_BY_IDS, product_ids=ids)}
        return {product_id: found.get(product_id) for product_id in ids}

    @rpc_method
    def list_products(self, query: dict | None = None, **filters) -> dict:
        """Returns a page of products on sale. Filters, as keywords or one query dict:
        category, min_price, max_price, q (text in name or description), in_stock; sort:
        price, -price, name, -created_at (default); page, limit."""
        query = load(QUERY, {**(query or {}), **filters})
        matching = select(Product).where(Product.is_active)
        if "category" in query:
            matching = matching.where(func.lower(Product.category) == query["category"].lower())
        if "min_price" in query:
            matching = matching.where(Product.price_cents >= cents(query["min_price"]))
        if "max_price" in query:
            matching = matching.where(Product.price_cents <= cents(query["max_price"]))
        if "q" in query:
            pattern = f"%{escape_like(query['q'].lower())}%"
            matching = matching.where(or_(func.lower(Product.name).like(pattern, escape="\\"),
                                          func.lower(Product.description).like(pattern,
                                                                               escape="\\")))
        if query.get("in_stock") is not None:
            matching = matching.where((Product.stock > 0) == query["in_stock"])
        return self.db.page(matching, SORT_ORDERS[query["sort"]], query, PRODUCT)

    @rpc_method
    @idempotent
    def update_product(self, product_id: str, changes: dict, actor: dict) -> dict:
        """Changes name, description, price, category or is_active (admin only)."""
        self._require_admin(actor)
        product = self._get(product_id)
        fields = load(ProductChangesSchema(), changes)
        if "price" in fields:
            product.price_cents = cents(fields["price"])
        for field in fields.keys() - {"price"}:
            setattr(product, field, fields[field])
        self.outbox.add(self.db.session, "product_updated",
                        {"id": product.id, "changed": sorted(fields)})
        self.db.session.flush()  # updated_at
        return ProductSchema().dump(product)

    @rpc_method
    @idempotent
    def delete_product(self, product_id: str, actor: dict) -> dict:
        """Removes a product (admin only); one that orders refer to is kept for them,
        off sale and marked deleted: to everything else it is gone (NotFound), for good.
        Returns {"deleted": bool, "deactivated": bool}."""
        self._require_admin(actor)
        product = self._get(product_id)
        session = self.db.session
        referenced = session.scalar(
            select(func.count()).where(ReservationItem.product_id == product.id))
        if referenced:
            product.is_active, product.deleted_at = False, utcnow()
        else:
            session.delete(product)
        self.outbox.add(session, "product_deleted",
                        {"id": product.id, "deactivated": bool(referenced)})
        return {"deleted": not referenced, "deactivated": bool(referenced)}

    @rpc_method
    def adjust_stock(self, product_id: str, delta: int, actor: dict) -> dict:
        """Adds delta units to a product's stock (admin restock; negative to write off)."""
        self._require_admin(actor)
        product = self._get(product_id)
        delta = load(StockChangeSchema(), {"delta": delta})["delta"]
        self._change_stock(product, delta, None, actor)
        self.db.session.commit()
        return ProductSchema().dump(product)

    @rpc_method
    @idempotent
    def set_stock(self, product_id: str, change: dict, actor: dict) -> dict:
        """Admin stock keeping (PATCH /products/{id}/stock): change is {"delta": units to
        add, negative to write off} or {"stock": the new count}. Audited by a
        stock_adjusted event naming the admin; Conflict if stock would go below zero."""
        self._require_admin(actor)
        product = self._get(product_id)
        fields = load(StockSettingSchema(), change)
        self._change_stock(product, fields.get("delta"), fields.get("stock"), actor)
        return ProductSchema().dump(product)

    def _change_stock(self, product: Product, delta: int | None, count: int | None,
                      actor: dict) -> None:  # exactly one of delta and count
        """Stock + delta (if that stays at or above zero), or stock set to count, under the
        row's lock (PostgreSQL; SQLite's write lock): a sale meanwhile is neither lost nor
        doubled, and the event's `before` is exact."""
        session = self.db.session
        before = session.scalar(
            select(Product.stock).where(Product.id == product.id).with_for_update())
        after: int = before + delta if delta is not None else int(count or 0)
        if after < 0:
            session.rollback()
            raise Conflict("Stock cannot go below zero.", {"delta": [f"Stock is {before}."]})
        session.execute(update(Product).where(Product.id == product.id).values(stock=after))
        session.refresh(product)
        self._announce(session, [stock.StockChange(product.id, product.name, before, after)])
        self.outbox.add(session, "stock_adjusted", {
            "product_id": product.id, "before": before, "after": after, "by": actor.get("id")})

    # --- stock for orders ----------------------------------------------------------

    @rpc_method
    def take_stock(self, order_id: str, items: list) -> dict:
        """Takes stock for every item of an order, or none: items [{"product_id",
        "quantity"}]. Returns {"order_id", "items": [{"product_id", "name", "unit_price",
        "quantity"}]} at today's prices; the same order_id again returns the first answer
        and takes nothing more. Raises NotFound (unknown or inactive products),
        InsufficientStock (naming every short item), or Conflict if the order's stock
        was given back before this take arrived."""
        request = load(STOCK_TAKE, {"order_id": order_id, "items": items})
        taken = stock.take(self.db.engine, request["order_id"], {
            item["product_id"]: item["quantity"] for item in request["items"]}, self._announce)
        return {"order_id": request["order_id"], "items": [
            {"product_id": item.product_id, "quantity": item.quantity,
             "unit_price": str(from_cents(item.unit_price_cents)), "name": item.name}
            for item in taken]}

    @rpc_method
    def release_stock(self, order_id: str) -> dict:
        """Gives an order's stock back. Idempotent; for an order that took nothing it
        makes sure a late take is refused. Returns {"released": bool}."""
        released = stock.release(self.db.engine, parse_id(order_id, "order"), self._announce)
        return {"order_id": order_id, "released": released}

    # --- helpers -------------------------------------------------------------------

    def _announce(self, executor: Session | Connection,
                   changes: list[stock.StockChange]) -> None:
        """Writes the events of stock changes in executor's transaction: product_updated,
        and stock_low when one falls below the threshold."""
        threshold = self.settings.stock_low_threshold
        for change in changes:
            self.outbox.add(executor, "product_updated", {
                "id": change.product_id, "changed": ["stock"], "stock": change.after,
                "stock_before": change.before})
            if change.after < threshold <= change.before:
                name = change.name or executor.scalar(
                    select(Product.name).where(Product.id == change.product_id))
                self.outbox.add(executor, "stock_low", {
                    "product_id": change.product_id, "name": name, "stock": change.after,
                    "threshold": threshold})

    def _get(self, product_id: str) -> Product:
        product = self.db.get(Product, product_id, "product")
        if product.deleted_at is not None:
            raise no_such("product", product_id)
        return product

    @staticmethod
    def _require_admin(actor) -> None:
        if not is_admin(load_actor(actor)):
            raise Forbidden("Only an admin may change the catalogue.")
