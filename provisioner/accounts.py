"""People who sign in: users with a role, their API tokens, their console sessions.

Roles and what each may do are plain data (:data:`PERMISSIONS`); every interface
asks :func:`require` before it calls a service. Passwords are argon2 hashes
(argon2-cffi); API tokens and session cookies are random strings of which the
store keeps only a SHA-256 digest, so a copied database opens no session.
Nothing here logs, returns or raises with a password or a token in it.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import time
from collections import deque
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from . import rentals
from .db import Store, Tx, utcnow
from .errors import Conflict, Forbidden, Invalid, NotFound, RateLimited, Unauthorized

ROLES = ("admin", "technician", "support", "viewer")

#: action -> the roles allowed to do it. ``read`` is every page and GET of the API.
PERMISSIONS: dict[str, frozenset[str]] = {
    "read": frozenset(ROLES),
    "devices.write": frozenset({"admin", "technician"}),  # add, change, remove devices and lines
    "devices.assign": frozenset({"admin", "technician", "support"}),  # reassign, unassign, claim
    "devices.swap": frozenset({"admin", "technician", "support"}),
    "imports": frozenset({"admin", "technician"}),
    "returns": frozenset({"admin", "support"}),  # record a return, charge, waive
    "customers.write": frozenset({"admin", "support"}),  # add, change, terminate a contract
    "rental.policy": frozenset({"admin"}),  # default return policy, replacement costs
    "users": frozenset({"admin"}),
    "redirect": frozenset({"admin"}),  # the provider's accounts at the vendors' redirect services
}

PASSWORD_MIN = 10
PASSWORD_MAX = 256
TOKEN_PREFIX = "prov_"
SESSION_TTL = timedelta(hours=12)
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]{0,63}")

# argon2id with the library's defaults (RFC 9106 low-memory profile).
_hasher = PasswordHasher()
# Verifying against this when the user does not exist makes both answers take as long.
_DUMMY_HASH = _hasher.hash(secrets.token_hex(16))


@dataclass(frozen=True)
class User:
    id: int
    name: str
    role: str

    def can(self, action: str) -> bool:
        return allowed(self.role, action)

    @property
    def actor(self) -> str:
        """How audit events name this user."""
        return f"user:{self.name}"


def allowed(role: str, action: str) -> bool:
    roles = PERMISSIONS.get(action)
    if roles is None:
        raise KeyError(f"unknown action {action!r}")
    return role in roles


def require(user: User | None, action: str) -> User:
    """The user, if their role may do ``action``; else :class:`Forbidden` naming the role."""
    if user is None:
        raise Unauthorized("sign in first: this needs a user session or an API token")
    if not user.can(action):
        who = ", ".join(sorted(PERMISSIONS[action]))
        raise Forbidden(f"role {user.role!r} may not do this ({action}); it needs: {who}")
    return user


# --- validation ------------------------------------------------------------------


def user_name(value: Any, field: str = "name") -> str:
    if not isinstance(value, str) or not _NAME.fullmatch(value.strip()):
        raise Invalid(
            f"{field} must be 1-64 letters, digits, '.', '_', '@' or '-', starting with a letter or digit", field=field
        )
    return value.strip()


def role(value: Any, field: str = "role") -> str:
    if value not in ROLES:
        raise Invalid(f"{field} must be one of {', '.join(ROLES)}", field=field)
    return str(value)


def new_password(value: Any, name: str, field: str = "password") -> str:
    """A password good enough to keep; the message never repeats it."""
    if not isinstance(value, str) or not value:
        raise Invalid(f"{field} is required", field=field)
    if len(value) < PASSWORD_MIN:
        raise Invalid(f"{field} must be at least {PASSWORD_MIN} characters", field=field)
    if len(value) > PASSWORD_MAX:
        raise Invalid(f"{field} must be at most {PASSWORD_MAX} characters", field=field)
    if value.casefold() == name.casefold():
        raise Invalid(f"{field} must not be the user name", field=field)
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in value):
        raise Invalid(f"{field} must not contain control characters", field=field)
    return value


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


# --- users -----------------------------------------------------------------------

USER_FIELDS = ("name", "role", "disabled", "created_at", "last_login_at")


def _public(row: dict[str, Any]) -> dict[str, Any]:
    return {k: row[k] for k in ("id", *USER_FIELDS)}


def _user(tx: Tx, name: str) -> dict[str, Any]:
    row = tx.user_by_name(user_name(name))
    if row is None:
        raise NotFound(f"no user named {name!r}", field="name")
    return row


def add_user(store: Store, actor: str, name: str, *, role_: str, password: str) -> dict[str, Any]:
    name = user_name(name)
    role_ = role(role_)
    hashed = _hasher.hash(new_password(password, name))
    with store.transaction() as tx:
        if tx.user_by_name(name):
            raise Conflict(f"user {name!r} already exists", field="name")
        user_id = tx.insert_user({"name": name, "role": role_, "password_hash": hashed})
        tx.add_event(
            actor=actor,
            action="user.created",
            summary=f"user {name} created with role {role_}",
            after={"name": name, "role": role_},
        )
        return _public(tx.user_by_id(user_id))  # type: ignore[arg-type]


def list_users(store: Store) -> list[dict[str, Any]]:
    with store.reading() as tx:
        return [_public(row) for row in tx.list_users()]


def get_user(store: Store, name: str) -> dict[str, Any]:
    with store.reading() as tx:
        row = _user(tx, name)
        return {**_public(row), "tokens": tx.tokens_of_user(row["id"])}


def set_password(store: Store, actor: str, name: str, password: str) -> None:
    """A new password; every open session of the user ends."""
    with store.transaction() as tx:
        row = _user(tx, name)
        tx.update_user(row["id"], {"password_hash": _hasher.hash(new_password(password, row["name"]))})
        tx.delete_sessions_of_user(row["id"])
        tx.add_event(
            actor=actor,
            action="user.password_changed",
            summary=f"password of user {row['name']} changed",
            after={"name": row["name"], "password_changed": True},
        )


def update_user(
    store: Store, actor: str, name: str, *, role_: str | None = None, disabled: bool | None = None
) -> dict[str, Any]:
    """Change a user's role or lock them out; the last enabled admin stays an enabled admin."""
    with store.transaction() as tx:
        row = _user(tx, name)
        values: dict[str, Any] = {}
        if role_ is not None and role(role_) != row["role"]:
            values["role"] = role_
        if disabled is not None and bool(disabled) != bool(row["disabled"]):
            values["disabled"] = bool(disabled)
        if not values:
            return _public(row)
        losing_admin = (
            row["role"] == "admin"
            and not row["disabled"]
            and (values.get("role", "admin") != "admin" or values.get("disabled"))
        )
        if losing_admin and tx.count_users(role="admin", enabled_only=True) <= 1:
            raise Conflict(
                f"user {row['name']} is the last enabled admin; make another admin first",
                field="role" if "role" in values else "disabled",
            )
        tx.update_user(row["id"], values)
        if values.get("disabled") or "role" in values:
            tx.delete_sessions_of_user(row["id"])
        before = {k: row[k] for k in values}
        tx.add_event(
            actor=actor,
            action="user.updated",
            summary=f"user {row['name']} updated",
            before={"name": row["name"], **before},
            after={"name": row["name"], **values},
        )
        return _public(tx.user_by_id(row["id"]))  # type: ignore[arg-type]


