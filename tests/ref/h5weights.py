"""Weights HDF5 <-> PyTorch state_dict.

File layout (shared with deeplob_mpi's weights writer/reader): one dataset per state_dict
entry at the file root, named exactly as the state_dict key (dots included), float32 with the
PyTorch shape; num_batches_tracked is an int64 scalar dataset. Root attributes are metadata
(e.g. `model`) and are ignored by load.

    save(state_dict, path, model_name=None)      write (atomically: temp file + rename)
    read(path) -> dict name -> torch.Tensor       every root dataset, as stored
    load(model, path)                            check names/shapes/dtypes, then load_state_dict
    CLI: h5weights.py save --model M --seed S [--perturb-bn] OUT.h5
         h5weights.py check --model M W.h5
"""
import argparse
import os
import sys

import h5py
import numpy as np
import torch


class WeightsError(Exception):
    pass


def save(state_dict, path, model_name=None):
    tmp = path + ".tmp"
    with h5py.File(tmp, "w") as f:
        if model_name is not None:
            f.attrs["model"] = model_name
        for k, t in state_dict.items():
            a = t.detach().cpu().numpy()
            if k.endswith("num_batches_tracked"):
                f.create_dataset(k, data=np.int64(a))          # scalar, shape ()
            else:
                f.create_dataset(k, data=a.astype(np.float32))
    os.replace(tmp, path)


def read(path):
    out = {}
    with h5py.File(path, "r") as f:
        for k, obj in f.items():
            if isinstance(obj, h5py.Dataset):
                out[k] = torch.from_numpy(np.array(obj[()]))
    return out


def load(model, path):
    """Load path into model; raise WeightsError naming every mismatch (names, shapes, dtypes)."""
    if not os.path.exists(path):
        raise WeightsError(f"{path}: no such file")
    try:
        stored = read(path)
        with h5py.File(path, "r") as f:
            file_model = f.attrs.get("model", None)
        if isinstance(file_model, bytes):
            file_model = file_model.decode()
    except OSError as ex:
        raise WeightsError(f"{path}: not a readable HDF5 file ({ex})")
    want = model.state_dict()
    problems = []
    for k, t in want.items():
        if k not in stored:
            problems.append(f"missing dataset '{k}' (expected shape {tuple(t.shape)})")
            continue
        s = stored[k]
        if tuple(s.shape) != tuple(t.shape):
            problems.append(f"'{k}': shape {tuple(s.shape)}, expected {tuple(t.shape)}")
        elif k.endswith("num_batches_tracked"):
            if s.dtype != torch.int64:
                problems.append(f"'{k}': dtype {s.dtype}, expected int64")
        elif s.dtype != torch.float32:
            problems.append(f"'{k}': dtype {s.dtype}, expected float32")
    for k in stored:
        if k not in want:
            problems.append(f"unexpected dataset '{k}'")
    if problems:
        shown = problems[:20] + ([f"... and {len(problems) - 20} more"] if len(problems) > 20 else [])
        tag = f" (file says model '{file_model}')" if file_model else ""
        raise WeightsError(f"{path}{tag}: does not match {type(model).__name__} "
                           f"({len(problems)} problem(s)):\n  " + "\n  ".join(shown))
    model.load_state_dict({k: stored[k] for k in want}, strict=True)
    return model


def _main(argv):
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import models
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("save", help="write torch-initialised weights")
    s.add_argument("--model", required=True, choices=models.MODELS)
    s.add_argument("--seed", type=int, required=True)
    s.add_argument("--perturb-bn", action="store_true",
                   help="random BN affine and running statistics (non-trivial eval mode)")
    s.add_argument("out")
    c = sub.add_parser("check", help="load a weights file into the model (names/shapes)")
    c.add_argument("--model", required=True, choices=models.MODELS)
    c.add_argument("weights")
    a = ap.parse_args(argv)
    torch.manual_seed(a.seed if a.cmd == "save" else 0)
    m = models.build(a.model)
    if a.cmd == "save":
        if a.perturb_bn:
            g = torch.Generator().manual_seed(a.seed + 1)
            models.perturb_bn(m, g, torch.randn(16, 1, 100, 40, generator=g))
        save(m.state_dict(), a.out, a.model)
        print(f"h5weights: wrote {a.out} ({a.model}, seed {a.seed}, {models.count(m)} params)")
    else:
        try:
            load(m, a.weights)
        except WeightsError as ex:
            print(f"h5weights: {ex}", file=sys.stderr)
            return 1
        print(f"h5weights: {a.weights} matches {a.model} ({len(m.state_dict())} tensors)")
    return 0


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
