"""Checks an ONNX model written by `nnrun export` against `nnrun predict`.

    python3 onnx_eval.py MODEL.onnx INPUTS.csv PREDICTIONS.csv

onnx.checker (with shape inference) must pass; the graph, evaluated here
with numpy (an interpreter of the operators nnrun export writes), must give
the predictions' numeric columns (p_<class>, or the regression targets) on
the inputs (a CSV of the raw features, header row) within 1e-5.  Prints
the maximum absolute difference.  Exit 77 (skipped) without python3-onnx.
"""
import csv
import math
import sys

try:
    import numpy as np
    import onnx
    from onnx import numpy_helper
except ImportError:
    print("python3-onnx is not installed", file=sys.stderr)
    sys.exit(77)


def attrs(node):
    return {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}


def run(model, x):
    env = {t.name: numpy_helper.to_array(t).astype(np.float64) for t in model.graph.initializer}
    env[model.graph.input[0].name] = x
    erf = np.vectorize(math.erf)
    for n in model.graph.node:
        a = attrs(n)
        i = [env[k] for k in n.input]
        op = n.op_type
        if op == "Gemm":
            w = i[1].T if a.get("transB", 0) else i[1]
            y = i[0] @ w + i[2]
        elif op in ("Add", "Sub", "Mul", "Div"):
            y = {"Add": np.add, "Sub": np.subtract, "Mul": np.multiply, "Div": np.divide}[op](i[0], i[1])
        elif op == "Relu":
            y = np.maximum(i[0], 0)
        elif op == "Sigmoid":
            y = 1 / (1 + np.exp(-i[0]))
        elif op == "Tanh":
            y = np.tanh(i[0])
        elif op == "Softplus":
            y = np.log1p(np.exp(i[0]))
        elif op == "LeakyRelu":
            y = np.where(i[0] > 0, i[0], a["alpha"] * i[0])
        elif op == "Elu":
            y = np.where(i[0] > 0, i[0], a["alpha"] * np.expm1(i[0]))
        elif op == "Erf":
            y = erf(i[0])
        elif op == "Sqrt":
            y = np.sqrt(i[0])
        elif op == "Identity":
            y = i[0]
        elif op == "Softmax":
            e = np.exp(i[0] - i[0].max(axis=a.get("axis", -1), keepdims=True))
            y = e / e.sum(axis=a.get("axis", -1), keepdims=True)
        elif op == "ReduceMean":
            y = i[0].mean(axis=tuple(a["axes"]), keepdims=bool(a.get("keepdims", 1)))
        elif op == "BatchNormalization":
            y = (i[0] - i[3]) / np.sqrt(i[4] + a.get("epsilon", 1e-5)) * i[1] + i[2]
        else:
            raise SystemExit("unexpected operator " + op)
        env[n.output[0]] = y
    return env[model.graph.output[0].name]


def read_csv(path, numeric_only):
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    head, body = rows[0], rows[1:]
    cols = [j for j, h in enumerate(head) if not numeric_only or h != "prediction"]
    return np.array([[float(r[j]) for j in cols] for r in body], dtype=np.float64)


def main():
    model = onnx.load(sys.argv[1])
    onnx.checker.check_model(model, full_check=True)
    opset = [o.version for o in model.opset_import if o.domain in ("", "ai.onnx")]
    if not opset or opset[0] < 13:
        raise SystemExit("opset %s < 13" % opset)
    x = read_csv(sys.argv[2], False)
    want = read_csv(sys.argv[3], True)
    got = run(model, x)
    if got.shape != want.shape:
        raise SystemExit("shape %s, predictions %s" % (got.shape, want.shape))
    err = float(np.max(np.abs(got - want)))
    print("max abs difference %.3g over %d values" % (err, want.size))
    sys.exit(0 if err <= 1e-5 else 1)


main()
