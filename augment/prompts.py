"""Prompt templates are files (augment/templates/*.jinja2); '===USER===' separates system from user."""
from __future__ import annotations

import hashlib
import json
from functools import lru_cache
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined

from augment.llm import Message

TEMPLATE_DIR = Path(__file__).parent / "templates"
SEPARATOR = "===USER==="


@lru_cache
def _environment() -> Environment:
    return Environment(loader=FileSystemLoader(TEMPLATE_DIR), undefined=StrictUndefined, keep_trailing_newline=True)


def render_messages(template: str, **context: Any) -> list[Message]:
    text = _environment().get_template(f"{template}.jinja2").render(**context)
    system, _, user = text.partition(SEPARATOR)
    return [{"role": "system", "content": system.strip()}, {"role": "user", "content": user.strip()}]


def prompt_hash(messages: list[Message]) -> str:
    return hashlib.sha256(json.dumps(messages, sort_keys=True).encode()).hexdigest()
