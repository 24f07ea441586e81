"""Domain errors. Every interface turns them into its own shape (exit code, HTTP
status, form message); none carries a secret."""

from __future__ import annotations


class ProvisionerError(Exception):
    """Base for errors a user can act on. ``field`` names the input at fault."""

    status = 400
    key = "invalid"

    def __init__(self, message: str, *, field: str | None = None):
        super().__init__(message)
        self.message = message
        self.field = field

    def to_dict(self) -> dict[str, str]:
        data = {"error": self.key, "message": self.message}
        if self.field:
            data["field"] = self.field
        return data


class Invalid(ProvisionerError):
    status = 400
    key = "invalid"


class NotFound(ProvisionerError):
    status = 404
    key = "not_found"


class Conflict(ProvisionerError):
    status = 409
    key = "conflict"


class Unauthorized(ProvisionerError):
    """No valid credentials were given (HTTP 401)."""

    status = 401
    key = "unauthorized"


class Forbidden(ProvisionerError):
    """The user is known but their role does not allow this (HTTP 403)."""

    status = 403
    key = "forbidden"


class RateLimited(ProvisionerError):
    """Too many attempts; ``retry_after`` seconds until the next one is heard (HTTP 429)."""

    status = 429
    key = "rate_limited"

    def __init__(self, message: str, *, retry_after: int, field: str | None = None):
        super().__init__(message, field=field)
        self.retry_after = retry_after


class Unavailable(ProvisionerError):
    """The database cannot take this now (locked by another writer, unreachable, read-only, disk
    full): nothing was changed; try again in ``retry_after`` seconds (HTTP 503 with Retry-After).
    ``reason`` is a short key: locked, unreachable, read_only, disk_full, io_error."""

    status = 503
    key = "unavailable"

    def __init__(self, message: str, *, reason: str, retry_after: int = 5):
        super().__init__(message)
        self.reason = reason
        self.retry_after = retry_after

    def to_dict(self) -> dict[str, str]:
        return {**super().to_dict(), "reason": self.reason}


class RenderError(Exception):
    """A template could not be rendered for a device. Carries no secret.

    Not a :class:`ProvisionerError`: a broken template or a bad device setting is the
    deployment's fault, not the request's (a phone gets 500, logged with the MAC and template).
    Raised by rendering, by the vendor modules and by polling, which rendering imports: it lives
    here so that none of them imports another late to reach it."""
