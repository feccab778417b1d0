#!/usr/bin/env python3
"""Runs every benchmark (issues 3 and 11) into one directory and prints the figures
against the targets.  Called by the `bench_run` CMake target (`make bench`):

  run_bench.py --gemm BENCH_GEMM --train BENCH_TRAIN --out-dir DIR [--reps N] [--rounds R]

The training rows and their PyTorch references run in R rounds (default 3),
nnrun then PyTorch in each, so that both see the same minutes of a shared
machine, whose speed drifts from one minute to the next (a VM's second vCPU
more than anything); each figure is the median of its R round medians and
each ratio the median of the R ratios of one round.  The GEMM rows pair the
two libraries repetition by repetition already; the contention rows run once.

Writes DIR/gemm.jsonl, DIR/train.jsonl, DIR/pytorch.jsonl (each one JSON
object per measurement; training rows with "rounds", the round medians, and
"ratio_rounds") and DIR/summary.txt (the table printed at the end).
The PyTorch reference runs under the first interpreter that can import torch
(Debian's /usr/bin/python3 first); without one it is skipped and said so.
"""
import argparse
import datetime
import json
import os
import platform
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))


# These pin OpenBLAS to older kernels (some machines set them); the
# reference commands run without them so that OpenBLAS picks its best
# kernel for this CPU, as a user's would.  nnrun does not read them.
PINS = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")


def run(cmd, reference=False):
    env = None
    if reference:
        env = {k: v for k, v in os.environ.items() if k not in PINS}
        unset = [k for k in PINS if k in os.environ]
        if unset:
            print("(reference command: %s unset)" % ", ".join(unset))
    print("+ " + " ".join(cmd), flush=True)
    subprocess.run(cmd, check=True, env=env)


