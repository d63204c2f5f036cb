"""PyTorch reference of the three DeepLOB models (docs: /work/shared/design/models.md).

The C engine must match these layer for layer: same state_dict names, shapes and order
(design/weights/<model>.txt), same forward arithmetic. Input x is (B, 1, T, 40); every model
returns (B, n_out): deeplob and deeplob_tcn n_out = 1, deeplob_hier n_out = 2 (pred_10s,
pred_60s).

    build(name, dropout=0.3) -> nn.Module      the factory
    count(model) -> int                        trainable parameter count
    EXPECTED_PARAMS[name]                      158049 / 228769 / 604516
    check_against_listing(model, path)         state_dict == weights/<name>.txt, line by line
    perturb_bn(model, gen)                     non-trivial BN affine + running statistics
"""
import os

import torch
import torch.nn as nn
import torch.nn.functional as F

MODELS = ("deeplob", "deeplob_tcn", "deeplob_hier")
EXPECTED_PARAMS = {"deeplob": 158049, "deeplob_tcn": 228769, "deeplob_hier": 604516}
N_OUT = {"deeplob": 1, "deeplob_tcn": 1, "deeplob_hier": 2}
LEAKY = 0.01

# Kink probe of the fixture maker (make_reference.py): when set, every LeakyReLU calls
# KINK_PROBE(owner, shift, t) with its input t, where owner.<shift> is the parameter that adds
# to t per channel just before it (a BN's bias, or inception2a/3a's conv bias). None (the
# default) costs nothing and changes no arithmetic.
KINK_PROBE = None


def leaky(t, owner, shift):
    """F.leaky_relu(t, LEAKY), reported to KINK_PROBE when one is set."""
    if KINK_PROBE is not None:
        KINK_PROBE(owner, shift, t)
    return F.leaky_relu(t, LEAKY)


class FrontEnd(nn.Module):
    """Shared CNN + inception front end: (B,1,T,40) -> (B,256,T-12).

    Not a submodule of the models (the state_dict names are at the root): the models
    inherit from it so conv1a... register directly on them, in state_dict order.
    """

    def _build_front(self):
        self.conv1a = nn.Conv2d(1, 32, (1, 2), stride=(1, 2))
        self.bn1a = nn.BatchNorm2d(32)
        self.conv1b = nn.Conv2d(32, 32, (4, 1))
        self.bn1b = nn.BatchNorm2d(32)
        self.conv1c = nn.Conv2d(32, 32, (4, 1))
        self.bn1c = nn.BatchNorm2d(32)
        self.conv2a = nn.Conv2d(32, 32, (1, 2), stride=(1, 2))
        self.bn2a = nn.BatchNorm2d(32)
        self.conv2b = nn.Conv2d(32, 32, (4, 1))
        self.bn2b = nn.BatchNorm2d(32)
        self.conv2c = nn.Conv2d(32, 32, (4, 1))
        self.bn2c = nn.BatchNorm2d(32)
        self.conv3a = nn.Conv2d(32, 32, (1, 10))
        self.bn3a = nn.BatchNorm2d(32)
        self.inception1 = nn.Conv2d(32, 64, (1, 1))
        self.bn_inc1 = nn.BatchNorm2d(64)
        self.inception2a = nn.Conv2d(32, 64, (1, 1))
        self.inception2b = nn.Conv2d(64, 64, (3, 1), padding=(1, 0))
        self.bn_inc2 = nn.BatchNorm2d(64)
        self.inception3a = nn.Conv2d(32, 64, (1, 1))
        self.inception3b = nn.Conv2d(64, 64, (5, 1), padding=(2, 0))
        self.bn_inc3 = nn.BatchNorm2d(64)
        # max pool pads with -inf, so padding never wins
        self.inception4 = nn.MaxPool2d((3, 1), stride=1, padding=(1, 0))
        self.inception4_conv = nn.Conv2d(32, 64, (1, 1))
        self.bn_inc4 = nn.BatchNorm2d(64)

    def front(self, x):
        """x (B,1,T,40) -> (B,256,T-12), channels [b1,b2,b3,b4]."""
        lr = lambda t, shift: leaky(t, self, shift)
        x = lr(self.bn1a(self.conv1a(x)), "bn1a")      # (B,32,T,20)
        x = lr(self.bn1b(self.conv1b(x)), "bn1b")      # (B,32,T-3,20)
        x = lr(self.bn1c(self.conv1c(x)), "bn1c")      # (B,32,T-6,20)
        x = lr(self.bn2a(self.conv2a(x)), "bn2a")      # (B,32,T-6,10)
        x = lr(self.bn2b(self.conv2b(x)), "bn2b")      # (B,32,T-9,10)
        x = lr(self.bn2c(self.conv2c(x)), "bn2c")      # (B,32,T-12,10)
        x = lr(self.bn3a(self.conv3a(x)), "bn3a")      # (B,32,T-12,1)
        b1 = lr(self.bn_inc1(self.inception1(x)), "bn_inc1")
        b2 = lr(self.bn_inc2(self.inception2b(lr(self.inception2a(x), "inception2a"))), "bn_inc2")
        b3 = lr(self.bn_inc3(self.inception3b(lr(self.inception3a(x), "inception3a"))), "bn_inc3")
        b4 = lr(self.bn_inc4(self.inception4_conv(self.inception4(x))), "bn_inc4")
        return torch.cat([b1, b2, b3, b4], dim=1).squeeze(3)   # (B,256,T-12)


