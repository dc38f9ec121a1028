"""The users service: its RPC methods. Run with `nameko run --config config.yml users.service`."""

from __future__ import annotations

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError

from contracts.users import (
    CredentialsSchema,
    EmailSchema,
    NewUserSchema,
    PublicUserSchema,
    RoleSchema,
    UserChangesSchema,
    UserSchema,
)
from shop import health
from shop.database import Database, fetch_page
from shop.entrypoints import rpc_method
from shop.errors import Conflict, Forbidden, NotFound, Unauthorized
from shop.idempotency import IdempotentAnswers, idempotent
from shop.outbox import EventOutbox
from shop.schemas import PageSchema, acts_for, is_admin, load, load_actor, utcnow
from shop.tokens import TokenService
from users.models import Answers, Base, User
from users.passwords import PasswordHasher, is_outdated


class UsersService(health.DatabaseHealth):
    name = "users"

    db = Database(Base)
    passwords = PasswordHasher()
    tokens = TokenService()
    outbox = EventOutbox(Base)
    answers = IdempotentAnswers(Answers)

    @rpc_method
    @idempotent
    def create_user(self, data: dict) -> dict:
        """Creates an account with role "user" and returns it.

        data: {"name": 1-50 chars, "email": valid, "password": 8-1024 characters}.
        Raises InvalidInput, or Conflict when the name or email is taken.
        """
        fields = load(NewUserSchema(), data)
        session = self.db.session
        self._ensure_unique(name=fields["name"], email=fields["email"])
        user = User(name=fields["name"], email=fields["email"], role="user",
                    password_hash=self.passwords.hash(fields["password"]))
        session.add(user)
        self._flush()  # a taken name or email is refused before the event
        # In the account's transaction: the account and its announcement exist together.
        self.outbox.add(session, "user_created", {"id": user.id, "name": user.name,
                                                  "email": user.email, "role": user.role})
        return UserSchema().dump(user)

    @rpc_method
    def sign_in(self, credentials: dict) -> dict:
        """Checks {"email", "password"} and returns {"token", "token_type", "expires_in", "user"}.

        An unknown email and a wrong password raise the same Unauthorized, after the same work.
        """
        fields = load(CredentialsSchema(), credentials)
        user = self.db.session.scalar(select(User).where(User.email == fields["email"].lower()))
        if not self.passwords.check(fields["password"], user.password_hash if user else None):
            raise Unauthorized("The email or password is wrong.")
        if is_outdated(user.password_hash):
            self._rehash(user, fields["password"])
        return {
            "token": self.tokens.issue(user.id, user.role),
            "token_type": "Bearer",
            "expires_in": self.tokens.lifetime,
            "user": UserSchema().dump(user),
        }

    @rpc_method
    def get_user(self, user_id: str, actor: dict | None = None) -> dict:
        """Returns a user; the email only when actor ({"id", "role"}) is that user or an admin."""
        user = self._get(user_id)
        if actor is not None:
            actor = load_actor(actor)
            if acts_for(actor, user.id):
                return UserSchema().dump(user)
        return PublicUserSchema().dump(user)

    @rpc_method
    def list_users(self, page: int = 1, limit: int = 20) -> dict:
        """Returns {"items", "page", "limit", "total"}: public profiles, oldest first."""
        paging = load(PageSchema(), {"page": page, "limit": limit})
        return fetch_page(self.db.session, select(User), (User.created_at, User.id), paging,
                          PublicUserSchema)

    @rpc_method
    @idempotent
    def update_user(self, user_id: str, changes: dict, actor: dict) -> dict:
        """Changes name, email, password (the user or an admin) or role (an admin only).

        actor: {"id": ..., "role": "user"|"admin"}; {"role": "admin"} acts as an operator.
        """
        actor = load_actor(actor)
        user = self._get(user_id)
        fields = load(UserChangesSchema(), changes)
        if not acts_for(actor, user.id):
            raise Forbidden("You may change only your own account.")
        if "role" in fields and not is_admin(actor):
            raise Forbidden("Only an admin may change a role.")
        self._ensure_unique(name=fields.get("name"), email=fields.get("email"), other_than=user)
        changed = sorted(fields)
        if "password" in fields:
            user.password_hash = self.passwords.hash(fields.pop("password"))
        for field, value in fields.items():
            setattr(user, field, value)
        user.updated_at = utcnow()
        self._flush()
        account = UserSchema().dump(user)
        # updated_at is when a password or role change took effect: the gateway refuses
        # tokens issued before a password change, and reads the role anew after a role one.
        self.outbox.add(self.db.session, "user_updated", {
            "id": user.id, "name": user.name, "email": user.email, "role": user.role,
            "changed": changed, "updated_at": account["updated_at"]})
        return account

    @rpc_method
    @idempotent
    def delete_user(self, user_id: str, actor: dict) -> None:
        """Deletes an account (the user or an admin); emits user_deleted."""
        actor = load_actor(actor)
        user = self._get(user_id)
        if not acts_for(actor, user.id):
            raise Forbidden("You may delete only your own account.")
        self.db.session.delete(user)
        self.outbox.add(self.db.session, "user_deleted", {"id": user.id})

    @rpc_method
    def find_user(self, email: str) -> dict:
        """Operator use (`make admin`, `nameko shell`): the account with this email."""
        address = load(EmailSchema(), {"email": email})["email"]
        user = self.db.session.scalar(select(User).where(User.email == address))
        if user is None:
            raise NotFound(f"No account has the email {address}.", {"email": address})
        return UserSchema().dump(user)

    @rpc_method
    def set_role(self, user_id: str, role: str) -> dict:
        """Operator use from `nameko shell`: sets a user's role ("user" or "admin")."""
        return self.update_user(user_id, load(RoleSchema(), {"role": role}), {"role": "admin"})

    def _rehash(self, user: User, password: str) -> None:
        """Stores the hash of a password signed in with under the current scheme (only if
        no change came first); not a change of the account, so updated_at stays."""
        self.db.session.execute(
            update(User).where(User.id == user.id, User.password_hash == user.password_hash)
            .values(password_hash=self.passwords.hash(password), updated_at=User.updated_at))
        self.db.session.commit()

    def _get(self, user_id: str) -> User:
        return self.db.get(User, user_id, "user")

    def _ensure_unique(self, name: str | None, email: str | None,
                       other_than: User | None = None) -> None:
        taken = {}
        session = self.db.session
        others = select(User.id)
        if other_than is not None:
            others = others.where(User.id != other_than.id)
        if name is not None and session.scalar(
                others.where(func.lower(User.name) == name.lower())):
            taken["name"] = ["This name is taken."]
        if email is not None and session.scalar(others.where(User.email == email)):
            taken["email"] = ["This email is already registered."]
        if taken:
            raise Conflict("An account with this name or email already exists.", taken)

    def _flush(self) -> None:
        """Writes what the session holds (the commit comes after the method, from
        @idempotent); Conflict if a name or email was taken meanwhile."""
        try:
            self.db.session.flush()
        except IntegrityError:
            # Two requests raced past _ensure_unique; the database decided.
            self.db.session.rollback()
            raise Conflict("An account with this name or email already exists.") from None
