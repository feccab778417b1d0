#!/usr/bin/env python3
"""PyTorch reference for bench_train: the same models, optimiser, batch sizes
and data shapes, timed the same way (one warm-up epoch, then >= 5 timed
epochs, median/min/max of samples per second; XOR: microseconds per step).

  784-256-128-10 (ReLU), batch 64 and 256
  784-1024-1024-10 (ReLU), batch 256
  XOR 2-8-1 (tanh, sigmoid, MSE), batch 4
  SGD lr 0.01 momentum 0.9 (XOR: lr 0.1), cross-entropy, reshuffled each
  epoch, batches gathered from the shuffled indices as nn_train_epoch does.

Thread settings: Debian's python3-torch runs its own ops on an OpenMP pool
(OMP_NUM_THREADS / torch.set_num_threads) and its matrix products on
OpenBLAS's pthread pool (OPENBLAS_NUM_THREADS); both pools spin, and two of
them with T threads each on T cores fight (PyTorch's default, 2-3x slower).
For each thread count T this script measures the two ways of giving the T
threads to one pool and one thread to the other (each in a fresh process,
since the variables are read at start-up) and reports the better as impl
"pytorch" (both as "pytorch-omp<a>-blas<b>").

Data: Fashion-MNIST when data/fashion-mnist (or --data DIR) holds the IDX
files, else random data of the same shape.

Usage: pytorch_mlp.py [--out FILE.jsonl] [--reps N] [--data DIR] [--threads 1,2]
"""
import argparse
import gzip
import json
import os
import subprocess
import sys
import time

MODELS = [
    # name, widths, batch, samples per epoch
    ("784-256-128-10", (784, 256, 128, 10), 64, 16384),
    ("784-256-128-10", (784, 256, 128, 10), 256, 16384),
    ("784-1024-1024-10", (784, 1024, 1024, 10), 256, 4096),
]
XOR_STEPS = 500


def read_idx(path):
    import numpy as np

    opener = gzip.open if open(path, "rb").read(2) == b"\x1f\x8b" else open
    with opener(path, "rb") as f:
        data = f.read()
    ndim = data[3]
    dims = [int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim)]
    arr = np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim)
    return arr.reshape(dims)


def find(d, name):
    for p in (os.path.join(d, name), os.path.join(d, name + ".gz")):
        if os.path.exists(p):
            return p
    return None


def load_data(torch, data_dir, n):
    img = find(data_dir, "train-images-idx3-ubyte") if data_dir else None
    lab = find(data_dir, "train-labels-idx1-ubyte") if data_dir else None
    if img and lab:
        x = torch.from_numpy(read_idx(img)[:n].reshape(-1, 784).astype("float32") / 255.0)
        t = torch.from_numpy(read_idx(lab)[:n].astype("int64"))
        return x, t, "fashion-mnist"
    g = torch.Generator().manual_seed(42)
    x = torch.rand(n, 784, generator=g)
    t = torch.randint(0, 10, (n,), generator=g)
    return x, t, "random (Fashion-MNIST shape)"


