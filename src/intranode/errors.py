"""The one error hierarchy of intranode.

Every layer raises these; each boundary translates them into its caller's format (Google's
``{"error": ...}`` body, a Kubernetes ``Status``, ``ERROR: ...`` from the CLI), and errors from
libraries are translated into them with ``raise ... from exc`` where they enter.

    IntranodeError
     ├── ApiError                      a request a caller made cannot be honoured; carries the
     │    │                            HTTP code, Google's status string and the reason
     │    ├── InvalidArgument          400 INVALID_ARGUMENT  (reason "invalid" / "badRequest")
     │    ├── FailedPrecondition       400 FAILED_PRECONDITION
     │    ├── Unauthenticated          401 UNAUTHENTICATED
     │    ├── PermissionDenied         403 PERMISSION_DENIED
     │    ├── NotFound                 404 NOT_FOUND          (reason "notFound")
     │    ├── AlreadyExists            409 ALREADY_EXISTS     (reason "alreadyExists")
     │    ├── Aborted                  409 ABORTED            (a concurrent change won)
     │    ├── ConditionNotMet          412 FAILED_PRECONDITION (reason "conditionNotMet")
     │    ├── Unimplemented            501 UNIMPLEMENTED
     │    └── Unavailable              503 UNAVAILABLE
     ├── StoreError                    the state database failed (never a caller's fault)
     ├── DataplaneError                the kernel refused a change; keeps the errno or exit code
     └── ReconcileError                raised by controllers to steer retries
          ├── TemporaryError           try again after ``delay`` seconds
          └── PermanentError           retrying cannot help; the operation fails with the message
"""

from __future__ import annotations

from typing import Any


class IntranodeError(Exception):
    """Base of every error intranode raises on purpose."""


class ApiError(IntranodeError):
    code = 500
    status = "INTERNAL"
    reason = "backendError"

    def __init__(
        self,
        message: str,
        *,
        reason: str | None = None,
        details: list[dict[str, Any]] | None = None,
        location: str | None = None,
        location_type: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        if reason is not None:
            self.reason = reason
        self.details = details or []
        self.location = location
        self.location_type = location_type


class InvalidArgument(ApiError):
    code = 400
    status = "INVALID_ARGUMENT"
    reason = "invalid"


class FailedPrecondition(ApiError):
    code = 400
    status = "FAILED_PRECONDITION"
    reason = "failedPrecondition"


class Unauthenticated(ApiError):
    code = 401
    status = "UNAUTHENTICATED"
    reason = "required"


class PermissionDenied(ApiError):
    code = 403
    status = "PERMISSION_DENIED"
    reason = "forbidden"


class NotFound(ApiError):
    code = 404
    status = "NOT_FOUND"
    reason = "notFound"


class AlreadyExists(ApiError):
    code = 409
    status = "ALREADY_EXISTS"
    reason = "alreadyExists"


class Aborted(ApiError):
    code = 409
    status = "ABORTED"
    reason = "aborted"


class ConditionNotMet(ApiError):
    code = 412
    status = "FAILED_PRECONDITION"
    reason = "conditionNotMet"


class Unimplemented(ApiError):
    code = 501
    status = "UNIMPLEMENTED"
    reason = "notImplemented"


class Unavailable(ApiError):
    code = 503
    status = "UNAVAILABLE"
    reason = "backendError"


class StoreError(IntranodeError):
    """The state database failed."""


class DataplaneError(IntranodeError):
    """The kernel (or a kernel tool) refused a change."""

    def __init__(self, message: str, *, errno: int | None = None, stderr: str = "") -> None:
        super().__init__(message)
        self.errno = errno
        self.stderr = stderr


class ReconcileError(IntranodeError):
    """Raised by controllers to say what to do next."""


class TemporaryError(ReconcileError):
    def __init__(self, message: str, *, delay: float = 1.0) -> None:
        super().__init__(message)
        self.delay = delay


class PermanentError(ReconcileError):
    pass
