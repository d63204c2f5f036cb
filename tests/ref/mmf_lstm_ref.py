#!/usr/bin/python3
"""mmf_lstm_ref.py: the PyTorch MMF-LSTM (the notebook's class, mmf.md names) on a fixture.

Writes tests/fixtures/mmf_lstm_ref.h5: x (B,T,F), y (B,T), init/<name> weights, out (B,T),
loss (MSE over steps >= WARMUP), grad/<name>, step5/<name> weights after 5 Adam steps
(lr LR, default betas/eps), loss5 (the 5 losses). test_mmf_lstm_parity.c compares.
usage: /usr/bin/python3 tests/ref/mmf_lstm_ref.py [OUT.h5]
"""
import sys

import h5py
import numpy as np
import torch
import torch.nn as nn

B, T, F, WARMUP, LR = 6, 40, 12, 8, 1e-3


class MMFLSTM(nn.Module):
    """LSTM(F,128) -> Linear(128,16) -> ReLU -> Linear(16,1) at every step."""

    def __init__(self, n_features, hidden=128):
        super().__init__()
        self.lstm = nn.LSTM(n_features, hidden, batch_first=True)
        self.hid_to_h1l = nn.Linear(hidden, 16)
        self.h1l_to_out = nn.Linear(16, 1)

    def forward(self, x):
        h, _ = self.lstm(x)
        return self.h1l_to_out(torch.relu(self.hid_to_h1l(h))).squeeze(-1)


def loss_fn(out, y):
    return ((out[:, WARMUP:] - y[:, WARMUP:]) ** 2).mean()


def main(path):
    torch.manual_seed(7)
    torch.set_num_threads(1)
    model = MMFLSTM(F)
    x = torch.rand(B, T, F)  # quantile-transformed features live in [0, 1]
    y = torch.randn(B, T) * 0.5
    init = {k: v.detach().clone() for k, v in model.state_dict().items()}
    out = model(x)
    loss = loss_fn(out, y)
    loss.backward()
    grads = {k: p.grad.detach().clone() for k, p in model.named_parameters()}
    opt = torch.optim.Adam(model.parameters(), lr=LR)
    model.zero_grad()
    losses = []
    for _ in range(5):
        opt.zero_grad()
        l5 = loss_fn(model(x), y)
        l5.backward()
        opt.step()
        losses.append(l5.item())
    with h5py.File(path, "w") as f:
        f.attrs["warmup"], f.attrs["lr"] = WARMUP, LR
        f["x"], f["y"], f["out"] = x.numpy(), y.numpy(), out.detach().numpy()
        f["loss"] = np.float32(loss.item())
        f["loss5"] = np.array(losses, dtype=np.float32)
        for k, v in init.items():
            f["init/" + k] = v.numpy()
        for k, v in grads.items():
            f["grad/" + k] = v.numpy()
        for k, v in model.state_dict().items():
            f["step5/" + k] = v.numpy()


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "tests/fixtures/mmf_lstm_ref.h5")
