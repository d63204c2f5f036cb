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
LR = 1e-3
HUBER_DELTA = 1.0
# target offsets y - out_train: two samples beyond the Huber delta, two inside, per column
OFFSETS = torch.tensor([[2.0, -1.75], [-0.5, 0.6], [0.25, -0.3], [-1.5, 2.2]])


def loss_fn(out, y):
    """mean Huber; two outputs (hier): 0.5*Huber10 + 0.5*Huber60."""
    if out.shape[1] == 1:
        return F.huber_loss(out, y, delta=HUBER_DELTA)
    return 0.5 * F.huber_loss(out[:, 0], y[:, 0], delta=HUBER_DELTA) + \
        0.5 * F.huber_loss(out[:, 1], y[:, 1], delta=HUBER_DELTA)


def buffers(model):
    return {k: v for k, v in model.state_dict().items()
            if k.endswith(("running_mean", "running_var", "num_batches_tracked"))}


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

    model.eval()
    with torch.no_grad():
        eval_out = model(x.unsqueeze(1))
        # targets from the train-mode output of a copy (train forward moves BN buffers)
        probe = copy.deepcopy(model).train()
        y = probe(x.unsqueeze(1)) + OFFSETS[:, :n_out]
    resid = (probe(x.unsqueeze(1)) - y).abs()
    assert (resid > HUBER_DELTA).any() and (resid < HUBER_DELTA).any()

    # one training forward/backward from init: outputs, loss, every gradient, buffers
    model.train()
    model.zero_grad(set_to_none=False)
    train_out = model(x.unsqueeze(1))
    loss = loss_fn(train_out, y)
    loss.backward()
    params = [p for p in model.parameters() if p.requires_grad]
    grads = {k: p.grad.detach().clone() for k, p in model.named_parameters()}
    grad_norm = torch.norm(torch.stack([g.norm(2) for g in grads.values()]), 2)
    train_buffers = copy.deepcopy(buffers(model))
    clip = 0.5 * float(grad_norm)   # clipping active on every step

    # STEPS Adam steps from init on the same (x, y)
    model.load_state_dict(init)
    model.train()
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.Adam(params, lr=LR, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0)
    step_loss, step_norm = [], []
    for _ in range(STEPS):
        opt.zero_grad(set_to_none=False)
        l = loss_fn(model(x.unsqueeze(1)), y)
        l.backward()
        gn = torch.nn.utils.clip_grad_norm_(params, clip)
        opt.step()
        step_loss.append(float(l))
        step_norm.append(float(gn))
    assert abs(step_norm[0] - float(grad_norm)) <= 1e-5 * float(grad_norm), \
        (step_norm[0], float(grad_norm))
    model.eval()
    with torch.no_grad():
        steps_eval = model(x.unsqueeze(1))

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
        a["clip"] = clip
        a["steps"] = STEPS
        a["torch_version"] = str(torch.__version__)
        a["dropout"] = 0.0
        a["n_params"] = n
        a["adam_beta1"], a["adam_beta2"], a["adam_eps"] = 0.9, 0.999, 1e-8
        a["bn_eps"], a["bn_momentum"], a["leaky_slope"] = 1e-5, 0.1, models.LEAKY
        put(f, "x", x)
        put(f, "y", y)
        for k, v in init.items():
            put(f, "init/" + k, v)
        put(f, "eval/out", eval_out)
        put(f, "train/out", train_out)
        put(f, "train/loss", np.float64(float(loss)))
        for k, g in grads.items():
            put(f, "train/grad/" + k, g)
        for k, v in train_buffers.items():
            put(f, "train/buffers/" + k, v)
        put(f, "train/grad_norm", np.float64(float(grad_norm)))
        put(f, "steps/loss", np.array(step_loss, dtype=np.float64))
        put(f, "steps/grad_norm", np.array(step_norm, dtype=np.float64))
        for k, v in model.state_dict().items():
            put(f, "steps/state/" + k, v)
        put(f, "steps/eval_out", steps_eval)
    os.replace(tmp, path)
    print(f"{name}: wrote {path}: loss {float(loss):.6f} grad_norm {float(grad_norm):.6f} "
          f"clip {clip:.6f} steps/loss {' '.join(f'{v:.6f}' for v in step_loss)}")


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
        opt = torch.optim.Adam(params, lr=float(f.attrs["lr"]), betas=(0.9, 0.999), eps=1e-8)
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
            make(name, a.seed, os.path.normpath(a.outdir))
    sys.exit(1 if fails else 0)


if __name__ == "__main__":
    main()
