from __future__ import annotations

from db.errors import ServiceError


class PermissionDenied(ValueError):
    """The reviewer's role does not allow this action."""


class LabelStudioError(ServiceError):
    """Label Studio rejected a request or could not be reached. One line: the server and the operation."""
