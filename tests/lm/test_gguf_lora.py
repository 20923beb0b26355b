"""The PEFT -> GGUF LoRA conversion: names, shapes and alpha as llama.cpp reads them, refusals, nothing half-written."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import save_file

from lm.gguf_lora import AdapterFormatError, cached_gguf_adapter, convert_adapter

RANK, HIDDEN, FFN = 2, 8, 12


def write_adapter(directory: Path, tensors: dict[str, np.ndarray], **config: object) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "adapter_config.json").write_text(json.dumps({"r": RANK, "lora_alpha": 4, **config}))
    save_file(tensors, str(directory / "adapter_model.safetensors"))
    return directory


def peft(module: str, layer: int = 0) -> str:
    return f"base_model.model.model.layers.{layer}.{module}"


def two_modules() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    return {f"{peft('self_attn.q_proj')}.lora_A.weight": rng.normal(size=(RANK, HIDDEN)).astype(np.float16),
            f"{peft('self_attn.q_proj')}.lora_B.weight": rng.normal(size=(HIDDEN, RANK)).astype(np.float16),
            f"{peft('mlp.down_proj', 1)}.lora_A.weight": rng.normal(size=(RANK, FFN)).astype(np.float16),
            f"{peft('mlp.down_proj', 1)}.lora_B.weight": rng.normal(size=(HIDDEN, RANK)).astype(np.float16)}


def test_tensors_keep_peft_layout_under_llama_cpp_names_with_alpha(tmp_path: Path) -> None:
    import gguf

    tensors = two_modules()
    out = convert_adapter(write_adapter(tmp_path / "a", tensors), tmp_path / "a.gguf")
    reader = gguf.GGUFReader(str(out))
    assert reader.fields["general.type"].contents() == "adapter"
    assert reader.fields["adapter.type"].contents() == "lora"
    assert reader.fields["adapter.lora.alpha"].contents() == 4.0
    assert reader.fields["general.architecture"].contents() == "gemma3"
    read = {t.name: np.asarray(t.data) for t in reader.tensors}
    assert sorted(read) == ["blk.0.attn_q.weight.lora_a", "blk.0.attn_q.weight.lora_b",
                            "blk.1.ffn_down.weight.lora_a", "blk.1.ffn_down.weight.lora_b"]
    # lora_a is (rank, in) and lora_b (out, rank), as PEFT stores them: llama.cpp's expected layout
    np.testing.assert_allclose(read["blk.1.ffn_down.weight.lora_a"], tensors[f"{peft('mlp.down_proj', 1)}.lora_A.weight"])
    np.testing.assert_allclose(read["blk.0.attn_q.weight.lora_b"], tensors[f"{peft('self_attn.q_proj')}.lora_B.weight"])
    assert read["blk.0.attn_q.weight.lora_a"].dtype == np.float32


@pytest.mark.parametrize("change, message", [
    (lambda t, c: c.pop("lora_alpha"), "field lora_alpha missing"),
    (lambda t, c: c.update(use_dora=True), "DoRA"),
    (lambda t, c: t.pop(next(k for k in t if k.endswith("lora_B.weight"))), "has ['lora_a'] only"),
    (lambda t, c: t.update({peft("self_attn.q_proj") + ".lora_A.weight": np.zeros((3, HIDDEN), np.float16)}),
     "do not have rank 2"),
    (lambda t, c: t.update({peft("self_attn.q_proj") + ".lora_magnitude_vector": np.zeros(HIDDEN, np.float16)}),
     "not a LoRA A/B weight"),
    (lambda t, c: t.update({"base_model.model.model.vision.proj.lora_A.weight": np.zeros((RANK, 4), np.float16)}),
     "no llama.cpp tensor"),
])
def test_an_adapter_llama_cpp_cannot_apply_is_refused_and_nothing_is_written(tmp_path: Path, change, message) -> None:
    tensors, config = two_modules(), {"r": RANK, "lora_alpha": 4}
    change(tensors, config)
    adapter = tmp_path / "a"
    write_adapter(adapter, tensors)
    (adapter / "adapter_config.json").write_text(json.dumps(config))
    with pytest.raises(AdapterFormatError, match=message.replace("[", r"\[").replace("]", r"\]")):
        convert_adapter(adapter, tmp_path / "out" / "a.gguf")
    assert not list(tmp_path.glob("out/*"))


def test_the_cached_file_is_named_by_the_adapters_digest_and_rebuilt_when_it_changes(tmp_path: Path) -> None:
    adapter = write_adapter(tmp_path / "a", two_modules())
    first = cached_gguf_adapter(adapter, tmp_path / "cache")
    assert cached_gguf_adapter(adapter, tmp_path / "cache") == first
    changed = {k: v + 1 for k, v in two_modules().items()}
    write_adapter(adapter, changed)
    second = cached_gguf_adapter(adapter, tmp_path / "cache")
    assert second != first and second.exists()


def test_two_processes_converting_at_once_leave_one_whole_file(tmp_path: Path) -> None:
    """Two writer processes starting together both find no cached GGUF and convert it: each writes its own partial
    file, so the one under the final name is always whole."""
    import subprocess
    import sys

    import gguf

    adapter = write_adapter(tmp_path / "a", two_modules())
    script = ("import sys; from pathlib import Path; from lm.gguf_lora import convert_adapter; "
              "[convert_adapter(Path(sys.argv[1]), Path(sys.argv[2])) for _ in range(20)]")
    runs = [subprocess.Popen([sys.executable, "-c", script, str(adapter), str(tmp_path / "out.gguf")],
                             cwd=Path(__file__).resolve().parents[2], stderr=subprocess.PIPE, text=True)
            for _ in range(2)]
    errors = [run.communicate(timeout=120)[1] for run in runs]
    assert [run.returncode for run in runs] == [0, 0], errors
    assert len(gguf.GGUFReader(str(tmp_path / "out.gguf")).tensors) == 4
    assert not list(tmp_path.glob("*.partial"))


def test_the_shipped_writer_converts_onto_tensors_the_packaged_model_has(tmp_path: Path) -> None:
    import gguf

    from augment.writer import ADAPTER_DIR
    try:
        from lm.placeholder_model import packaged_model
        model = packaged_model()
    except FileNotFoundError:
        pytest.skip("the packaged model is not installed (bash scripts/setup_llm.sh)")
    base = {t.name: tuple(int(n) for n in t.shape) for t in gguf.GGUFReader(str(model)).tensors}
    lora = gguf.GGUFReader(str(convert_adapter(ADAPTER_DIR, tmp_path / "writer.gguf")))
    names = {t.name for t in lora.tensors}
    assert len(names) == 2 * 7 * 18  # q, k, v, o, gate, up, down in each of the 18 blocks
    for tensor in lora.tensors:
        target, kind = tensor.name.rsplit(".", 1)
        n_in, n_out = base[target]  # ggml order: (in, out)
        shape = tuple(int(n) for n in tensor.shape)  # ggml order too
        assert shape == ((n_in, 8) if kind == "lora_a" else (8, n_out)), tensor.name


def test_held_out_conversations_are_whole_seeded_and_at_least_the_minimum() -> None:
    from lm.language_model import hold_out_conversations

    rows = [(conversation, turn) for conversation in range(10) for turn in range(3)]
    train, held = hold_out_conversations(rows, lambda r: r[0], 0.2, seed=42)
    assert {c for c, _ in train}.isdisjoint({c for c, _ in held}) and len({c for c, _ in held}) == 2
    assert len(train) + len(held) == 30 and (train, held) == hold_out_conversations(rows, lambda r: r[0], 0.2, 42)
    assert hold_out_conversations(rows, lambda r: r[0], 0.05, 42)[1] == []  # int(10 * 0.05) = 0 ...
    assert len({c for c, _ in hold_out_conversations(rows, lambda r: r[0], 0.05, 42, minimum=1)[1]}) == 1  # ... or 1
