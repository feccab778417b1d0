"""Checks an ONNX model written by `nnrun export` against `nnrun predict`.

    python3 onnx_eval.py MODEL.onnx INPUTS.csv PREDICTIONS.csv

onnx.checker (with shape inference) must pass; the graph, evaluated here
with numpy in double precision (an interpreter of the operators nnrun
export writes: Conv and the pools by their definitions), must give
the predictions' numeric columns (p_<class>, or the regression targets) on
the inputs (a CSV of the raw features, header row; rows of C*H*W values
reshaped to the graph's (N, C, H, W) input) within 1e-5.  Prints
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


def conv(x, w, b, strides, pads, dilations):
    """y[n,f,oh,ow] = b[f] + sum over c,i,j of w[f,c,i,j] x_pad[n,c,oh s + i d, ow s + j d]."""
    p, s, d = pads[0], strides[0], dilations[0]
    k = w.shape[2]
    xp = np.pad(x, ((0, 0), (0, 0), (p, p), (p, p)))
    oh = (xp.shape[2] - d * (k - 1) - 1) // s + 1
    ow = (xp.shape[3] - d * (k - 1) - 1) // s + 1
    y = np.zeros((x.shape[0], w.shape[0], oh, ow)) + b[None, :, None, None]
    for i in range(k):
        for j in range(k):
            patch = xp[:, :, i * d:i * d + s * (oh - 1) + 1:s, j * d:j * d + s * (ow - 1) + 1:s]
            y += np.einsum("nchw,fc->nfhw", patch, w[:, :, i, j])
    return y


def pool(x, size, stride, reduce):
    oh = (x.shape[2] - size) // stride + 1
    ow = (x.shape[3] - size) // stride + 1
    windows = np.stack([x[:, :, i:i + stride * (oh - 1) + 1:stride, j:j + stride * (ow - 1) + 1:stride]
                        for i in range(size) for j in range(size)])
    return reduce(windows, axis=0)


def run(model, x):
    env = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    env = {k: v if v.dtype == np.int64 else v.astype(np.float64) for k, v in env.items()}
    dims = [d.dim_value for d in model.graph.input[0].type.tensor_type.shape.dim][1:]
    env[model.graph.input[0].name] = x.reshape([x.shape[0]] + dims)
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
            # per channel: axis 1 of (N, C) or (N, C, H, W)
            c = [1, -1] + [1] * (i[0].ndim - 2)
            y = ((i[0] - i[3].reshape(c)) / np.sqrt(i[4].reshape(c) + a.get("epsilon", 1e-5))
                 * i[1].reshape(c) + i[2].reshape(c))
        elif op == "Conv":
            if a.get("group", 1) != 1 or len(set(a["pads"])) != 1:
                raise SystemExit("unexpected Conv attributes %s" % a)
            y = conv(i[0], i[1], i[2], a["strides"], a["pads"], a["dilations"])
        elif op in ("MaxPool", "AveragePool"):
            k, st = a["kernel_shape"][0], a["strides"][0]
            y = pool(i[0], k, st, np.max if op == "MaxPool" else np.mean)
        elif op == "GlobalAveragePool":
            y = i[0].mean(axis=(2, 3), keepdims=True)
        elif op == "Flatten":
            y = i[0].reshape(i[0].shape[0], -1)
        elif op == "Reshape":
            y = i[0].reshape([int(v) for v in i[1]])
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