def authenticate(store: Store, name: str, password: str) -> User | None:
    """The user, when the name and password match an enabled account; else None (same time either way)."""
    if not isinstance(name, str) or not isinstance(password, str) or len(password) > PASSWORD_MAX:
        return None
    with store.reading() as tx:
        row = tx.user_by_name(name.strip()) if _NAME.fullmatch(name.strip()) else None
    try:
        _hasher.verify(row["password_hash"] if row else _DUMMY_HASH, password)
    except (VerificationError, InvalidHashError):
        return None
    if row is None or row["disabled"]:
        return None
    with store.transaction() as tx:
        if _hasher.check_needs_rehash(row["password_hash"]):
            tx.update_user(row["id"], {"password_hash": _hasher.hash(password)})
        tx.touch_login(row["id"])
    return User(row["id"], row["name"], row["role"])


# --- API tokens ------------------------------------------------------------------


#: The longest a token may be given: past this, "never" says what is meant.
TOKEN_MAX_DAYS = 3660
_EXPIRES_IN = re.compile(r"(\d{1,5})\s*d(ays?)?")


def parse_expiry(text: str | None, field: str = "expires") -> date | None:
    """The last day a token works, from ``2027-01-31``, ``90d`` (days from today) or ``never``/empty (None)."""
    value = (text or "").strip().lower()
    if value in ("", "never", "mai"):
        return None
    if match := _EXPIRES_IN.fullmatch(value):
        return rentals.today() + timedelta(days=int(match.group(1)))
    try:
        return rentals.parse_date(value, field)
    except Invalid:
        raise Invalid(
            f"{field} must be a date like 2027-01-31, a number of days like 90d, or 'never' (got {text!r})",
            field=field,
        ) from None


