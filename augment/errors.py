from __future__ import annotations

from db.errors import ServiceError


class LLMError(ServiceError):
    """One LLM call failed (after the client's retries, or at once when retrying cannot help). One line, masked."""


class LLMFatal(LLMError):
    """Every call to this endpoint would fail the same way (bad key, unknown model): the run stops."""


class CallCancelled(LLMError):
    """The call was cancelled (Ctrl+C); it is neither a success nor a failure."""


class NoEndpoint(ValueError):
    """No OpenAI-compatible endpoint is configured (set OPENAI_BASE_URL or use an offline generator)."""
