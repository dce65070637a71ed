"""Language-model pre-training of the embedding and recurrent encoder on the training texts.

An LSTM that first learns to predict the next word of the texts it will classify, then is
fine-tuned on the labels, generalises better than one trained on the labels alone (Dai & Le
2015: 0.865 → 0.92+ on IMDB). The labels are not used here, only the token ids of the train
split.

A bidirectional encoder is pre-trained as a biLM (ELMo): at step t the forward direction's
output, which has read tokens 0..t, predicts token t+1, and the backward direction's output,
which has read tokens t..L-1 of its sequence, predicts token t-1. Targets exist only inside each
sequence's length, so padding is never predicted and never read. This is exact for one
bidirectional layer (or any number of unidirectional ones); a second bidirectional layer, a
convolution or a transformer on top would let each output see the word it must predict, so
those are rejected with the reason.

The softmax over a 50k vocabulary would cost more than the LSTM, so it is sampled (Jean et al.
2015): per batch S negative ids are drawn from the unigram distribution raised to 0.75, every
logit is corrected by ``-log(S * q(id))``, and a negative equal to the target is masked.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, NoReturn

import numpy as np
import torch
from torch import Tensor, nn
from tqdm.auto import tqdm

from padless.batching.batch import Batch, make_batch
from padless.batching.samplers import BucketBatchSampler
from padless.config import PretrainConfig
from padless.encode.splits import Split
from padless.errors import config_error
from padless.models.classifier import SequenceClassifier
from padless.models.encoder import RecurrentEncoder
from padless.nn.lengths import lengths_mask
from padless.progress import show_bars

logger = logging.getLogger(__name__)


def check_pretrainable(model: SequenceClassifier) -> tuple[nn.Embedding, RecurrentEncoder]:
    """Raise a ConfigError naming the setting when ``model`` cannot be pre-trained as an LM;
    else return the parts pre-training trains: its embedding and its recurrent encoder."""

    def fail(expected: str, got: str, fix: str) -> NoReturn:
        raise config_error("config key 'pretrain.epochs'", expected, got, fix)

    embed = model.embed
    if not isinstance(embed, nn.Embedding):
        fail("token-id inputs (text)", "numeric features", "set pretrain.epochs = 0")
    if model.conv is not None:
        fail(
            "no conv front end (a convolution shows each step its next word)",
            f"model.conv_channels = {model.conv.output_size}",
            "set model.conv_channels = 0 or pretrain.epochs = 0",
        )
    enc = model.encoder
    if not isinstance(enc, RecurrentEncoder):
        fail(
            "a recurrent encoder alone (a transformer on top sees the whole sequence)",
            "model.transformer_layers > 0",
            "set model.transformer_layers = 0 or pretrain.epochs = 0",
        )
    if enc.bidirectional and enc.num_layers > 1:
        fail(
            "one bidirectional layer (above it each direction has read the other's future)",
            f"model.num_layers = {enc.num_layers} with bidirectional = true",
            "set model.num_layers = 1, bidirectional = false, or pretrain.epochs = 0",
        )
    return embed, enc


class SampledSoftmax(nn.Module):
    """Output table (V, H) + bias scored against the target and S shared negative samples."""

    q: Tensor  # (V,) sampling distribution, a non-persistent buffer

    def __init__(self, counts: np.ndarray, hidden_size: int, negatives: int):
        super().__init__()
        vocab = len(counts)
        self.weight = nn.Parameter(torch.randn(vocab, hidden_size) / math.sqrt(hidden_size))
        self.bias = nn.Parameter(torch.zeros(vocab))
        q = counts.astype(np.float64) ** 0.75
        q[0] = 0.0  # never sample padding
        q /= q.sum()
        self.register_buffer("q", torch.as_tensor(q, dtype=torch.float32), persistent=False)
        # Negatives are drawn on the CPU with the CPU generator (seeded, checkpointed) on every
        # device: a CUDA tensor refuses a CPU generator, and the draws stay device-independent.
        self.q_cpu = self.q.clone()
        self.negatives = negatives

    def forward(self, h: Tensor, target: Tensor, generator: torch.Generator) -> Tensor:
        """Mean sampled-softmax loss of hidden states h (N, H) for target ids (N,).

        The (N, S) logits are the cost here, so they take one addmm and one logsumexp; a
        negative equal to its row's target (an accidental hit) is masked by index, not by an
        (N, S) comparison.
        """
        neg = torch.multinomial(self.q_cpu, self.negatives, replacement=True, generator=generator)
        neg = torch.unique(neg.to(h.device))  # (S',) distinct ids
        log_expected = torch.log(self.q.to(h.device) * self.negatives)
        correction = self.bias - log_expected  # (V,)
        true = (h * self.weight[target]).sum(-1) + correction[target]  # (N,)
        sampled = torch.addmm(correction[neg][None, :], h, self.weight[neg].T)  # (N, S')
        column = torch.full_like(self.bias, -1, dtype=torch.long)
        column[neg] = torch.arange(len(neg), device=h.device)
        col = column[target]
        rows = torch.nonzero(col >= 0).squeeze(1)
        if len(rows):
            sampled.index_put_((rows, col[rows]), torch.tensor(float("-inf")))
        total = torch.logaddexp(true, torch.logsumexp(sampled, dim=1))
        return (total - true).mean()


def lm_pairs(outputs: Tensor, ids: Tensor, lengths: Tensor, hidden: int, bidirectional: bool):
    """(states, targets) of every real step: forward (N, H) → next id, backward → previous id.

    ``outputs`` (B, T, D*H) from the encoder, ``ids`` (B, T) the token ids it read.
    """
    mask = lengths_mask(lengths.to(ids.device), ids.shape[1])  # (B, T) real steps
    nxt = mask[:, 1:]  # step t has a next token inside the sequence
    states = [outputs[:, :-1, :hidden][nxt]]
    targets = [ids[:, 1:][nxt]]
    if bidirectional:  # step t >= 1 has a previous token
        states.append(outputs[:, 1:, hidden:][nxt])
        targets.append(ids[:, :-1][nxt])
    return torch.cat(states), torch.cat(targets)


@dataclass
class _LanguageModel:
    """What pre-training trains: the model's embedding and encoder under the sampled softmax,
    with AdamW over the three (in that order) and a cosine decay over all steps."""

    model: SequenceClassifier
    embed: nn.Embedding
    encoder: RecurrentEncoder
    output: SampledSoftmax
    params: list[nn.Parameter]
    optimizer: torch.optim.Optimizer
    schedule: torch.optim.lr_scheduler.LambdaLR
    dropout: nn.Dropout  # on the states the softmax scores, at the model's dropout rate
    generator: torch.Generator  # draws the negatives (CPU, seeded)

    def step(self, batch: Batch, grad_clip: float) -> tuple[float, int]:
        """One optimizer step on ``batch``; (mean loss, number of predicted tokens)."""
        enc, model = self.encoder, self.model
        x = model.embedding_dropout(self.embed(batch.inputs))  # (B, T, E)
        outputs, _ = enc(x, batch.lengths, return_state=False)  # (B, T, D*H)
        h, target = lm_pairs(
            outputs, batch.inputs, batch.lengths, enc.hidden_size, enc.bidirectional
        )
        loss = self.output(self.dropout(h), target, self.generator)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if grad_clip > 0:
            nn.utils.clip_grad_norm_(self.params, grad_clip)
        self.optimizer.step()
        self.schedule.step()
        return loss.item(), len(target)


def pretrain_language_model(
    model: SequenceClassifier,
    split: Split,
    p: PretrainConfig,
    *,
    batch_size: int,
    grad_clip: float,
    seed: int,
    device: torch.device,
    quiet: bool = False,
) -> list[dict[str, Any]]:
    """Train ``model``'s embedding and encoder as a (bi)LM on ``split``; returns per-epoch records.

    The head is untouched; the LM output table is discarded afterwards.
    """
    embed, enc = check_pretrainable(model)
    if split.inputs and np.asarray(split.inputs[0]).ndim != 1:
        raise config_error(
            "config key 'pretrain.epochs'",
            "one token id per step",
            "several ids per step (text.ngrams = 2: a bigram id shows the previous word)",
            "set text.ngrams = 1 or pretrain.epochs = 0",
        )
    counts = np.bincount(
        np.concatenate([np.asarray(x, dtype=np.int64) for x in split.inputs]),
        minlength=embed.num_embeddings,
    )
    out = SampledSoftmax(counts, enc.hidden_size, p.negatives).to(device)
    params = [*embed.parameters(), *enc.parameters(), *out.parameters()]
    fused = True if device.type in ("cpu", "cuda") else None
    optimizer = torch.optim.AdamW(params, lr=p.lr, weight_decay=0.0, fused=fused)
    sampler = BucketBatchSampler(
        lengths=split.lengths(), batch_size=batch_size, shuffle=True, seed=seed + 1
    )
    total = max(1, p.epochs * len(sampler))
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: 0.5 * (1 + math.cos(math.pi * min(1.0, s / total)))
    )
    generator = torch.Generator().manual_seed(seed)
    lm = _LanguageModel(
        model, embed, enc, out, params, optimizer, schedule, nn.Dropout(model.dropout.p), generator
    )
    model.train()
    history = []
    for epoch in range(p.epochs):
        sampler.set_epoch(epoch)
        bar = tqdm(
            list(sampler),
            desc=f"pretrain {epoch + 1}/{p.epochs}",
            unit="batch",
            disable=not show_bars(quiet),
            dynamic_ncols=True,
        )
        batches = (make_batch(split, idx, "multiclass").to(device) for idx in bar)
        history.append(_epoch(lm, epoch, batches, bar, grad_clip))
    return history


def _epoch(
    lm: _LanguageModel, epoch: int, batches: Iterable[Batch], bar: Any, grad_clip: float
) -> dict[str, Any]:
    """One epoch over ``batches`` (``bar`` shows the progress); returns its record."""
    tick, seen, loss_sum, n = time.perf_counter(), 0, 0.0, 0
    for batch in batches:
        value, count = lm.step(batch, grad_clip)
        loss_sum, n, seen = loss_sum + value * count, n + count, seen + batch.num_tokens
        rate = seen / max(time.perf_counter() - tick, 1e-9)
        bar.set_postfix(loss=f"{loss_sum / n:.3f}", tok_s=f"{rate:,.0f}", refresh=False)
    record = {
        "epoch": epoch + 1,
        "lm_loss": loss_sum / max(n, 1),
        "tokens_per_s": seen / (time.perf_counter() - tick),
        "seconds": time.perf_counter() - tick,
    }
    logger.info("pretrain epoch %d: %s", epoch + 1, {k: round(v, 4) for k, v in record.items()})
    return record