def _expires_at(expires: date | None) -> datetime | None:
    """The instant a token stops working: the end of its last day in the provider's zone."""
    if expires is None:
        return None
    today = rentals.today()
    if expires < today:
        raise Invalid(f"expires: {expires.isoformat()} is in the past; give today or a later date", field="expires")
    if expires > today + timedelta(days=TOKEN_MAX_DAYS):
        raise Invalid(f"expires: {expires.isoformat()} is more than 10 years away; use 'never'", field="expires")
    return rentals.start_of_day(expires + timedelta(days=1))


def last_day(expires_at: datetime | None) -> date | None:
    """The last calendar day (provider's zone) a token expiring at ``expires_at`` works."""
    return None if expires_at is None else rentals.today(expires_at - timedelta(seconds=1))


def is_expired(expires_at: datetime | None) -> bool:
    return expires_at is not None and utcnow() >= expires_at


def create_token(
    store: Store, actor: str, name: str, label: str, expires: date | None = None
) -> tuple[str, dict[str, Any]]:
    """A new API token for user ``name``: (the token, shown once; its record).

    ``expires`` is the last day (provider's zone) it works; None: until revoked.
    """
    label = (label or "").strip()
    if not label or len(label) > 100 or any(ord(ch) < 32 for ch in label):
        raise Invalid("label must be 1-100 characters on one line", field="label")
    expires_at = _expires_at(expires)
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    with store.transaction() as tx:
        row = _user(tx, name)
        token_id = tx.insert_token(row["id"], label, digest(token), expires_at)
        tx.add_event(
            actor=actor,
            action="token.created",
            summary=f"API token {label!r} created for {row['name']}"
            + (f", valid through {expires.isoformat()}" if expires else ""),
            after={
                "user": row["name"],
                "token_id": token_id,
                "label": label,
                "expires": expires.isoformat() if expires else None,
            },
        )
        record = next(t for t in tx.tokens_of_user(row["id"]) if t["id"] == token_id)
    return token, record


def revoke_token(store: Store, actor: str, name: str, token_id: int) -> None:
    with store.transaction() as tx:
        row = _user(tx, name)
        token = next((t for t in tx.tokens_of_user(row["id"]) if t["id"] == token_id), None)
        if token is None:
            raise NotFound(f"user {row['name']} has no token {token_id}", field="token_id")
        if token["revoked_at"] is not None:
            return
        tx.revoke_token(token_id)
        tx.add_event(
            actor=actor,
            action="token.revoked",
            summary=f"API token {token['label']!r} of {row['name']} revoked",
            after={"user": row["name"], "token_id": token_id},
        )


# Writing last_used_at on every call would make each API read a write; once a minute is enough.
_TOUCH_EVERY = timedelta(minutes=1)


def user_for_token(store: Store, token: str) -> User | None:
    if not token.startswith(TOKEN_PREFIX) or len(token) > 200:
        return None
    with store.reading() as tx:
        row = tx.token_by_digest(digest(token))
        user = tx.user_by_id(row["user_id"]) if row else None
    if row is None or user is None or row["revoked_at"] is not None or user["disabled"]:
        return None
    if is_expired(row["expires_at"]):
        _refuse_expired(store, row)
    last = row["last_used_at"]
    if last is None or utcnow() - last > _TOUCH_EVERY:
        with store.transaction() as tx:
            tx.touch_token(row["id"])
    return User(user["id"], user["name"], user["role"])


_refused_at: dict[int, float] = {}  # token id -> monotonic time its refusal was last recorded


