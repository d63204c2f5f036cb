"""Write the parity fixtures tests/fixtures/<model>_ref.h5 (layout: tests/ref/README.md).

    /usr/bin/python3 tests/ref/make_reference.py [--models deeplob,deeplob_tcn,deeplob_hier]
                                                 [--seed 1234] [--outdir tests/fixtures]

Deterministic: one thread, fixed seeds, deterministic algorithms, dropout 0.
"""
import argparse
import copy
import os
import sys

import h5py
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import models  # noqa: E402

B, T, NF = 4, 100, 40
STEPS = 5
# Learning rate of the 5-step check. At B=4 with lr 1e-3 the loss falls 20x in 5 steps and
# the trajectory amplifies any rounding difference (a summation-order change in one BN moved
# the TCN's step-5 state by 3x the fp32 noise floor). At 1e-4 the steps stay in the
# near-linear regime: the check still exercises Adam, clipping and 5 consecutive
# forward/backward passes, without being a test of chaos.
LR = 1e-4
# Adam eps of the 5-step check. With the default 1e-8, Adam's first step is lr*sign(g) for
# every element, so an element whose gradient is rounding noise (biases in front of a
# training-mode BN: exactly 0 in exact arithmetic, 1e-9..1e-6 in float32) moves by +-lr at
# random and float32 trajectories separate by design (torch fp32 vs fp64 differ by 1e-2 in
# eval output). With eps = 1e-3 an update error is bounded by lr*|dg|/(4*eps): the 5-step
# comparison becomes well-conditioned while still exercising every part of Adam (moments,
# bias corrections, eps, clipping). The default eps is checked in tests/unit/test_optim.c.
STEP_ADAM_EPS = 1e-3
# Per-model seed offsets. A LeakyReLU input within float32 rounding of 0 takes a different
# slope in two correct float32 engines and moves the gradients of every layer below it by
# 1e-4..5e-3 (seen with the hier model at seed 1234: one element of tcn_long.network.2 at
# -7.5e-6 in float64, +5.7e-7 in ours). 1236 - 1234 = 2 is a seed with no such element.
SEED_OFFSET = {"deeplob_hier": 2}
HUBER_DELTA = 1.0
# target offsets y - out_train: two samples beyond the Huber delta, two inside, per column
OFFSETS = torch.tensor([[2.0, -1.75], [-0.5, 0.6], [0.25, -0.3], [-1.5, 2.2]])
# candidate scalings of OFFSETS (|mult| in [0.75, 1.3] keeps residuals on both sides of delta)
TARGET_MULTS = (1.0, -1.0, 0.8, -0.8, 1.25, -1.25)


def loss_fn(out, y):
    """mean Huber; two outputs (hier): 0.5*Huber10 + 0.5*Huber60."""
    if out.shape[1] == 1:
        return F.huber_loss(out, y, delta=HUBER_DELTA)
    return 0.5 * F.huber_loss(out[:, 0], y[:, 0], delta=HUBER_DELTA) + \
        0.5 * F.huber_loss(out[:, 1], y[:, 1], delta=HUBER_DELTA)


def buffers(model):
    return {k: v for k, v in model.state_dict().items()
            if k.endswith(("running_mean", "running_var", "num_batches_tracked"))}


def reference(name, init, x, y, dtype, clip=None):
    """Everything the fixture holds, computed in dtype from the init state_dict:
    eval output, one train forward/backward (out, loss, grads, buffers, grad norm), then
    STEPS Adam steps with clipping at clip (default 0.5 * first grad norm)."""
    model = models.build(name, dropout=0.0)
    model.load_state_dict(init)
    model.to(dtype)
    x, y = x.unsqueeze(1).to(dtype), y.to(dtype)
    r = {}
    model.eval()
    with torch.no_grad():
        r["eval_out"] = model(x).clone()
    model.train()
    model.zero_grad(set_to_none=False)
    out = model(x)
    loss = loss_fn(out, y)
    loss.backward()
    r["train_out"], r["loss"] = out.detach().clone(), float(loss)
    r["grads"] = {k: p.grad.detach().clone() for k, p in model.named_parameters()}
    gn = torch.norm(torch.stack([g.norm(2) for g in r["grads"].values()]), 2)
    r["grad_norm"] = float(gn)
    r["train_buffers"] = copy.deepcopy(buffers(model))
    r["clip"] = 0.5 * r["grad_norm"] if clip is None else clip   # clipping active

    model.load_state_dict(init)      # back to init (buffers included), still in dtype
    model.train()
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.Adam(params, lr=LR, betas=(0.9, 0.999), eps=STEP_ADAM_EPS, weight_decay=0.0)
    step_loss, step_norm = [], []
    for _ in range(STEPS):
        opt.zero_grad(set_to_none=False)
        l = loss_fn(model(x), y)
        l.backward()
        step_norm.append(float(torch.nn.utils.clip_grad_norm_(params, r["clip"])))
        opt.step()
        step_loss.append(float(l))
    assert abs(step_norm[0] - r["grad_norm"]) <= 1e-5 * r["grad_norm"], (step_norm[0], r["grad_norm"])
    r["step_loss"] = np.array(step_loss, dtype=np.float64)
    r["step_norm"] = np.array(step_norm, dtype=np.float64)
    r["state"] = copy.deepcopy(model.state_dict())
    model.eval()
    with torch.no_grad():
        r["steps_eval"] = model(x).clone()
    return r


