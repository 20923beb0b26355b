"""A PEFT LoRA adapter (trained by lm/language_model.py on the dequantized packaged Gemma 3 270M) written as a GGUF
LoRA adapter, so llama.cpp applies it at run time on top of the packaged Q4_K_M GGUF it was trained against.

The HF model was dequantized from that same GGUF, so base weights are identical on both engines; only the adapter's
precision (f32 here) and the kernels differ. PEFT stores lora_A as (rank, in) and lora_B as (out, rank), which is the
layout llama.cpp expects for `<base tensor>.lora_a` / `.lora_b`; the tensor names come from gguf's own name map.
The file is derived, never shipped: it is rebuilt into the project's cache whenever the adapter's sha256 changes.
"""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

SUFFIXES = {".lora_A.weight": "lora_a", ".lora_B.weight": "lora_b"}
PEFT_PREFIX = "base_model.model."


class AdapterFormatError(ValueError):
    """The adapter cannot be written as a GGUF LoRA (unknown tensor, wrong shape, missing config field)."""


def _base_name(peft_name: str, name_map: object) -> tuple[str, str]:
    for suffix, kind in SUFFIXES.items():
        if peft_name.endswith(suffix):
            hf_name = peft_name[len(PEFT_PREFIX):] if peft_name.startswith(PEFT_PREFIX) else peft_name
            hf_name = hf_name[: -len(suffix)] + ".weight"
            gguf_name = name_map.get_name(hf_name, try_suffixes=(".weight",))  # type: ignore[attr-defined]
            if gguf_name is None:
                raise AdapterFormatError(f"{peft_name}: no llama.cpp tensor for {hf_name}")
            return gguf_name, kind
    raise AdapterFormatError(f"{peft_name}: not a LoRA A/B weight (only plain LoRA adapters can be converted)")


def convert_adapter(adapter: Path, out: Path, *, architecture: str = "gemma3", n_blocks: int = 18) -> Path:
    """Write `adapter` (adapter_config.json + adapter_model.safetensors) as a GGUF LoRA at `out` (f32 tensors)."""
    import gguf
    import numpy as np
    from numpy.typing import NDArray
    from safetensors.numpy import load_file

    config_path = adapter / "adapter_config.json"
    config = json.loads(config_path.read_text())
    for field in ("r", "lora_alpha"):
        if not isinstance(config.get(field), (int, float)):
            raise AdapterFormatError(f"{config_path}: field {field} missing or not a number")
    if config.get("use_dora") or config.get("use_rslora"):
        raise AdapterFormatError(f"{config_path}: DoRA/rsLoRA adapters have no llama.cpp equivalent here")
    arch = next((a for a, name in gguf.MODEL_ARCH_NAMES.items() if name == architecture), None)
    if arch is None:
        raise AdapterFormatError(f"{architecture}: unknown llama.cpp architecture")
    name_map = gguf.get_tensor_name_map(arch, n_blocks)
    tensors = load_file(str(adapter / "adapter_model.safetensors"))
    pairs: dict[str, dict[str, NDArray[np.float32]]] = {}
    for peft_name, value in tensors.items():
        base, kind = _base_name(peft_name, name_map)
        pairs.setdefault(base, {})[kind] = value.astype(np.float32)
    for base, pair in pairs.items():
        if set(pair) != {"lora_a", "lora_b"}:
            raise AdapterFormatError(f"{adapter}: {base} has {sorted(pair)} only")
        a, b = pair["lora_a"], pair["lora_b"]
        if a.ndim != 2 or b.ndim != 2 or a.shape[0] != config["r"] or b.shape[1] != config["r"]:
            raise AdapterFormatError(f"{adapter}: {base} lora shapes {a.shape} / {b.shape} do not have rank {config['r']}")
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(f"{out.name}.{os.getpid()}.partial")  # two processes converting at once never share it
    writer = gguf.GGUFWriter(str(partial), architecture)
    writer.add_type(gguf.GGUFType.ADAPTER)
    writer.add_string(gguf.Keys.Adapter.TYPE, "lora")
    writer.add_float32(gguf.Keys.Adapter.LORA_ALPHA, float(config["lora_alpha"]))
    for base in sorted(pairs):
        for kind in ("lora_a", "lora_b"):
            writer.add_tensor(f"{base}.{kind}", pairs[base][kind])
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    partial.replace(out)  # a crash never leaves a half-written adapter under the final name
    return out


def cached_gguf_adapter(adapter: Path, cache: Path) -> Path:
    """The adapter's GGUF in `cache`, named by the adapter's sha256 (converted once, about a second)."""
    digest = hashlib.sha256((adapter / "adapter_model.safetensors").read_bytes()).hexdigest()[:16]
    out = cache / f"lora-{digest}.gguf"
    return out if out.exists() else convert_adapter(adapter, out)