def _refuse_expired(store: Store, row: dict[str, Any]) -> None:
    """Refuse an expired token (401); the refusal is an audit event, at most once a minute per token."""
    ended = last_day(row["expires_at"])
    now = time.monotonic()
    if now - _refused_at.get(row["id"], -_TOUCH_EVERY.total_seconds()) >= _TOUCH_EVERY.total_seconds():
        _refused_at[row["id"]] = now
        with store.transaction() as tx:
            tx.add_event(
                actor=f"user:{row['user_name']}",
                action="token.expired",
                summary=f"API token {row['label']!r} of {row['user_name']} refused: it expired after {ended}",
                after={"user": row["user_name"], "token_id": row["id"], "expired": str(ended)},
            )
    raise Unauthorized(
        f"this API token ({row['label']!r}) expired after {ended}: ask an admin for a new one", field="token"
    )


# --- sessions --------------------------------------------------------------------


@dataclass(frozen=True)
class Session:
    user: User
    csrf_token: str
    expires_at: datetime


def start_session(
    store: Store, user: User, *, ip: str | None, user_agent: str | None, ttl: timedelta = SESSION_TTL
) -> tuple[str, Session]:
    """A new console session: (the cookie value, the session). Expired sessions are swept here."""
    token = secrets.token_urlsafe(32)
    csrf = secrets.token_urlsafe(32)
    now = utcnow()
    with store.transaction() as tx:
        tx.delete_expired_sessions(now)
        tx.insert_session(
            {
                "user_id": user.id,
                "digest": digest(token),
                "csrf_token": csrf,
                "expires_at": now + ttl,
                "ip": (ip or "")[:64],
                "user_agent": (user_agent or "")[:400],
            }
        )
    return token, Session(user, csrf, now + ttl)


def session_for(store: Store, token: str) -> Session | None:
    if not token or len(token) > 200:
        return None
    with store.reading() as tx:
        row = tx.session_by_digest(digest(token))
        user = tx.user_by_id(row["user_id"]) if row else None
    if row is None or user is None or user["disabled"] or row["expires_at"] <= utcnow():
        return None
    return Session(User(user["id"], user["name"], user["role"]), row["csrf_token"], row["expires_at"])


def end_session(store: Store, token: str) -> None:
    with store.transaction() as tx:
        tx.delete_session(digest(token))


# --- login rate limit ------------------------------------------------------------


class LoginLimiter:
    """Failed sign-ins per client IP and per user name in a sliding window, in memory.

    Past ``per_name`` failures for one name (from anywhere) or ``per_ip`` from one
    address, further attempts are refused without checking the password until the
    window has moved on. Success clears the name's count. The number of keys held
    is bounded; the oldest are forgotten first.
    """

    def __init__(
        self,
        *,
        per_name: int = 5,
        per_ip: int = 20,
        window: float = 900.0,
        max_keys: int = 100_000,
        clock: Any = time.monotonic,
    ):
        self.per_name = per_name
        self.per_ip = per_ip
        self.window = window
        self.max_keys = max_keys
        self.clock = clock
        self._failures: dict[str, deque[float]] = {}

    def _recent(self, key: str, now: float) -> deque[float]:
        times = self._failures.get(key)
        if times is None:
            return deque()
        while times and times[0] <= now - self.window:
            times.popleft()
        if not times:
            del self._failures[key]
        return times

    def check(self, ip: str, name: str) -> None:
        """Raise :class:`RateLimited` when this IP or this name has failed too often lately."""
        now = self.clock()
        for key, limit in ((f"ip:{ip}", self.per_ip), (f"name:{name.strip().casefold()}", self.per_name)):
            times = self._recent(key, now)
            if len(times) >= limit:
                wait = int(times[0] + self.window - now) + 1
                raise RateLimited(f"too many failed sign-ins; try again in {wait} s", retry_after=wait)

    def failed(self, ip: str, name: str) -> None:
        now = self.clock()
        for key in (f"ip:{ip}", f"name:{name.strip().casefold()}"):
            if key not in self._failures and len(self._failures) >= self.max_keys:
                self._failures.pop(next(iter(self._failures)))
            self._failures.setdefault(key, deque()).append(now)

    def succeeded(self, name: str) -> None:
        self._failures.pop(f"name:{name.strip().casefold()}", None)
