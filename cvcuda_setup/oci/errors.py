"""The registry's errors: unreachable (a caller may fall back to building) or an answer that is an error."""

from __future__ import annotations

from cvcuda_setup.errors import CvCudaSetupError


class RegistryUnavailable(CvCudaSetupError):
    """The registry cannot be reached: connection refused, unknown host, timeout, connection dropped.

    Exit status 2, like a missing tool: the environment lacks something the command needs. A caller that
    can do without the registry (build instead of pull) catches this one and says so.
    """

    return_code = 2


class RegistryError(CvCudaSetupError):
    """The registry answered with an error (HTTP status and its error code), or sent something wrong
    (a digest that does not match, an artifact of another type, an unsafe layer title)."""

    return_code = 1

    def __init__(
        self, message: str, *, hint: str | None = None, status: int | None = None, code: str | None = None
    ) -> None:
        super().__init__(message, hint=hint)
        self.status = status
        self.code = code


class DigestMismatch(RegistryError):
    """Content fetched from the registry does not have the digest (or size) it was asked for."""