class TemporalBlock(nn.Module):
    """Causal residual block: pad 2d -> conv1 -> bn1 -> LR -> drop -> pad -> conv2 -> bn2
    -> drop -> + residual -> LR.  (B,c_in,L) -> (B,c_out,L)."""

    def __init__(self, c_in, c_out, dilation, dropout, kernel=3):
        super().__init__()
        self.pad = (kernel - 1) * dilation
        self.conv1 = nn.Conv1d(c_in, c_out, kernel, dilation=dilation)
        self.bn1 = nn.BatchNorm1d(c_out)
        self.conv2 = nn.Conv1d(c_out, c_out, kernel, dilation=dilation)
        self.bn2 = nn.BatchNorm1d(c_out)
        self.residual = nn.Conv1d(c_in, c_out, 1) if c_in != c_out else None
        self.drop = nn.Dropout(dropout)
        # models.md: Kaiming-normal, fan-in, gain sqrt(2); biases keep the default init
        nn.init.kaiming_normal_(self.conv1.weight, mode="fan_in", nonlinearity="relu")
        nn.init.kaiming_normal_(self.conv2.weight, mode="fan_in", nonlinearity="relu")
        if self.residual is not None:
            nn.init.kaiming_normal_(self.residual.weight, mode="fan_in", nonlinearity="relu")

    def forward(self, x):
        h = leaky(self.bn1(self.conv1(F.pad(x, (self.pad, 0)))), self, "bn1")
        h = self.drop(h)
        h = self.drop(self.bn2(self.conv2(F.pad(h, (self.pad, 0)))))
        res = x if self.residual is None else self.residual(x)
        return leaky(h + res, self, "bn2")                # bn2's bias shifts h + res


class TCN(nn.Module):
    """n_blocks TemporalBlocks, dilations 1, 2, 4, ...: (B,c_in,L) -> (B,64,L)."""

    def __init__(self, c_in, n_blocks, dropout, channels=64):
        super().__init__()
        blocks = []
        for i in range(n_blocks):
            blocks.append(TemporalBlock(c_in if i == 0 else channels, channels, 2 ** i, dropout))
        self.network = nn.Sequential(*blocks)

    def forward(self, x):
        return self.network(x)


def _head(model, prefix1, bn, prefix2):
    setattr(model, prefix1, nn.Linear(64, 64))
    setattr(model, bn, nn.BatchNorm1d(64))
    setattr(model, prefix2, nn.Linear(64, 1))


def _run_head(fc1, bn, drop, fc2, h):
    """h (B,64) -> (B,1): fc1 -> bn -> LR -> dropout -> fc2."""
    return fc2(drop(leaky(bn(fc1(h)), bn, "bias")))


