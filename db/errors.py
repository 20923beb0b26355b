"""Errors raised by the db package. User errors subclass ValueError."""
from __future__ import annotations

from pathlib import Path


class NotFound(LookupError):
    """A requested row does not exist."""


class Conflict(RuntimeError):
    """A write collided with another writer (lost lock, duplicate verdict)."""


class IngestError(ValueError):
    """A corpus file is malformed. Names the file and the 1-based line."""

    def __init__(self, path: Path | str, line: int | None, reason: str) -> None:
        self.path = str(path)
        self.line = line
        self.reason = reason
        super().__init__(f"{self.path}:{line}: {reason}" if line else f"{self.path}: {reason}")


class ServiceError(RuntimeError):
    """An external service (Label Studio, an LLM endpoint) failed; the message is one line, secrets masked."""
