-- nnrun.onnx: a trained network as an ONNX model (opset 13) or as JSON, and
-- the `nnrun export MODEL --onnx FILE | --json FILE` command.
--
-- onnx.describe(net, info, loss) -> a plain description of the model:
--   { inputs, outputs, loss, norm = { kind, shift, div } | nil, class_names,
--     final = "softmax" | "sigmoid" | nil (what turns outputs into
--     probabilities), targets = { shift, scale } | nil (standardised
--     regression targets, undone at the end), layers = { { kind, inputs, outputs, <settings>,
--     weights = { rows }, bias = { }, mean = { }, var = { } }, ... } }
-- with the weights read through the binding (net:weights, net:bias,
-- net:state); onnx.encode(desc) -> the bytes of an ONNX ModelProto, written
-- by a small protobuf encoder; onnx.json(desc) -> JSON text.  Both copy
-- weights, nothing is computed.  A layer kind the graph cannot express is
-- an error { exit = 2 } naming the layer.
--
-- The graph: input "input" (N, inputs) float; the normalisation as Sub and
-- Div; Gemm (transB) per dense layer; activations as their ONNX operators
-- (gelu as 0.5 x (1 + Erf(x / sqrt 2)), silu as x Sigmoid(x)); batchnorm as
-- BatchNormalization with the running statistics, layernorm as ReduceMean,
-- Sub, Mul, Sqrt, Div, Mul, Add; dropout and gaussian_noise vanish (eval
-- mode); a classifier's outputs end in Softmax (Sigmoid for bce_logits);
-- output "output".
local json = require "nnrun.json"

local M = {}

local function refuse(fmt, ...)
  error({ exit = 2, message = string.format(fmt, ...) }, 0)
end

-- ---- the description -------------------------------------------------------

function M.describe(net, info, loss, class_names, targets)
  local d = { inputs = net:input_size(), outputs = net:output_size(), loss = loss,
    norm = info and info.norm, class_names = class_names, targets = targets, layers = {} }
  if d.norm and d.norm.kind == "none" then
    d.norm = nil
  end
  local C = d.outputs
  if loss == "cross_entropy" and C >= 2 then
    d.final = "softmax"
  elseif loss == "bce_logits" then
    d.final = "sigmoid"
  end
  local state, soff = net:state(), 0
  for i = 1, net:layer_count() do
    local l = net:layer(i)
    local e = {}
    for k, v in pairs(l) do
      if type(v) ~= "table" and k ~= "params" and k ~= "state" then
        e[k] = v
      end
    end
    if l.params > 0 then
      e.weights = net:weights(i):totable()
      e.bias = net:bias(i):totable()
    end
    if l.state > 0 then
      local n = l.state // 2
      e.mean, e.var = {}, {}
      for c = 1, n do
        e.mean[c] = state[soff + c]
        e.var[c] = state[soff + n + c]
      end
    end
    soff = soff + l.state
    d.layers[i] = e
  end
  return d
end

function M.json(d)
  return json.encode({ format = "nnrun-model", version = 1, inputs = d.inputs,
    outputs = d.outputs, loss = d.loss, final = d.final, norm = d.norm,
    class_names = d.class_names, targets = d.targets, layers = d.layers }, { indent = "  ",
    order = { "format", "version", "inputs", "outputs", "loss", "final", "norm", "class_names",
      "targets", "layers", "kind", "activation", "inputs", "outputs" } }) .. "\n"
end

-- ---- protobuf --------------------------------------------------------------