class DeepLOB(FrontEnd):
    def __init__(self, dropout=0.3):
        super().__init__()
        self._build_front()
        self.lstm = nn.LSTM(256, 64, num_layers=1, batch_first=True)
        _head(self, "fc1", "bn_fc1", "fc2")
        self.drop = nn.Dropout(dropout)

    def forward(self, x):                       # x (B,1,T,40) -> (B,1)
        seq = self.front(x).transpose(1, 2)     # (B,T',256)
        out, _ = self.lstm(seq)                 # zero initial state
        return _run_head(self.fc1, self.bn_fc1, self.drop, self.fc2, out[:, -1, :])


class DeepLOBTCN(FrontEnd):
    def __init__(self, dropout=0.3):
        super().__init__()
        self._build_front()
        self.tcn = TCN(256, 4, dropout)
        _head(self, "fc1", "bn_fc1", "fc2")
        self.drop = nn.Dropout(dropout)

    def forward(self, x):                       # x (B,1,T,40) -> (B,1)
        h = self.tcn(self.front(x))             # (B,64,T')
        return _run_head(self.fc1, self.bn_fc1, self.drop, self.fc2, h[:, :, -1])


class CrossAttention(nn.Module):
    """query (B,L,256) from the front end, key = value (B,L,64) from the short TCN."""

    def __init__(self, d_query=256, d_kv=64, d=64):
        super().__init__()
        self.query_proj = nn.Linear(d_query, d)
        self.key_proj = nn.Linear(d_kv, d)
        self.value_proj = nn.Linear(d_kv, d)
        self.out_proj = nn.Linear(d, d)
        self.scale = d ** -0.5                 # 1/8

    def forward(self, query, kv):              # -> (B,L,64)
        q, k, v = self.query_proj(query), self.key_proj(kv), self.value_proj(kv)
        w = torch.softmax(torch.bmm(q, k.transpose(1, 2)) * self.scale, dim=-1)  # (B,L,L)
        return self.out_proj(torch.bmm(w, v))


class GatedFusion(nn.Module):
    """sigmoid(gate(c)) * transform(c), c = [shared, attended] (B,L,320) -> (B,L,256)."""

    def __init__(self, d_in=320, d_out=256):
        super().__init__()
        self.gate = nn.Sequential(nn.Linear(d_in, d_out), nn.Sigmoid())
        self.transform = nn.Linear(d_in, d_out)

    def forward(self, shared, attended):
        c = torch.cat([shared, attended], dim=-1)
        return self.gate(c) * self.transform(c)


class DeepLOBHier(FrontEnd):
    def __init__(self, dropout=0.3):
        super().__init__()
        self._build_front()
        self.tcn_short = TCN(256, 4, dropout)
        _head(self, "fc_short_1", "bn_short_1", "fc_short_2")
        self.cross_attention = CrossAttention()
        self.gated_fusion = GatedFusion()
        self.tcn_long = TCN(256, 5, dropout)
        _head(self, "fc_long_1", "bn_long_1", "fc_long_2")
        self.residual_proj = nn.Linear(1, 1)
        self.drop = nn.Dropout(dropout)

    def forward(self, x):                       # x (B,1,T,40) -> (B,2) [pred_10s, pred_60s]
        shared = self.front(x)                  # (B,256,L)
        short = self.tcn_short(shared)          # (B,64,L)
        pred10 = _run_head(self.fc_short_1, self.bn_short_1, self.drop, self.fc_short_2,
                           short[:, :, -1])
        shared_seq = shared.transpose(1, 2)     # (B,L,256)
        attended = self.cross_attention(shared_seq, short.transpose(1, 2))
        fused = self.gated_fusion(shared_seq, attended)          # (B,L,256)
        long = self.tcn_long(fused.transpose(1, 2))              # (B,64,L)
        base60 = _run_head(self.fc_long_1, self.bn_long_1, self.drop, self.fc_long_2,
                           long[:, :, -1])
        pred60 = base60 + self.residual_proj(pred10)
        return torch.cat([pred10, pred60], dim=1)


