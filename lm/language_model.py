"""The one language-model module: a causal LM (a Hugging Face directory, or a GGUF file that transformers dequantizes
once into a cached directory), LoRA fine-tuning with the loss on target tokens only, and batched generation.

Shared by the response generator (trainer/responder.py: one recommender turn) and the dialogue writer
(augment/writer.py: a whole dialogue for a target movie). torch, transformers and peft are imported on first use.
"""
from __future__ import annotations

import random
import shutil
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from lm.placeholder_model import packaged_model

if TYPE_CHECKING:
    import torch
    from torch import Tensor

T = TypeVar("T")
IGNORE = -100
Example = tuple[list[int], list[int]]  # (input ids, labels with IGNORE on the prompt)


class FineTuneConfig(BaseModel):
    """What every LoRA fine-tune of the packaged language model shares: the responder's and the writer's configs."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    dataset: str = "redial"
    base_model: str | None = Field(default=None, description="HF model directory or .gguf file; default packaged Gemma")
    train_splits: tuple[str, ...] = ("train",)
    lora_rank: int = Field(default=8, ge=1)
    lora_alpha: int = 16
    lora_dropout: float = 0.05
    seed: int = 42
    device: str = "auto"


def hold_out_conversations(items: Sequence[T], conversation: Callable[[T], int], fraction: float, seed: int,
                           minimum: int = 0) -> tuple[list[T], list[T]]:
    """(train, held out): a seeded share of conversations (at least `minimum`) is held out whole, so no held-out
    row shares a conversation with a training row. The responder's and the writer's held-out losses both use it."""
    ids = sorted({conversation(item) for item in items})
    held = set(random.Random(seed).sample(ids, max(minimum, int(len(ids) * fraction))))
    return ([item for item in items if conversation(item) not in held],
            [item for item in items if conversation(item) in held])


@dataclass
class LanguageModel:
    model: Any        # transformers PreTrainedModel (a peft model while training)
    tokenizer: Any
    source: str
    newline_ids: Tensor | None = None  # token ids whose text holds a newline (end of a turn), found on first use


def hf_directory(path: str | None) -> Path:
    """A model directory transformers loads fast: the path itself, or for a .gguf file (default: the packaged
    Gemma 3 270M) a dequantized copy made once beside it (`<name>-hf/`)."""
    source = Path(path) if path else packaged_model()
    if source.suffix != ".gguf":
        if not (source / "config.json").exists():
            raise FileNotFoundError(f"{source}: not a Hugging Face model directory (no config.json) nor a .gguf file")
        return source
    converted = source.with_name(f"{source.stem}-hf")
    if not (converted / "config.json").exists():
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer
        if not source.exists():
            raise FileNotFoundError(f"{source}: no such GGUF file")
        partial = converted.with_name(f"{converted.name}.partial")
        shutil.rmtree(partial, ignore_errors=True)
        AutoTokenizer.from_pretrained(source.parent, gguf_file=source.name).save_pretrained(partial)
        model: Any = AutoModelForCausalLM.from_pretrained(source.parent, gguf_file=source.name, dtype=torch.float32)
        model.hf_quantizer = None  # the weights are dequantized float32 now: save them as a plain model
        del model.config.quantization_config
        model.save_pretrained(partial)
        partial.rename(converted)  # complete or absent, never half-written
    return converted


def load_language_model(path: str | None, device: torch.device, adapter: Path | None = None) -> LanguageModel:
    """The base model (and a LoRA adapter directory merged into it, when given)."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer
    directory = hf_directory(path)
    tokenizer = AutoTokenizer.from_pretrained(directory)
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    model: Any = AutoModelForCausalLM.from_pretrained(directory, dtype=torch.float32)
    if adapter is not None:
        from peft import PeftModel
        model = PeftModel.from_pretrained(model, adapter).merge_and_unload()
    return LanguageModel(model.to(device), tokenizer, str(directory))


def add_lora(lm: LanguageModel, cfg: FineTuneConfig) -> int:
    """Wrap the model with LoRA adapters on every linear layer; returns the number of trainable parameters."""
    from peft import LoraConfig, get_peft_model
    lora = LoraConfig(r=cfg.lora_rank, lora_alpha=cfg.lora_alpha, lora_dropout=cfg.lora_dropout,
                      target_modules="all-linear", task_type="CAUSAL_LM")
    lm.model = get_peft_model(lm.model, lora)
    return sum(int(p.numel()) for p in lm.model.parameters() if p.requires_grad)


def encode_pair(lm: LanguageModel, prompt: list[int], target_text: str, target_budget: int) -> Example:
    """(input ids, labels) for a prompt and the text that should follow it (the loss is on that text and EOS)."""
    tok = lm.tokenizer
    target = [*tok(target_text, add_special_tokens=False)["input_ids"][:target_budget], tok.eos_token_id]
    return prompt + target, [IGNORE] * len(prompt) + target