def put(f, name, t):
    a = t.detach().cpu().numpy() if torch.is_tensor(t) else np.asarray(t)
    if name.endswith("num_batches_tracked"):
        a = np.int64(a)
    elif a.dtype == np.float64:
        pass
    else:
        a = a.astype(np.float32)
    f.create_dataset(name, data=a)


def make(name, seed, outdir):
    torch.manual_seed(seed)
    model = models.build(name, dropout=0.0)
    n = models.count(model)
    print(f"{name}: {n} parameters (expected {models.EXPECTED_PARAMS[name]})")
    assert n == models.EXPECTED_PARAMS[name], f"{name}: parameter count {n}"
    listing = models.default_listing_path(name)
    if os.path.exists(listing):
        models.check_against_listing(model, listing)
        print(f"{name}: state_dict names/shapes/order == {listing}")
    else:
        print(f"{name}: WARNING {listing} not found, state_dict listing not checked")
    gen = torch.Generator().manual_seed(seed + 1)
    x = torch.randn(B, T, NF, generator=gen)
    models.perturb_bn(model, gen, torch.randn(16, 1, T, NF, generator=gen))
    n_out = models.N_OUT[name]
    init = copy.deepcopy(model.state_dict())
    with torch.no_grad():
        # targets from the train-mode output of a copy (train forward moves BN buffers)
        base = copy.deepcopy(model).train()(x.unsqueeze(1))

    # Five Adam steps at B=4 can be chaotic: float32 rounding in gradients that are exactly
    # zero in exact arithmetic (biases in front of train-mode BN) becomes +-lr updates, and a
    # fast-fitting trajectory amplifies it. Among a fixed list of target scalings take the one
    # whose float32 trajectory stays closest to float64 (step losses and grad norms).
    best = None
    for cand, mult in enumerate(TARGET_MULTS):
        y = base + mult * OFFSETS[:, :n_out]
        resid = (base - y).abs()
        assert (resid > HUBER_DELTA).any() and (resid < HUBER_DELTA).any()
        r32 = reference(name, init, x, y, torch.float32)
        r64 = reference(name, init, x, y, torch.float64, clip=r32["clip"])
        cond = max(float(np.max(np.abs(r32["step_loss"] - r64["step_loss"]) /
                                np.abs(r64["step_loss"]))),
                   float(np.max(np.abs(r32["step_norm"] - r64["step_norm"]) /
                                np.abs(r64["step_norm"]))))
        print(f"{name}: candidate {cand} (targets = train out + {mult} * offsets): "
              f"float32 vs float64 step loss/norm rel diff {cond:.2e}")
        if best is None or cond < best[0]:
            best = (cond, cand, y, r32, r64)
    cond, cand, y, r, r64 = best
    print(f"{name}: using candidate {cand}")
    os.makedirs(outdir, exist_ok=True)
    path = os.path.join(outdir, f"{name}_ref.h5")
    tmp = path + ".tmp"
    with h5py.File(tmp, "w") as f:
        a = f.attrs
        a["model"] = name
        a["batch"] = B
        a["seq_len"] = T
        a["n_features"] = NF
        a["n_out"] = n_out
        a["seed"] = seed
        a["huber_delta"] = HUBER_DELTA
        a["lr"] = LR
        a["clip"] = r["clip"]
        a["target_candidate"] = cand
        a["f32_f64_step_rel_diff"] = cond
        a["steps"] = STEPS
        a["torch_version"] = str(torch.__version__)
        a["dropout"] = 0.0
        a["n_params"] = n
        a["adam_beta1"], a["adam_beta2"], a["adam_eps"] = 0.9, 0.999, STEP_ADAM_EPS
        a["bn_eps"], a["bn_momentum"], a["leaky_slope"] = 1e-5, 0.1, models.LEAKY
        put(f, "x", x)
        put(f, "y", y)
        for k, v in init.items():
            put(f, "init/" + k, v)
        put(f, "eval/out", r["eval_out"])
        put(f, "train/out", r["train_out"])
        put(f, "train/loss", np.float64(r["loss"]))
        for k, g in r["grads"].items():
            put(f, "train/grad/" + k, g)
        for k, v in r["train_buffers"].items():
            put(f, "train/buffers/" + k, v)
        put(f, "train/grad_norm", np.float64(r["grad_norm"]))
        put(f, "steps/loss", r["step_loss"])
        put(f, "steps/grad_norm", r["step_norm"])
        for k, v in r["state"].items():
            put(f, "steps/state/" + k, v)
        put(f, "steps/eval_out", r["steps_eval"])
        # rounding floor: |torch float32 - torch float64| from the same init and data
        d = lambda a, b: np.float64((a.double() - b.double()).abs().max()) if torch.is_tensor(a) \
            else np.abs(np.asarray(a, np.float64) - np.asarray(b, np.float64))
        put(f, "noise/eval/out", d(r["eval_out"], r64["eval_out"]))
        put(f, "noise/train/out", d(r["train_out"], r64["train_out"]))
        put(f, "noise/train/loss", d(r["loss"], r64["loss"]))
        for k in r["grads"]:
            put(f, "noise/train/grad/" + k, d(r["grads"][k], r64["grads"][k]))
        for k in r["train_buffers"]:
            if not k.endswith("num_batches_tracked"):
                put(f, "noise/train/buffers/" + k, d(r["train_buffers"][k], r64["train_buffers"][k]))
        put(f, "noise/train/grad_norm", d(r["grad_norm"], r64["grad_norm"]))
        put(f, "noise/steps/loss", d(r["step_loss"], r64["step_loss"]))
        put(f, "noise/steps/grad_norm", d(r["step_norm"], r64["step_norm"]))
        for k in r["state"]:
            if not k.endswith("num_batches_tracked"):
                put(f, "noise/steps/state/" + k, d(r["state"][k], r64["state"][k]))
        put(f, "noise/steps/eval_out", d(r["steps_eval"], r64["steps_eval"]))
    os.replace(tmp, path)
    print(f"{name}: wrote {path}: loss {r['loss']:.6f} grad_norm {r['grad_norm']:.6f} "
          f"clip {r['clip']:.6f} steps/loss {' '.join(f'{v:.6f}' for v in r['step_loss'])}")


