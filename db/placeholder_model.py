"""The packaged placeholder LLM (BASE Gemma 3 270M on the local engine): output worth trying the workflow on, never data."""
from __future__ import annotations

PLACEHOLDER_MODEL = "gemma-3-270m"
PLACEHOLDER_NOTICE = ("Made by the tiny placeholder model (Gemma 3 270M, a base model on the local engine) so you can try "
                      "the workflow; its dialogues and judge votes carry no signal. For real data set OPENAI_BASE_URL to "
                      "a real OpenAI-compatible endpoint and run the augment commands (README, 'LLM endpoint').")


def is_placeholder(generator: str) -> bool:
    return generator.split(":")[-1] == PLACEHOLDER_MODEL
