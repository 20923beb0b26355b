from __future__ import annotations


class PermissionDenied(ValueError):
    """The reviewer's role does not allow this action."""


class LabelStudioError(RuntimeError):
    """Label Studio rejected a request or could not be reached."""
