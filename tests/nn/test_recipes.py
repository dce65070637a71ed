"""The one-import change: user code written the way the common tutorials write it (BRIEF.md
section 1), run once with ``import torch.nn as nn`` and once with ``import padless.nn as nn``,
gives the same numbers: eval outputs, and losses and weights after a few SGD steps.

The three recipes (written here in the tutorials' style, not copied): the IMDB BiLSTM
(Embedding → packed 2-layer BiLSTM → ``cat(h[-2], h[-1])`` → Linear, BCEWithLogitsLoss,
``clip_grad_norm_``), the LSTM → TransformerEncoder hybrid (packed LSTM → ``pad_packed_sequence``
→ ``src_key_padding_mask``), and the sum-mod-k RNN (many-to-one over ``out[:, -1]``). Each recipe
takes the ``nn`` module as its only difference. Training is compared with the LSTM's own
dropout at 0: torch's draws its masks over packed data, padless's over padded data, so random
masks cannot coincide (the other dropouts draw the same numbers in both).
"""

from __future__ import annotations

import pytest
import torch
import torch.nn as torch_nn

import padless.nn as padless_nn


def imdb_bilstm(nn, vocab=50, emb=8, hidden=6, lstm_dropout=0.5):
    class SentimentLSTM(nn.Module):
        def __init__(self):
            super().__init__()
            self.embedding = nn.Embedding(vocab, emb, padding_idx=0)
            self.lstm = nn.LSTM(emb, hidden, num_layers=2, bidirectional=True,
                                dropout=lstm_dropout, batch_first=True)  # fmt: skip
            self.dropout = nn.Dropout(0.5)
            self.fc = nn.Linear(hidden * 2, 1)

        def forward(self, text, text_lengths):
            embedded = self.dropout(self.embedding(text))
            packed = nn.utils.rnn.pack_padded_sequence(
                embedded, text_lengths.cpu(), batch_first=True, enforce_sorted=False
            )
            packed_output, (hidden, cell) = self.lstm(packed)
            hidden = self.dropout(torch.cat((hidden[-2, :, :], hidden[-1, :, :]), dim=1))
            return self.fc(hidden).squeeze(1)

    return SentimentLSTM()


def lstm_transformer(nn, vocab=50, emb=8, hidden=4, heads=2):
    class Hybrid(nn.Module):
        def __init__(self):
            super().__init__()
            self.embedding = nn.Embedding(vocab, emb, padding_idx=0)
            self.lstm = nn.LSTM(emb, hidden, batch_first=True, bidirectional=True)
            layer = nn.TransformerEncoderLayer(
                d_model=2 * hidden, nhead=heads, dim_feedforward=16, batch_first=True
            )
            self.transformer = nn.TransformerEncoder(
                layer, num_layers=1, enable_nested_tensor=False
            )
            self.fc = nn.Linear(2 * hidden, 3)

        def forward(self, text, lengths, mask):
            packed = nn.utils.rnn.pack_padded_sequence(
                self.embedding(text), lengths.cpu(), batch_first=True, enforce_sorted=False
            )
            out, _ = self.lstm(packed)
            out, _ = nn.utils.rnn.pad_packed_sequence(
                out, batch_first=True, total_length=text.shape[1]
            )
            out = self.transformer(out, src_key_padding_mask=~mask)
            summed = (out * mask.unsqueeze(-1)).sum(1)
            return self.fc(summed / lengths.unsqueeze(1))

    return Hybrid()


def sum_mod_rnn(nn, k=5, hidden=8):
    class SumModRNN(nn.Module):
        def __init__(self):
            super().__init__()
            self.rnn = nn.RNN(input_size=1, hidden_size=hidden, batch_first=True)
            self.fc = nn.Linear(hidden, k)

        def forward(self, x):
            out, h = self.rnn(x)
            return self.fc(out[:, -1, :])

    return SumModRNN()


def ragged_text(seed, batch=6, t=9, vocab=50):
    g = torch.Generator().manual_seed(seed)
    lengths = torch.randint(1, t + 1, (batch,), generator=g)
    lengths[0] = t
    text = torch.randint(1, vocab, (batch, t), generator=g)
    mask = torch.arange(t)[None, :] < lengths[:, None]
    return text * mask, lengths, mask


def _pair(build, **kwargs):
    torch.manual_seed(0)
    ref = build(torch_nn, **kwargs)
    torch.manual_seed(0)
    ours = build(padless_nn, **kwargs)
    for (name, a), (_, b) in zip(ref.named_parameters(), ours.named_parameters(), strict=True):
        assert torch.equal(a, b), f"{name}: same seed, different initial weights"
    return ref, ours


def _train(model, batches, loss_fn):
    """Three SGD steps with clipping; the losses and the final weights. (Not AdamW: it divides
    each step by the gradient's running RMS, so a rounding-size difference in a near-zero
    gradient becomes a full step of lr either way; SGD keeps rounding at rounding size.)"""
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    model.train()
    torch.manual_seed(1)
    losses = []
    for inputs, target in batches:
        opt.zero_grad()
        loss = loss_fn(model(*inputs), target)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        losses.append(loss.item())
    return losses, [p.detach().clone() for p in model.parameters()]


def _same_training(ref, ours, batches, loss_fn):
    losses_r, weights_r = _train(ref, batches, loss_fn)
    losses_o, weights_o = _train(ours, batches, loss_fn)
    assert losses_o == pytest.approx(losses_r, abs=1e-5)
    for a, b in zip(weights_r, weights_o, strict=True):
        assert torch.allclose(a, b, atol=1e-5)


def test_imdb_bilstm_recipe():
    ref, ours = _pair(imdb_bilstm)
    assert isinstance(ours.lstm, padless_nn.LSTM)
    ref.eval(), ours.eval()
    text, lengths, _ = ragged_text(0)
    assert torch.allclose(ref(text, lengths), ours(text, lengths), atol=1e-6)
    ref, ours = _pair(imdb_bilstm, lstm_dropout=0.0)
    batches = []
    for seed in range(3):
        text, lengths, _ = ragged_text(seed)
        batches.append(((text, lengths), (lengths % 2).float()))
    _same_training(ref, ours, batches, torch.nn.BCEWithLogitsLoss())


def test_lstm_transformer_recipe():
    ref, ours = _pair(lstm_transformer)
    ref.eval(), ours.eval()
    text, lengths, mask = ragged_text(3)
    assert torch.allclose(ref(text, lengths, mask), ours(text, lengths, mask), atol=1e-5)
    ref, ours = _pair(lstm_transformer)
    for m in (ref, ours):  # the transformer's dropout draws the same numbers in both
        m.transformer.layers[0].dropout.p = 0.0
    batches = []
    for seed in range(3):
        text, lengths, mask = ragged_text(seed)
        batches.append(((text, lengths, mask), lengths % 3))
    _same_training(ref, ours, batches, torch.nn.CrossEntropyLoss())


def test_sum_mod_rnn_recipe():
    ref, ours = _pair(sum_mod_rnn)
    g = torch.Generator().manual_seed(5)
    batches = []
    for _ in range(3):
        digits = torch.randint(0, 5, (16, 7), generator=g)
        batches.append(((digits[..., None].float(),), digits.sum(1) % 5))
    ref.eval(), ours.eval()
    x = batches[0][0][0]
    assert torch.allclose(ref(x), ours(x), atol=1e-6)
    _same_training(ref, ours, batches, torch.nn.CrossEntropyLoss())
