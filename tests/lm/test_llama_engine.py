"""The shared llama.cpp engine (lm/llama_engine.py): which engine a setting means, and on the packaged model (slow)
that llama.cpp's token ids are the transformers tokenizer's, so a prompt fitted by either is the same prompt."""
from __future__ import annotations

from pathlib import Path

import pytest

from lm.llama_engine import LlamaModel, llama_cpp_installed, use_llama_cpp


def test_which_engine_a_setting_means(monkeypatch: pytest.MonkeyPatch) -> None:
    import lm.llama_engine as engine
    for installed in (True, False):
        monkeypatch.setattr(engine, "llama_cpp_installed", lambda installed=installed: installed)
        assert use_llama_cpp("auto", None) is installed        # the packaged base: llama.cpp when installed
        assert use_llama_cpp("auto", "/models/other") is False  # another base: the converter does not know it
        assert use_llama_cpp("transformers", None) is False
    with pytest.raises(FileNotFoundError, match="setup_llm.sh` or set AUGMENT_WRITER_ENGINE=transformers"):
        use_llama_cpp("llama.cpp", None, "set AUGMENT_WRITER_ENGINE=transformers")
    monkeypatch.setattr(engine, "llama_cpp_installed", lambda: True)
    assert use_llama_cpp("llama.cpp", None) is True
    with pytest.raises(ValueError, match="packaged GGUF only, not of '/models/other': use --engine transformers"):
        use_llama_cpp("llama.cpp", "/models/other")
    with pytest.raises(ValueError, match="engine must be one of auto, llama.cpp, transformers, not 'vllm'"):
        use_llama_cpp("vllm", None)


@pytest.mark.slow
def test_llama_cpp_and_transformers_give_the_same_token_ids() -> None:
    if not llama_cpp_installed():
        pytest.skip("the local engine is not installed (bash scripts/setup_llm.sh)")
    from transformers import AutoTokenizer

    from lm.language_model import hf_directory
    hf = AutoTokenizer.from_pretrained(hf_directory(None))
    llama = LlamaModel(None, threads=1)
    for text in ("Recommended movie: Amélie (2001). A shy waitress\nSeeker: any 80s horror? 🙂\nRecommender:",
                 "Recommended movie: none\nRecommender:  two  spaces,\ttab <movie> @12345",
                 ""):
        assert llama.tokenize(text) == list(hf(text)["input_ids"]), text
    greedy = [llama.complete(llama.tokenize("Seeker: hi\nRecommender:"), max_tokens=8, stop=("\n",)).text
              for _ in range(2)]
    assert greedy[0] == greedy[1] and "\n" not in greedy[0]  # greedy and cut at the line's end


def test_a_missing_packaged_model_is_one_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    if not llama_cpp_installed():
        pytest.skip("the local engine is not installed (bash scripts/setup_llm.sh)")
    with pytest.raises(ValueError, match="absent.gguf"):
        LlamaModel(None, model_path=tmp_path / "absent.gguf").complete("hi", max_tokens=1)
