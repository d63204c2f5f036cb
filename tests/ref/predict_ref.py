"""PyTorch twin of `deeplob_mpi predict`: eval mode (BN running statistics, no dropout).

    /usr/bin/python3 tests/ref/predict_ref.py --model M --weights W.h5 --input X.npy --output Y.npy

X.npy: float32 (B, T, 40), fed to torch as x.unsqueeze(1). Y.npy: float32 (B, n_out).
Exit 1 with a message naming the file when the weights or input do not fit the model.
"""
import argparse
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import h5weights  # noqa: E402
import models  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True, choices=models.MODELS)
    ap.add_argument("--weights", required=True)
    ap.add_argument("--input", required=True)
    ap.add_argument("--output", required=True)
    ap.add_argument("--threads", type=int, default=1)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    model = models.build(a.model)
    try:
        h5weights.load(model, a.weights)
    except h5weights.WeightsError as ex:
        print(f"predict_ref: {ex}", file=sys.stderr)
        return 1
    x = np.load(a.input)
    if x.dtype != np.float32 or x.ndim != 3 or x.shape[2] != 40 or x.shape[1] < 13:
        print(f"predict_ref: {a.input}: expected float32 (B, T>=13, 40), got {x.dtype} "
              f"{x.shape}", file=sys.stderr)
        return 1
    model.eval()
    with torch.no_grad():
        y = model(torch.from_numpy(np.ascontiguousarray(x)).unsqueeze(1)).numpy()
    np.save(a.output, y.astype(np.float32))
    print(f"predict_ref: {a.model}: {x.shape[0]} samples -> {a.output} {y.shape}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