local function varint(n)
  local out = {}
  -- n >= 0 (dims, enums, field keys); negative int64 never occur here
  repeat
    local b = n & 0x7f
    n = n >> 7
    out[#out + 1] = string.char(n ~= 0 and (b | 0x80) or b)
  until n == 0
  return table.concat(out)
end

local function key(field, wire)
  return varint(field << 3 | wire)
end

local function pb_int(field, n)
  return key(field, 0) .. varint(n)
end

local function pb_bytes(field, s)
  return key(field, 2) .. varint(#s) .. s
end

local function pb_float(field, v)
  return key(field, 5) .. string.pack("<f", v)
end

-- TensorProto of float32 values (a flat list) with dims.
local function tensor(name, dims, values)
  local parts = {}
  for _, d in ipairs(dims) do
    parts[#parts + 1] = pb_int(1, d)
  end
  parts[#parts + 1] = pb_int(2, 1) -- FLOAT
  parts[#parts + 1] = pb_bytes(8, name)
  local raw = {}
  for i, v in ipairs(values) do
    raw[i] = string.pack("<f", v)
  end
  parts[#parts + 1] = pb_bytes(9, table.concat(raw))
  return table.concat(parts)
end

local function attr_float(name, v)
  return pb_bytes(1, name) .. pb_float(2, v) .. pb_int(20, 1)
end

local function attr_int(name, v)
  return pb_bytes(1, name) .. pb_int(3, v) .. pb_int(20, 2)
end

local function attr_ints(name, list)
  local s = pb_bytes(1, name)
  for _, v in ipairs(list) do
    s = s .. pb_int(8, v)
  end
  return s .. pb_int(20, 7)
end

local function node(op, inputs, outputs, name, attrs)
  local parts = {}
  for _, i in ipairs(inputs) do
    parts[#parts + 1] = pb_bytes(1, i)
  end
  for _, o in ipairs(outputs) do
    parts[#parts + 1] = pb_bytes(2, o)
  end
  parts[#parts + 1] = pb_bytes(3, name)
  parts[#parts + 1] = pb_bytes(4, op)
  for _, a in ipairs(attrs or {}) do
    parts[#parts + 1] = pb_bytes(5, a)
  end
  return table.concat(parts)
end

-- ValueInfoProto of a float tensor (N, width).
local function value_info(name, width)
  local shape = pb_bytes(1, pb_bytes(2, "N")) .. pb_bytes(1, pb_int(1, width))
  local ttype = pb_int(1, 1) .. pb_bytes(2, shape)
  return pb_bytes(1, name) .. pb_bytes(2, pb_bytes(1, ttype))
end

local function flat(rows)
  local out = {}
  for _, r in ipairs(rows) do
    if type(r) == "table" then
      for _, v in ipairs(r) do
        out[#out + 1] = v
      end
    else
      out[#out + 1] = r
    end
  end
  return out
end

local UNARY = { relu = "Relu", sigmoid = "Sigmoid", tanh = "Tanh", softmax = "Softmax",
  softplus = "Softplus", identity = "Identity" }

function M.encode(d)
  local nodes, inits = {}, {}
  local n = 0
  local cur = "input"
  local function fresh(base)
    n = n + 1
    return string.format("%s_%d", base, n)
  end
  local function const(name, dims, values)
    inits[#inits + 1] = tensor(name, dims, values)
    return name
  end
  local function op(kind, inputs, attrs)
    local out = fresh(kind:lower())
    nodes[#nodes + 1] = node(kind, inputs, { out }, out, attrs)
    return out
  end
  local function act(name, x, l, where)
    if UNARY[name] then
      return op(UNARY[name], { x }, name == "softmax" and { attr_int("axis", 1) } or nil)
    elseif name == "leaky_relu" then
      return op("LeakyRelu", { x }, { attr_float("alpha", l.slope) })
    elseif name == "elu" then
      return op("Elu", { x }, { attr_float("alpha", l.alpha) })
    elseif name == "silu" then
      return op("Mul", { x, op("Sigmoid", { x }) })
    elseif name == "gelu" then
      local s2 = const(fresh("sqrt2"), {}, { math.sqrt(2) })
      local one = const(fresh("one"), {}, { 1 })
      local half = const(fresh("half"), {}, { 0.5 })
      local e = op("Erf", { op("Div", { x, s2 }) })
      return op("Mul", { op("Mul", { x, op("Add", { e, one }) }), half })
    end
    refuse("%s: activation '%s' cannot be expressed in ONNX by nnrun export", where, name)
  end
  if d.norm then
    cur = op("Sub", { cur, const("norm_shift", { d.inputs }, d.norm.shift) })
    cur = op("Div", { cur, const("norm_div", { d.inputs }, d.norm.div) })
  end
  for i, l in ipairs(d.layers) do
    local where = string.format("layer %d (%s)", i, l.kind)
    if l.kind == "dense" then
      local w = const(string.format("dense%d_weight", i), { l.outputs, l.inputs }, flat(l.weights))
      local b = const(string.format("dense%d_bias", i), { l.outputs }, l.bias)
      cur = op("Gemm", { cur, w, b }, { attr_int("transB", 1) })
    elseif l.kind == "activation" then
      cur = act(l.activation, cur, l, where)
    elseif l.kind == "dropout" or l.kind == "gaussian_noise" then
      -- identity in eval mode: nothing to emit
    elseif l.kind == "batchnorm" then
      local g = flat(l.weights)
      if #g ~= l.inputs then
        refuse("%s: batchnorm over channels of images cannot be expressed by nnrun export", where)
      end
      local C = l.inputs
      cur = op("BatchNormalization", { cur, const(string.format("bn%d_scale", i), { C }, g),
        const(string.format("bn%d_bias", i), { C }, l.bias),
        const(string.format("bn%d_mean", i), { C }, l.mean),
        const(string.format("bn%d_var", i), { C }, l.var) }, { attr_float("epsilon", l.eps) })
    elseif l.kind == "layernorm" then
      local C = l.inputs
      local mu = op("ReduceMean", { cur }, { attr_ints("axes", { 1 }), attr_int("keepdims", 1) })
      local dv = op("Sub", { cur, mu })
      local var = op("ReduceMean", { op("Mul", { dv, dv }) },
        { attr_ints("axes", { 1 }), attr_int("keepdims", 1) })
      local sd = op("Sqrt", { op("Add", { var, const(fresh("eps"), {}, { l.eps }) }) })
      local xhat = op("Div", { dv, sd })
      cur = op("Add", { op("Mul", { xhat, const(string.format("ln%d_scale", i), { C },
        flat(l.weights)) }), const(string.format("ln%d_bias", i), { C }, l.bias) })
    else
      refuse("%s: this layer kind cannot be expressed in ONNX by nnrun export", where)
    end
  end
  if d.final == "softmax" then
    cur = op("Softmax", { cur }, { attr_int("axis", 1) })
  elseif d.final == "sigmoid" then
    cur = op("Sigmoid", { cur })
  elseif d.targets then
    -- standardised regression targets, back in the data's units
    cur = op("Mul", { cur, const("target_scale", { d.outputs }, d.targets.scale) })
    cur = op("Add", { cur, const("target_shift", { d.outputs }, d.targets.shift) })
  end
  nodes[#nodes + 1] = node("Identity", { cur }, { "output" }, "output")
  local graph = {}
  for _, nd in ipairs(nodes) do
    graph[#graph + 1] = pb_bytes(1, nd)
  end
  graph[#graph + 1] = pb_bytes(2, "nnrun")
  for _, t in ipairs(inits) do
    graph[#graph + 1] = pb_bytes(5, t)
  end
  graph[#graph + 1] = pb_bytes(11, value_info("input", d.inputs))
  graph[#graph + 1] = pb_bytes(12, value_info("output", d.outputs))
  local opset = pb_bytes(1, "") .. pb_int(2, 13)
  return pb_int(1, 7) .. pb_bytes(2, "nnrun") .. pb_bytes(7, table.concat(graph))
    .. pb_bytes(8, opset)
end

-- ---- nnrun export ------------------------------------------------------------

local options = require "nnrun.options"

M.usage = [[
usage: nnrun export MODEL --onnx FILE
       nnrun export MODEL --json FILE

Writes the model of a checkpoint (model.nnrun, best.nnrun) for use outside
nnrun: --onnx an ONNX model (opset 13) of the network with its input
normalisation in front and, for a classifier, the softmax at the end (input
"input" (N, inputs), output "output"); --json its architecture, weights,
normalisation and class names as JSON.  Both options may be given.

options:
  --onnx FILE   the ONNX file to write
  --json FILE   the JSON file to write
  --loss NAME   the loss the model was trained with (default: the
                checkpoint's), which says whether a softmax ends the graph]]

local OPTIONS = {
  options.DEBUG, options.HELP,
  { "--onnx", key = "onnx", value = "string" },
  { "--json", key = "json", value = "string" },
  { "--loss", key = "loss", value = { "mse", "cross_entropy", "bce", "bce_logits", "log_loss",
    "nll" } },
}

function M.parse(args)
  return options.parse(args, 2, OPTIONS, { command = "nnrun export", init = { files = {} } })
end

function M.main(o)
  local nn = require "nnrun"
  local util = require "nnrun.util"
  local eval = require "nnrun.eval"
  if #o.files ~= 1 then
    options.usage_error("export needs one MODEL (see nnrun export --help)")
  end
  if not o.onnx and not o.json then
    options.usage_error("export needs --onnx FILE or --json FILE (see nnrun export --help)")
  end
  for _, f in ipairs({ o.onnx or "x", o.json or "x" }) do
    if f == "" then
      options.usage_error("options --onnx and --json need a file name, got an empty string")
    end
  end
  eval.check_file(o.files[1])
  local net, info = eval.try(nn.load, o.files[1])
  local loss = o.loss or eval.from_config(info.config)
    or (net:output_size() >= 2 and "cross_entropy" or "mse")
  local names, targets = require("nnrun.data").from_checkpoint(info)
  local d = M.describe(net, info, loss, names, targets)
  -- Both encoded before anything is written: a refused layer writes nothing.
  local outs = {}
  if o.onnx then
    outs[#outs + 1] = { o.onnx, M.encode(d) }
  end
  if o.json then
    outs[#outs + 1] = { o.json, M.json(d) }
  end
  for _, out in ipairs(outs) do
    local ok, err = util.write_file(out[1], out[2])
    if not ok then
      error({ exit = 1, message = err }, 0)
    end
  end
  return 0
end

return M
