"""The linear n-gram baseline as a torch module, for export and serving beside other models.

:class:`NgramLinear` scores right-padded ids exactly as the scikit-learn baseline
(:mod:`padless.evaluation.ngrams`) does: unigram ``u`` is feature ``u``, the bigram ``(a, b)``
of consecutive real ids is feature ``V + (a * P + b) mod M``; each distinct feature ``f`` of a
row with count ``c`` has ``tfidf_f = (1 + ln c) * idf[f]``, and the row's score is
``sum_f tfidf_f * weight[f] / sqrt(sum_f tfidf_f ** 2) + intercept`` (0 / 0 -> intercept only).

Shapes (legend: B batch, T steps, V vocabulary, M buckets, F = V + M features, K outputs):
``ids`` (B, T) int64 right-padded, ``lengths`` (B,) int64 -> scores (B, K) float32; buffers
``idf`` (F,), parameters ``weight`` (F, K) (a gather per position, not a sparse matmul) and
``intercept`` (K,).

Distinct features are counted by sorting each row, in O(T log T) per row and O(B * T) memory
(the earlier (B, T, T) equality compare took seconds and gigabytes at T ~ 1000). Per stream
(unigrams (B, T), bigrams (B, T - 1)): padded positions get the sentinel feature ``F``, larger
than any real one, so they sort to the end of the row; ``torch.sort`` (ONNX ``TopK``) makes
equal features adjacent, ``s[:, 1:] != s[:, :-1]`` marks where each run of one feature starts,
a cumsum numbers the runs, ``scatter_add`` (ONNX ``ScatterElements`` with ``reduction="add"``,
opset 16+) counts each run and a gather hands the count back to the run's first position.
Summing ``g(f, c)`` over run starts below the sentinel is then summing over distinct
features. Everything is whole-tensor ops (no loops over B or T, no ``unique``), so the module
scripts with TorchScript and exports to ONNX with dynamic B and T.
"""

import torch
from torch import Tensor, nn

from padless.errors import data_error

__all__ = ["NgramLinear"]


class NgramLinear(nn.Module):
    """TF-IDF of hashed word 1-2-grams, then a linear layer; see the module docstring."""

    idf: Tensor

    def __init__(
        self,
        idf: Tensor,
        weight: Tensor,
        intercept: Tensor,
        *,
        vocab_size: int,
        buckets: int,
        prime: int,
    ) -> None:
        super().__init__()
        features = vocab_size + buckets
        if idf.shape != (features,) or weight.dim() != 2 or weight.shape[0] != features:
            raise data_error(
                "NgramLinear",
                f"idf ({features},) and weight ({features}, K) for V={vocab_size}, M={buckets}",
                f"idf {tuple(idf.shape)}, weight {tuple(weight.shape)}",
                "build it with NgramModel.to_module()",
            )
        if intercept.shape != (weight.shape[1],):
            raise data_error(
                "NgramLinear", f"intercept ({weight.shape[1]},)", f"{tuple(intercept.shape)}"
            )
        self.vocab_size = int(vocab_size)
        self.buckets = int(buckets)
        self.prime = int(prime)
        self.register_buffer("idf", idf.detach().to(torch.float32).clone())
        self.weight = nn.Parameter(weight.detach().to(torch.float32).clone())
        self.intercept = nn.Parameter(intercept.detach().to(torch.float32).clone())

    def _stream(self, feats: Tensor, valid: Tensor) -> tuple[Tensor, Tensor]:
        """(sum_f tfidf_f * weight[f] (B, K), sum_f tfidf_f ** 2 (B,)) of one stream:
        ``feats`` (B, S) feature ids, ``valid`` (B, S) bool."""
        sentinel = self.vocab_size + self.buckets  # F: sorts after every real feature
        feats = torch.where(valid, feats, torch.full_like(feats, sentinel))
        s, _ = torch.sort(feats, dim=1)  # (B, S), equal features adjacent, padding last
        start = torch.cat([torch.ones_like(s[:, :1]), (s[:, 1:] != s[:, :-1]).to(s.dtype)], 1)
        run = torch.cumsum(start, dim=1) - 1  # (B, S) run index of each position
        ones = torch.ones_like(s, dtype=torch.float32)
        count = torch.zeros_like(ones).scatter_add(1, run, ones).gather(1, run)  # run length
        real = s < sentinel
        first = start.to(torch.float32) * real.to(torch.float32)  # one per distinct feature
        safe = torch.where(real, s, torch.zeros_like(s))
        value = first * (1.0 + torch.log(count)) * self.idf[safe]  # (B, S), tfidf at starts
        num = (value.unsqueeze(2) * self.weight[safe]).sum(dim=1)
        return num, (value * value).sum(dim=1)

    def forward(self, ids: Tensor, lengths: Tensor) -> Tensor:
        """Scores (B, K) of right-padded ``ids`` (B, T) with real ``lengths`` (B,)."""
        t = ids.shape[1]
        steps = torch.arange(t, device=ids.device).unsqueeze(0)
        uni_valid = steps < lengths.unsqueeze(1)
        bi_valid = uni_valid[:, 1:]
        first, second = ids[:, :-1], ids[:, 1:]
        bigrams = self.vocab_size + torch.remainder(first * self.prime + second, self.buckets)
        num_u, sq_u = self._stream(ids, uni_valid)
        num_b, sq_b = self._stream(bigrams, bi_valid)
        norm = torch.sqrt(sq_u + sq_b)
        norm = torch.where(norm > 0, norm, torch.ones_like(norm))
        return (num_u + num_b) / norm.unsqueeze(1) + self.intercept