def collate(examples: Sequence[Example], pad_id: int, device: torch.device) -> dict[str, Tensor]:
    """Left-padded, so every target ends the row and the loss needs logits for the last positions only."""
    import torch
    width = max(len(ids) for ids, _ in examples)
    ids = torch.full((len(examples), width), pad_id, dtype=torch.long)
    labels = torch.full((len(examples), width), IGNORE, dtype=torch.long)
    mask = torch.zeros((len(examples), width), dtype=torch.long)
    for row, (x, y) in enumerate(examples):
        ids[row, width - len(x):], labels[row, width - len(y):], mask[row, width - len(x):] = (
            torch.tensor(x), torch.tensor(y), 1)
    return {"input_ids": ids.to(device), "labels": labels.to(device), "attention_mask": mask.to(device)}


def target_loss(lm: LanguageModel, batch: dict[str, Tensor]) -> Tensor:
    """Mean cross-entropy over target tokens. Logits are computed only for the positions that predict them (the
    vocabulary projection is most of a small model's cost: Gemma 3 270M has 262k tokens)."""
    import torch.nn.functional as F
    labels = batch["labels"]
    answered = (labels != IGNORE).any(dim=0).nonzero()
    keep = labels.shape[1] - int(answered.min()) + 1 if len(answered) else 2
    logits = lm.model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"], logits_to_keep=keep).logits
    loss: Tensor = F.cross_entropy(logits[:, :-1].reshape(-1, logits.shape[-1]).float(),
                                   labels[:, -keep + 1:].reshape(-1), ignore_index=IGNORE)
    return loss


def batches(n: int, batch_size: int, seed: int) -> Iterator[list[int]]:
    """Endless shuffled passes over range(n), batch_size indices at a time."""
    rng = random.Random(seed)
    while True:
        order = list(range(n))
        rng.shuffle(order)
        for start in range(0, n - batch_size + 1 if n >= batch_size else 1, batch_size):
            yield order[start:start + batch_size]


def mean_loss(lm: LanguageModel, examples: Sequence[Example], batch_size: int, device: torch.device) -> float:
    import torch
    lm.model.eval()
    with torch.no_grad():
        losses = [float(target_loss(lm, collate(examples[i:i + batch_size], lm.tokenizer.pad_token_id, device)))
                  for i in range(0, len(examples), batch_size)]
    return sum(losses) / len(losses) if losses else float("nan")


def train_steps(lm: LanguageModel, examples: Sequence[Example], *, steps: int, batch_size: int, lr: float, seed: int,
                device: torch.device, progress: bool) -> list[float]:
    """`steps` AdamW steps on the trainable (LoRA) parameters; returns each step's loss."""
    import torch
    from tqdm import tqdm
    optimizer = torch.optim.AdamW([p for p in lm.model.parameters() if p.requires_grad], lr=lr)
    order = batches(len(examples), batch_size, seed)
    losses: list[float] = []
    bar = tqdm(range(steps), desc="fine-tune", disable=not progress, unit="step")
    lm.model.train()
    for _ in bar:
        batch = collate([examples[i] for i in next(order)], lm.tokenizer.pad_token_id, device)
        loss = target_loss(lm, batch)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()  # type: ignore[no-untyped-call]
        optimizer.step()
        losses.append(float(loss.detach()))
        bar.set_postfix(loss=f"{losses[-1]:.3f}")
    return losses


def generate(lm: LanguageModel, prompts: Sequence[list[int]], max_new_tokens: int, device: torch.device, *,
             stop_at_newline: bool = True, temperature: float = 0.0, seed: int = 0) -> list[str]:
    """Continuations of token-id prompts (left-padded into one batch): greedy at temperature 0, else sampled
    (seeded); a row stops at its first newline when stop_at_newline, else at EOS."""
    import torch
    tok = lm.tokenizer
    width = max(len(p) for p in prompts)
    ids = torch.tensor([[tok.pad_token_id] * (width - len(p)) + p for p in prompts], device=device)
    mask = torch.tensor([[0] * (width - len(p)) + [1] * len(p) for p in prompts], device=device)
    sampling: dict[str, Any] = {"do_sample": False}
    if temperature > 0:
        torch.manual_seed(seed)
        sampling = {"do_sample": True, "temperature": temperature, "top_p": 0.95, "top_k": 0}
    lm.model.eval()
    with torch.no_grad():
        out = lm.model.generate(input_ids=ids, attention_mask=mask, max_new_tokens=max_new_tokens,
                                pad_token_id=tok.pad_token_id,
                                stopping_criteria=[end_of_line(lm)] if stop_at_newline else None, **sampling)
    return [str(t) for t in tok.batch_decode(out[:, width:], skip_special_tokens=True)]


def end_of_line(lm: LanguageModel) -> Any:
    """A row stops once it emits a token that contains a newline (a finished row only pads after that)."""
    import torch
    from transformers import StoppingCriteria

    if lm.newline_ids is None:
        tok = lm.tokenizer
        lm.newline_ids = torch.tensor([i for i in range(len(tok)) if "\n" in tok.decode([i])], dtype=torch.long)
    newline_ids = lm.newline_ids

    class EndOfLine(StoppingCriteria):
        def __call__(self, input_ids: Tensor, scores: Tensor, **kwargs: Any) -> Tensor:
            stop: Tensor = torch.isin(input_ids[:, -1], newline_ids.to(input_ids.device))
            return stop

    return EndOfLine()
