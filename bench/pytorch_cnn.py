#!/usr/bin/env python3
"""PyTorch reference for bench_train's CNN row, timed as pytorch_mlp.py times
its rows (one warm-up epoch, then >= 5 timed epochs; median/min/max of
samples per second):

  conv32-conv64-128-10: conv 3x3 (1->32, padding 1), ReLU, maxpool 2,
  conv 3x3 (32->64, padding 1), ReLU, maxpool 2, flatten, dense 3136->128,
  ReLU, dense 128->10; SGD lr 0.01 momentum 0.9, cross-entropy, batch 128,
  4096 Fashion-MNIST images (1x28x28) per epoch, reshuffled each epoch.

PyTorch at its best: mkldnn (oneDNN) on, which runs the convolutions; each
thread count T is tried with T threads on PyTorch's OpenMP pool and 1 on
OpenBLAS's and the other way round (see pytorch_mlp.py: two spinning pools
of T threads on T cores fight), and with the images in the default
(NCHW) and in channels_last layout; the best is reported as impl
"pytorch" (every setting as "pytorch-omp<a>-blas<b>-<layout>").

Usage: pytorch_cnn.py [--out FILE.jsonl] [--reps N] [--data DIR] [--threads 1,2]
"""
import argparse
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from pytorch_mlp import best_per_row, find, read_idx, run_workers, summarise  # noqa: E402

MODEL, BATCH, N = "conv32-conv64-128-10", 128, 4096
LAYOUTS = ("nchw", "channels_last")


def load_images(torch, data_dir, n):
    img = find(data_dir, "train-images-idx3-ubyte") if data_dir else None
    lab = find(data_dir, "train-labels-idx1-ubyte") if data_dir else None
    if img and lab:
        x = torch.from_numpy(read_idx(img)[:n].reshape(-1, 1, 28, 28).astype("float32") / 255.0)
        t = torch.from_numpy(read_idx(lab)[:n].astype("int64"))
        return x, t, "fashion-mnist"
    g = torch.Generator().manual_seed(42)
    return torch.rand(n, 1, 28, 28, generator=g), torch.randint(0, 10, (n,), generator=g), \
        "random (Fashion-MNIST shape)"


def worker(args):
    import torch

    torch.backends.mkldnn.enabled = True
    torch.set_num_threads(args.omp)
    try:
        torch.set_num_interop_threads(1)
    except RuntimeError:
        pass
    torch.manual_seed(0)
    nn = torch.nn
    x, t, source = load_images(torch, args.data, N)
    fmt = torch.channels_last if args.layout == "channels_last" else torch.contiguous_format
    model = nn.Sequential(
        nn.Conv2d(1, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(64 * 7 * 7, 128), nn.ReLU(), nn.Linear(128, 10))
    model = model.to(memory_format=fmt)
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    loss_fn = nn.CrossEntropyLoss()

    def epoch():
        perm = torch.randperm(N)
        for s in range(0, N, BATCH):
            idx = perm[s:s + BATCH]
            xb, tb = x[idx].contiguous(memory_format=fmt), t[idx]
            opt.zero_grad(set_to_none=True)
            loss = loss_fn(model(xb), tb)
            loss.backward()
            opt.step()

    epoch()  # warm-up
    v = []
    for _ in range(args.reps):
        t0 = time.perf_counter()
        epoch()
        v.append(N / (time.perf_counter() - t0))
    med, lo, hi = summarise(v)
    print(json.dumps({"bench": "train", "impl": "pytorch-omp%d-blas%d-%s" % (args.omp, args.blas, args.layout),
                      "model": MODEL, "batch": BATCH, "threads": args.threads, "median": med, "min": lo,
                      "max": hi, "unit": "samples/s", "data": source}))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out")
    ap.add_argument("--reps", type=int, default=7)
    ap.add_argument("--data", default="data/fashion-mnist")
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--omp", type=int, default=1, help=argparse.SUPPRESS)
    ap.add_argument("--blas", type=int, default=1, help=argparse.SUPPRESS)
    ap.add_argument("--layout", default="nchw", help=argparse.SUPPRESS)
    args = ap.parse_args()
    args.reps = max(5, args.reps)
    if args.worker:
        args.threads = int(args.threads)
        worker(args)
        return 0
    try:
        import torch  # noqa: F401
    except ImportError:
        print("pytorch_cnn: torch is not importable by %s; skipped" % sys.executable)
        return 0
    records = run_workers(os.path.abspath(__file__), args, [("--layout", l) for l in LAYOUTS])
    final = best_per_row(records)
    if args.out:
        with open(args.out, "a") as f:
            for r in records + final:
                f.write(json.dumps(r) + "\n")
    print("PyTorch %s (mkldnn %s), best setting per thread count" % (
        __import__("torch").__version__, "on" if __import__("torch").backends.mkldnn.is_available() else "n/a"))
    for r in final:
        print("%-22s %5d %3d  %9.0f (%7.0f-%7.0f)  %s" % (r["model"], r["batch"], r["threads"], r["median"],
                                                         r["min"], r["max"], r["setting"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