def build(name, dropout=0.3):
    """The model called name, with PyTorch's default init (TCN convs Kaiming-normal)."""
    if name == "deeplob":
        return DeepLOB(dropout)
    if name == "deeplob_tcn":
        return DeepLOBTCN(dropout)
    if name == "deeplob_hier":
        return DeepLOBHier(dropout)
    raise ValueError(f"models.py: build: unknown model '{name}' (one of {', '.join(MODELS)})")


def count(model):
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def listing(model):
    """state_dict as the lines of weights/<name>.txt: 'name (shape) dtype'."""
    lines = []
    for k, t in model.state_dict().items():
        shape = "(" + ", ".join(str(s) for s in t.shape) + (",)" if t.dim() == 1 else ")")
        lines.append(f"{k} {shape} {str(t.dtype).replace('torch.', '')}")
    return lines


def default_listing_path(name):
    design = os.environ.get("DEEPLOB_DESIGN", "/work/shared/design")
    here = os.path.join(os.path.dirname(os.path.abspath(__file__)), "weights", name + ".txt")
    return here if os.path.exists(here) else os.path.join(design, "weights", name + ".txt")


def check_against_listing(model, path):
    """Raise if model.state_dict() differs from the listing file, naming the first difference."""
    with open(path) as f:
        want = [l.rstrip("\n") for l in f if l.strip()]
    got = listing(model)
    for i, (g, w) in enumerate(zip(got, want)):
        if g != w:
            raise AssertionError(f"{path}:{i + 1}: expected '{w}', model has '{g}'")
    if len(got) != len(want):
        raise AssertionError(f"{path}: {len(want)} tensors listed, model has {len(got)}")


def perturb_bn(model, gen, calib_x=None):
    """Make eval mode non-trivial: BN weight ~U(0.5,1.5), bias ~U(-0.3,0.3); running
    statistics random but on the scale of the real activations when calib_x (B,1,T,40) is
    given (batch statistics of calib_x, mean shifted by 0.2 std, var scaled by U(0.7,1.4)),
    else running_mean ~0.2*N(0,1), running_var ~U(0.5,2). num_batches_tracked = 0."""
    bns = [m for m in model.modules() if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d))]
    with torch.no_grad():
        for m in bns:
            n = m.num_features
            m.weight.copy_(0.5 + torch.rand(n, generator=gen))
            m.bias.copy_(0.6 * torch.rand(n, generator=gen) - 0.3)
        if calib_x is not None:
            was_training, moms = model.training, [m.momentum for m in bns]
            for m in bns:
                m.reset_running_stats()
                m.momentum = None             # cumulative average = this batch's statistics
            model.train()
            model(calib_x)
            model.train(was_training)
            for m, mom in zip(bns, moms):
                m.momentum = mom
        for m in bns:
            n = m.num_features
            if calib_x is not None:
                std = m.running_var.sqrt()
                m.running_mean.add_(0.2 * std * torch.randn(n, generator=gen))
                m.running_var.mul_(0.7 + 0.7 * torch.rand(n, generator=gen))
            else:
                m.running_mean.copy_(0.2 * torch.randn(n, generator=gen))
                m.running_var.copy_(0.5 + 1.5 * torch.rand(n, generator=gen))
            m.num_batches_tracked.zero_()


if __name__ == "__main__":
    for name in MODELS:
        m = build(name)
        n = count(m)
        path = default_listing_path(name)
        if os.path.exists(path):
            check_against_listing(m, path)
            lst = f"state_dict == {path} OK"
        else:
            lst = f"listing {path} not found, names/shapes NOT checked"
        ok = n == EXPECTED_PARAMS[name]
        print(f"{name}: {n} parameters (expected {EXPECTED_PARAMS[name]}) "
              f"{'OK' if ok else 'MISMATCH'}; {lst}")
        if not ok:
            raise SystemExit(1)
        y = m.eval()(torch.randn(3, 1, 100, 40))
        assert y.shape == (3, N_OUT[name]), y.shape
