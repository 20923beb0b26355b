from __future__ import annotations

from db.errors import ServiceError


class PermissionDenied(ValueError):
    """The reviewer's role does not allow this action."""


class LabelStudioError(ServiceError):
    """Label Studio rejected a request or could not be reached. One line: the server and the operation.
    `maybe_done`: the request may have reached the server and be carried out without our reading its reply (a
    timeout, a dropped connection); False when it was refused or never connected."""

    def __init__(self, message: str, *, maybe_done: bool = False) -> None:
        super().__init__(message)
        self.maybe_done = maybe_done