def summarise(v):
    v = sorted(v)
    n = len(v)
    med = v[n // 2] if n % 2 else 0.5 * (v[n // 2 - 1] + v[n // 2])
    return med, v[0], v[-1]


def worker(args):
    """Runs every model in this process's thread setting; prints JSON lines."""
    import torch

    torch.set_num_threads(args.omp)
    try:
        torch.set_num_interop_threads(1)
    except RuntimeError:
        pass
    torch.manual_seed(0)
    nn = torch.nn
    xall, tall, source = load_data(torch, args.data, 16384)
    setting = "omp%d-blas%d" % (args.omp, args.blas)
    out = []

    for name, w, batch, n in MODELS:
        x, t = xall[:n].contiguous(), tall[:n].contiguous()
        layers = []
        for i in range(3):
            layers.append(nn.Linear(w[i], w[i + 1]))
            if i < 2:
                layers.append(nn.ReLU())
        model = nn.Sequential(*layers)
        opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
        loss_fn = nn.CrossEntropyLoss()

        def epoch():
            perm = torch.randperm(n)
            for s in range(0, n, batch):
                idx = perm[s:s + batch]
                xb, tb = x[idx], t[idx]
                opt.zero_grad(set_to_none=True)
                loss = loss_fn(model(xb), tb)
                loss.backward()
                opt.step()

        epoch()  # warm-up
        v = []
        for _ in range(args.reps):
            t0 = time.perf_counter()
            epoch()
            v.append(n / (time.perf_counter() - t0))
        med, lo, hi = summarise(v)
        out.append({"bench": "train", "impl": "pytorch-" + setting, "model": name, "batch": batch,
                    "threads": args.threads, "median": med, "min": lo, "max": hi,
                    "unit": "samples/s", "data": source})

    # XOR 2-8-1, one step = one epoch of the four points.
    x = torch.tensor([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
    t = torch.tensor([[0.0], [1.0], [1.0], [0.0]])
    model = nn.Sequential(nn.Linear(2, 8), nn.Tanh(), nn.Linear(8, 1), nn.Sigmoid())
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    loss_fn = nn.MSELoss()

    def steps(k):
        for _ in range(k):
            perm = torch.randperm(4)
            xb, tb = x[perm], t[perm]
            opt.zero_grad(set_to_none=True)
            loss = loss_fn(model(xb), tb)
            loss.backward()
            opt.step()

    steps(200)
    v = []
    for _ in range(args.reps):
        t0 = time.perf_counter()
        steps(XOR_STEPS)
        v.append((time.perf_counter() - t0) / XOR_STEPS * 1e6)
    med, lo, hi = summarise(v)
    out.append({"bench": "train", "impl": "pytorch-" + setting, "model": "xor 2-8-1", "batch": 4,
                "threads": args.threads, "median": med, "min": lo, "max": hi, "unit": "us/step"})
    for rec in out:
        print(json.dumps(rec))


def settings(t):
    """(omp, blas) pairs that give the two pools t threads."""
    if t == 1:
        return [(1, 1)]
    return [(t, 1), (1, t)]


def run_workers(script, args, variants=((),)):
    """The JSON lines of `script --worker` run under each pool setting of
    each thread count of args.threads (and each extra argument list of
    variants), one process each, pauses between them."""
    records = []
    for t in [int(s) for s in args.threads.split(",")]:
        for omp, blas in settings(t):
            for extra in variants:
                env = dict(os.environ, OMP_NUM_THREADS=str(omp), OPENBLAS_NUM_THREADS=str(blas),
                           MKL_NUM_THREADS=str(blas))
                cmd = [sys.executable, script, "--worker", "--threads", str(t), "--omp", str(omp),
                       "--blas", str(blas), "--reps", str(args.reps), "--data", args.data] + list(extra)
                res = subprocess.run(cmd, env=env, stdout=subprocess.PIPE, check=True, text=True)
                records += [json.loads(line) for line in res.stdout.splitlines() if line.strip()]
                time.sleep(0.3)
    return records


def best_per_row(records):
    """The best setting per (model, batch, threads) as impl "pytorch" (the
    highest rate, or the shortest step for us/step rows), in the order the
    rows first appear."""
    best = {}
    for r in records:
        key = (r["model"], r["batch"], r["threads"])
        cur = best.get(key)
        if cur is None or (r["median"] > cur["median"] if r["unit"] == "samples/s"
                           else r["median"] < cur["median"]):
            best[key] = r
    return [dict(r, impl="pytorch", setting=r["impl"][len("pytorch-"):]) for r in best.values()]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out")
    ap.add_argument("--reps", type=int, default=7)
    ap.add_argument("--data", default="data/fashion-mnist")
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--omp", type=int, default=1, help=argparse.SUPPRESS)
    ap.add_argument("--blas", type=int, default=1, help=argparse.SUPPRESS)
    args = ap.parse_args()
    args.reps = max(5, args.reps)
    if args.worker:
        args.threads = int(args.threads)
        worker(args)
        return 0
    try:
        import torch  # noqa: F401  (only to fail early with a clear message)
    except ImportError:
        print("pytorch_mlp: torch is not importable by %s; skipped" % sys.executable)
        return 0

    records = run_workers(os.path.abspath(__file__), args)
    final = best_per_row(records)
    if args.out:
        with open(args.out, "w") as f:
            for r in records + final:
                f.write(json.dumps(r) + "\n")

    print("PyTorch %s, best thread setting per row (all settings in the JSON lines)" %
          __import__("torch").__version__)
    print("%-18s %5s %3s  %-32s %s" % ("model", "batch", "thr", "pytorch", "setting"))
    for r in final:
        fig = "%9.0f (%7.0f-%7.0f)" % (r["median"], r["min"], r["max"]) \
            if r["unit"] == "samples/s" else "%7.1f us/step (%.1f-%.1f)" % (
                r["median"], r["min"], r["max"])
        print("%-18s %5d %3d  %-32s %s" % (r["model"], r["batch"], r["threads"], fig,
                                           r["setting"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