def verify(path):
    """Re-derive every tensor of a fixture from its /x, /y, /init and attrs; return #failures."""
    fails = 0
    with h5py.File(path, "r") as f:
        name = f.attrs["model"]
        if isinstance(name, bytes):
            name = name.decode()
        clip = float(f.attrs["clip"])
        steps = int(f.attrs["steps"])
        get = lambda k: torch.from_numpy(np.array(f[k][()]))
        x, y = get("x").unsqueeze(1), get("y")
        model = models.build(name, dropout=float(f.attrs["dropout"]))
        init = {k: get("init/" + k) for k in model.state_dict()}
        model.load_state_dict(init)

        def check(what, got, key):
            nonlocal fails
            want = get(key)
            got = torch.as_tensor(got).to(want.dtype).reshape(want.shape)
            err = float((got.double() - want.double()).abs().max()) if want.numel() else 0.0
            ok = err <= 1e-6 * max(1.0, float(want.double().abs().max()))
            if not ok:
                fails += 1
                print(f"  FAIL {path}: {what} ({key}) max abs diff {err:g}")

        model.eval()
        with torch.no_grad():
            check("eval output", model(x), "eval/out")
        model.train()
        out = model(x)
        loss = loss_fn(out, y)
        loss.backward()
        check("train output", out.detach(), "train/out")
        check("train loss", loss.detach(), "train/loss")
        for k, p in model.named_parameters():
            check("gradient", p.grad, "train/grad/" + k)
        for k, v in buffers(model).items():
            check("buffer", v, "train/buffers/" + k)
        model.load_state_dict(init)
        params = list(model.parameters())
        opt = torch.optim.Adam(params, lr=float(f.attrs["lr"]), betas=(0.9, 0.999), eps=float(f.attrs["adam_eps"]))
        ls, ns = [], []
        for _ in range(steps):
            opt.zero_grad(set_to_none=False)
            l = loss_fn(model(x), y)
            l.backward()
            ns.append(float(torch.nn.utils.clip_grad_norm_(params, clip)))
            opt.step()
            ls.append(float(l))
        check("step losses", torch.tensor(ls, dtype=torch.float64), "steps/loss")
        check("step grad norms", torch.tensor(ns, dtype=torch.float64), "steps/grad_norm")
        for k, v in model.state_dict().items():
            check("state after steps", v, "steps/state/" + k)
        model.eval()
        with torch.no_grad():
            check("eval output after steps", model(x), "steps/eval_out")
        n_tensors = len(f["init"]) + len(f["train/grad"]) + len(f["steps/state"])
    print(f"{path}: verify {'OK' if fails == 0 else 'FAILED'} ({n_tensors} tensors re-derived)")
    return fails


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", default=",".join(models.MODELS))
    ap.add_argument("--seed", type=int, default=1234)
    ap.add_argument("--outdir", default=os.path.join(here, "..", "fixtures"))
    ap.add_argument("--verify", action="store_true",
                    help="do not write: re-derive the existing fixtures and compare")
    a = ap.parse_args()
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    fails = 0
    for name in a.models.split(","):
        if a.verify:
            fails += verify(os.path.join(os.path.normpath(a.outdir), f"{name}_ref.h5"))
        else:
            make(name, a.seed + SEED_OFFSET.get(name, 0), os.path.normpath(a.outdir))
    sys.exit(1 if fails else 0)


if __name__ == "__main__":
    main()