def load(path):
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def torch_python():
    for exe in ("/usr/bin/python3", sys.executable, "python3"):
        try:
            r = subprocess.run([exe, "-c", "import torch"], stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
        except OSError:
            continue
        if r.returncode == 0:
            return exe
    return None


def cpu_name():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def median(v):
    v = sorted(v)
    n = len(v)
    return v[n // 2] if n % 2 else 0.5 * (v[n // 2 - 1] + v[n // 2])


def combine(train_parts, torch_parts, tj, pj, contention):
    """One train.jsonl and one pytorch.jsonl from the rounds' files: each row's
    median is the median of its round medians (min and max over all rounds,
    "rounds" the round medians); each nnrun row gets "ratio_rounds", its
    ratio to PyTorch's best in each round (samples/s: nnrun / PyTorch; us per
    step: PyTorch / nnrun, so above 1 is nnrun faster either way)."""
    def key(r):
        return (r["bench"], r["impl"], r["model"], r.get("batch"), r["threads"], r["unit"])

    def merged(parts):
        rows, order = {}, []
        for k, part in enumerate(parts):
            for r in load(part):
                kk = key(r)
                if kk not in rows:
                    rows[kk] = dict(r, rounds=[None] * len(parts), min=r["min"], max=r["max"])
                    order.append(kk)
                m = rows[kk]
                m["rounds"][k] = r["median"]
                m["min"], m["max"] = min(m["min"], r["min"]), max(m["max"], r["max"])
        for m in rows.values():
            got = [v for v in m["rounds"] if v is not None]
            m["median"] = median(got)
        return [rows[kk] for kk in order]

    train, torch = merged(train_parts), merged(torch_parts)
    best = {(r["model"], r.get("batch"), r["threads"]): r for r in torch
            if r["impl"] == "pytorch"}
    for r in train:
        p = best.get((r["model"], r.get("batch"), r["threads"]))
        if r["bench"] != "train" or not p or r["unit"] not in ("samples/s", "us/step"):
            continue
        rr = []
        for a, b in zip(r["rounds"], p["rounds"]):
            if a and b:
                rr.append(a / b if r["unit"] == "samples/s" else b / a)
        r["ratio_rounds"] = rr
    with open(tj, "w") as f:
        for r in train + load(contention):
            f.write(json.dumps(r) + "\n")
    with open(pj, "w") as f:
        for r in torch:
            f.write(json.dumps(r) + "\n")
    for part in train_parts + torch_parts + [contention]:
        if os.path.exists(part):
            os.remove(part)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--gemm")
    ap.add_argument("--train")
    ap.add_argument("--out-dir", required=True)
    ap.add_argument("--reps", default="7")  # GEMM repetitions
    ap.add_argument("--train-reps", default="5")  # epochs per row and round
    ap.add_argument("--rounds", type=int, default=3)
    # Debian's dataset-fashion-mnist (installed by make run's dependency step).
    debian = "/usr/share/datasets/fashion-mnist"
    ap.add_argument("--data", default=debian if os.path.isdir(debian)
                    else os.path.join(os.path.dirname(HERE), "data", "fashion-mnist"))
    args = ap.parse_args()
    os.makedirs(args.out_dir, exist_ok=True)
    gj = os.path.join(args.out_dir, "gemm.jsonl")
    tj = os.path.join(args.out_dir, "train.jsonl")
    pj = os.path.join(args.out_dir, "pytorch.jsonl")
    for p in (gj, tj, pj):
        if os.path.exists(p):
            os.remove(p)

    if args.gemm:
        run([args.gemm, "--out", gj, "--reps", args.reps], reference=True)
    else:
        print("bench_gemm was not built (OpenBLAS not found): skipped")
    py = torch_python()
    if not py:
        print("PyTorch not importable (install python3-torch): reference skipped")
    rounds = max(1, args.rounds)
    for k in range(rounds):
        print("round %d of %d" % (k + 1, rounds), flush=True)
        if args.train:
            run([args.train, "--out", "%s.%d" % (tj, k), "--reps", args.train_reps,
                 "--data", args.data, "--except", "contention"])
        if py:
            run([py, os.path.join(HERE, "pytorch_mlp.py"), "--out", "%s.%d" % (pj, k), "--reps",
                 args.train_reps, "--data", args.data], reference=True)
            # the CNN row (issue 13); appends to the same file
            run([py, os.path.join(HERE, "pytorch_cnn.py"), "--out", "%s.%d" % (pj, k), "--reps",
                 args.train_reps, "--data", args.data], reference=True)
    if args.train:
        run([args.train, "--out", "%s.c" % tj, "--reps", args.reps, "--data", args.data,
             "--only", "contention"])
    combine(["%s.%d" % (tj, k) for k in range(rounds)], ["%s.%d" % (pj, k) for k in range(rounds)],
            tj, pj, "%s.c" % tj)

    lines = []
    say = lines.append
    say("nnrun benchmarks, %s, %s, %d CPUs, load average %.2f at the end" % (
        datetime.date.today().isoformat(), cpu_name(), os.cpu_count() or 0, os.getloadavg()[0]))
    gemm = load(gj)
    peak = {r["impl"]: r for r in gemm if r["bench"] == "peak"}
    if peak:
        say("FMA peak, 1 thread (independent FMA chains): " + ", ".join(
            "%s %.1f GFLOPS (by CPU time %.1f)" % (k, v["median"], v.get("cpu_time_median", 0))
            for k, v in sorted(peak.items())))
    for r in gemm:
        if r["bench"] == "openblas":
            say("OpenBLAS kernel: %s (%s)" % (r["corename"], r["config"]))
    for r in gemm:
        if r["bench"] == "cores" and r["threads"] == 2:
            say("core check: 2 threads doing 2 units of work take %.2fx the time of 1 unit "
                "on 1 thread: second core %s" % (r["ratio_2x_work_on_2_threads"],
                                                  r["second_core"]))
    ratios = [r for r in gemm if r["bench"] == "gemm" and r["impl"] == "ratio"]
    if ratios:
        say("")
        kern = [r.get("kernel") for r in gemm if r["bench"] == "gemm" and r["impl"] == "nnrun"]
        say("GEMM, nnrun kernel %s / OpenBLAS (median GFLOPS; %%peak: nnrun's share of "
            "threads x the 1-thread FMA peak of its ISA; cpu: the 1-thread rows by the "
            "thread's CPU time, which leaves out preemption)" % (kern[0] if kern else "?"))
        say("%-20s %3s %8s %8s %6s %12s %6s %9s %9s" % ("shape", "thr", "nnrun", "OpenBLAS",
                                                         "ratio", "target", "%peak",
                                                         "cpu ratio", "cpu %peak"))
        gf = {(r["shape"], r["threads"], r["impl"]): r["median"] for r in gemm
              if r["bench"] == "gemm"}
        share = {(r["shape"], r["threads"]): r.get("peak_share", 0.0) for r in gemm
                 if r["bench"] == "gemm" and r["impl"] == "nnrun"}
        cpu = {(r["shape"], r["threads"]): r for r in gemm
               if r["bench"] == "gemm" and r["impl"] == "nnrun" and "cpu_ratio" in r}
        for r in ratios:
            tgt = r.get("target")
            mark = "" if tgt is None else (">=%.2f %s" % (tgt, "ok" if r["median"] >= tgt
                                                           else "MISSED"))
            c = cpu.get((r["shape"], r["threads"]))
            cx = " %9.2f %8.0f%%" % (c["cpu_ratio"], 100.0 * c["cpu_peak_share"]) if c else ""
            say("%-20s %3d %8.1f %8.1f %6.2f %12s %5.0f%%%s" % (
                r["shape"], r["threads"], gf[(r["shape"], r["threads"], "nnrun")],
                gf[(r["shape"], r["threads"], "openblas")], r["median"], mark,
                100.0 * share.get((r["shape"], r["threads"]), 0.0), cx))

    train = load(tj)
    torch = {(r["model"], r["batch"], r["threads"]): r for r in load(pj)
             if r["impl"] == "pytorch"}
    say("")
    say("Training rows: %d rounds of nnrun then PyTorch; figures are medians of the round "
        "medians, ratios the medians of the rounds' ratios (listed)" % rounds)
    rows = [r for r in train if r["bench"] == "train" and r["unit"] in ("samples/s", "us/step")]
    if rows:
        say("")
        kerns = sorted({r["kernel"] for r in rows if "kernel" in r})
        say("Training (median; samples/s, XOR in us/step; nnrun kernel %s)" % ", ".join(kerns))
        say("%-20s %5s %3s %10s %10s %7s  %-22s %s" % ("model", "batch", "thr", "nnrun",
                                                      "pytorch", "x torch", "target",
                                                      "x torch by round"))
        for r in rows:
            key = (r["model"], r["batch"], r["threads"])
            p = torch.get(key)
            fmt = "%10.3f" if r["unit"] == "us/step" else "%10.0f"
            pv = fmt % p["median"] if p else "%10s" % "-"
            rr = r.get("ratio_rounds", [])
            x = median(rr) if rr else float("nan")
            if r["unit"] == "us/step":
                tgt = "<= 1 us %s" % ("ok" if r["median"] <= 1.0 else "MISSED")
            else:
                tgt = ""
                need = {("784-256-128-10", 64): 2.5, ("784-256-128-10", 256): 2.0,
                        ("784-1024-1024-10", 256): 1.5,
                        ("conv32-conv64-128-10", 128): 2.0}.get((r["model"], r["batch"]))
                if need and r["threads"] == 2:
                    tgt = ">= %.1fx torch %s" % (need, "ok" if x >= need else "MISSED")
            say("%-20s %5d %3d %s %s %7.2f  %-22s %s" % (
                r["model"], r["batch"], r["threads"], fmt % r["median"], pv, x, tgt,
                " ".join("%.2f" % v for v in rr)))
        for r in train:
            if r["bench"] == "train" and r["unit"] == "ratio":
                say("%s: %.2f (target >= 1.8 %s)" % (r["model"], r["median"],
                                                     "ok" if r["median"] >= 1.8 else "MISSED"))
    cont = [r for r in train if r["bench"] == "contention"]
    if cont:
        say("")
        say("Contention (median samples/s; x = against 1 thread on a quiet machine, same run; "
            "nnrun kernel %s)" % ", ".join(sorted({r["kernel"] for r in cont if "kernel" in r})))
        say("%-18s %5s %9s %16s %16s %16s %16s  %s" % (
            "model", "batch", "quiet 1t", "busy: default", "busy: 1t", "nice19: default",
            "nice19: 1t", "target"))
        by = {(r["model"], r["batch"], r["impl"]): r["median"] for r in cont}
        for (model, batch) in sorted({(r["model"], r["batch"]) for r in cont}):
            q = by.get((model, batch, "quiet-1t"))
            if not q:
                continue
            cell = {}
            for k in ("busy", "busy-1t", "nice19", "nice19-1t"):
                v = by.get((model, batch, k), float("nan"))
                cell[k] = "%7.0f (%.2fx)" % (v, v / q)
            ok = by.get((model, batch, "busy"), 0) >= 0.9 * q and \
                by.get((model, batch, "nice19"), 0) >= 0.9 * q
            say("%-18s %5d %9.0f %16s %16s %16s %16s  >= 0.9x %s" % (
                model, batch, q, cell["busy"], cell["busy-1t"], cell["nice19"],
                cell["nice19-1t"], "ok" if ok else "MISSED"))
    say("")
    say("re-run: make bench   (or: cmake --build <build dir> --target bench_run)")
    text = "\n".join(lines)
    print("\n" + text)
    with open(os.path.join(args.out_dir, "summary.txt"), "w") as f:
        f.write(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
