from __future__ import annotations

from db.errors import ServiceError


class LLMError(ServiceError):
    """One LLM call failed (after the client's retries, or at once when retrying cannot help). One line, masked."""


class LLMFatal(LLMError):
    """Every call to this endpoint would fail the same way (bad key, unknown model): the run stops."""


class AllCallsFailed(LLMError):
    """Every call of a pipeline step failed (the reasons were printed as they came): the run stops, non-zero."""


class ClientFault(LLMFatal):
    """Our side failed: a bug in this program or an openai client it does not fit (never the server's reply).
    Fatal: every call would fail the same way."""


class MalformedReply(ValueError):
    """A 200 whose body is not a completion (internal: augment.llm turns it into an LLMError naming the endpoint)."""


class CallCancelled(LLMError):
    """The call was cancelled (Ctrl+C); it is neither a success nor a failure."""


class NoEndpoint(ValueError):
    """No OpenAI-compatible endpoint is configured (set OPENAI_BASE_URL or use an offline generator)."""
