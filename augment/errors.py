from __future__ import annotations


class LLMError(RuntimeError):
    """An LLM endpoint failed after all retries."""


class NoEndpoint(ValueError):
    """No OpenAI-compatible endpoint is configured (set OPENAI_BASE_URL or use an offline generator)."""
