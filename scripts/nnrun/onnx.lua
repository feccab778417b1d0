-- nnrun.onnx: a trained network as an ONNX model (opset 13) or as JSON, and
-- the `nnrun export MODEL --onnx FILE | --json FILE` command.
--
-- onnx.describe(net, info, loss) -> a plain description of the model:
--   { inputs, input_shape = { C, H, W }, outputs, loss, norm = { kind, shift, div } | nil, class_names,
--     final = "softmax" | "sigmoid" | nil (what turns outputs into
--     probabilities), targets = { shift, scale } | nil (standardised
--     regression targets, undone at the end), layers = { { kind, inputs, outputs, shape, <settings>,
--     weights = { rows }, bias = { }, mean = { }, var = { } }, ... } }
-- with the weights read through the binding (net:weights, net:bias,
-- net:state); onnx.encode(desc) -> the bytes of an ONNX ModelProto, written
-- by a small protobuf encoder; onnx.json(desc) -> JSON text.  Both copy
-- weights, nothing is computed.  A layer kind the graph cannot express is
-- an error { exit = 2 } naming the layer.
--
-- The graph: input "input" (N, C, H, W) float for an image input shape,
-- else (N, inputs); the normalisation as Sub and Div; Gemm (transB) per
-- dense layer (after a Flatten when an image reaches it); conv2d as Conv
-- (pads, strides, dilations), maxpool, avgpool and global_avgpool as
-- MaxPool, AveragePool, GlobalAveragePool, flatten as Flatten (a Reshape
-- to (N, C, H, W) where an image layer follows a vector); activations as
-- their ONNX operators (gelu as 0.5 x (1 + Erf(x / sqrt 2)), silu as
-- x Sigmoid(x)); batchnorm as BatchNormalization with the running
-- statistics (per feature, or per channel on images), layernorm as
-- ReduceMean, Sub, Mul, Sqrt, Div, Mul, Add (over all of a sample's
-- values); dropout and gaussian_noise vanish (eval mode); a classifier's
-- outputs end in Softmax (Sigmoid for bce_logits); output "output"
-- (N, outputs).
local json = require "nnrun.json"

local M = {}

local function refuse(fmt, ...)
  error({ exit = 2, message = string.format(fmt, ...) }, 0)
end

-- ---- the description -------------------------------------------------------

function M.describe(net, info, loss, class_names, targets)
  local d = { inputs = net:input_size(), outputs = net:output_size(), loss = loss,
    norm = info and info.norm, class_names = class_names, targets = targets, layers = {},
    input_shape = net.input_shape and net:input_shape() or { net:input_size(), 1, 1 } }
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
    e.shape = l.shape or { l.outputs, 1, 1 } -- {C, H, W} of its output
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
    input_shape = d.input_shape, outputs = d.outputs, loss = d.loss, final = d.final,
    norm = d.norm, class_names = d.class_names, targets = d.targets, layers = d.layers },
    { indent = "  ", order = { "format", "version", "inputs", "input_shape", "outputs", "loss",
      "final", "norm", "class_names", "targets", "layers", "kind", "activation", "inputs",
      "outputs", "shape" } }) .. "\n"
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

-- TensorProto of float32 values (a flat list) with dims (int64: the
-- values as int64, for Reshape's shape).
local function tensor(name, dims, values, int64)
  local parts = {}
  for _, d in ipairs(dims) do
    parts[#parts + 1] = pb_int(1, d)
  end
  parts[#parts + 1] = pb_int(2, int64 and 7 or 1) -- INT64 | FLOAT
  parts[#parts + 1] = pb_bytes(8, name)
  local raw = {}
  for i, v in ipairs(values) do
    raw[i] = string.pack(int64 and "<i8" or "<f", v)
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

-- ValueInfoProto of a float tensor (N, dims...).
local function value_info(name, dims)
  local shape = pb_bytes(1, pb_bytes(2, "N"))
  for _, w in ipairs(dims) do
    shape = shape .. pb_bytes(1, pb_int(1, w))
  end
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
  local function const(name, dims, values, int64)
    inits[#inits + 1] = tensor(name, dims, values, int64)
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
  -- Images travel as (N, C, H, W), feature vectors as (N, n): `image` says
  -- which cur is, `shape` the {C, H, W} of a sample.
  local shape = d.input_shape or { d.inputs, 1, 1 }
  local image = shape[2] > 1 or shape[3] > 1
  local in_dims = image and { shape[1], shape[2], shape[3] } or { d.inputs }
  if d.norm then
    cur = op("Sub", { cur, const("norm_shift", in_dims, d.norm.shift) })
    cur = op("Div", { cur, const("norm_div", in_dims, d.norm.div) })
  end
  local function to_vector()
    if image then
      cur = op("Flatten", { cur }, { attr_int("axis", 1) })
      image = false
    end
  end
  local function to_image()
    if not image then
      cur = op("Reshape", { cur, const(fresh("shape"), { 4 }, { -1, shape[1], shape[2], shape[3] },
        true) })
      image = true
    end
  end
  local function pool_attrs(l)
    local st = (l.stride or 0) == 0 and l.size or l.stride
    return { attr_ints("kernel_shape", { l.size, l.size }), attr_ints("strides", { st, st }) }
  end
  for i, l in ipairs(d.layers) do
    local where = string.format("layer %d (%s)", i, l.kind)
    local C = shape[1]
    if l.kind == "dense" then
      to_vector()
      local w = const(string.format("dense%d_weight", i), { l.outputs, l.inputs }, flat(l.weights))
      local b = const(string.format("dense%d_bias", i), { l.outputs }, l.bias)
      cur = op("Gemm", { cur, w, b }, { attr_int("transB", 1) })
    elseif l.kind == "activation" then
      if image and (l.activation == "softmax") then
        refuse("%s: a softmax over a {C,H,W} image cannot be expressed in ONNX by nnrun export",
          where)
      end
      cur = act(l.activation, cur, l, where)
    elseif l.kind == "dropout" or l.kind == "gaussian_noise" then
      -- identity in eval mode: nothing to emit
    elseif l.kind == "batchnorm" then
      -- per feature after a dense layer, per channel (over H W) after an image layer
      local g = flat(l.weights)
      local n = image and C or l.inputs
      if #g ~= n then
        refuse("%s: batchnorm of %d values on a {%d,%d,%d} input cannot be expressed by "
          .. "nnrun export", where, #g, shape[1], shape[2], shape[3])
      end
      cur = op("BatchNormalization", { cur, const(string.format("bn%d_scale", i), { n }, g),
        const(string.format("bn%d_bias", i), { n }, l.bias),
        const(string.format("bn%d_mean", i), { n }, l.mean),
        const(string.format("bn%d_var", i), { n }, l.var) }, { attr_float("epsilon", l.eps) })
    elseif l.kind == "layernorm" then
      -- over all of a sample's values, one scale and bias per value
      local axes = image and { 1, 2, 3 } or { 1 }
      local dims = image and { shape[1], shape[2], shape[3] } or { l.inputs }
      local mu = op("ReduceMean", { cur }, { attr_ints("axes", axes), attr_int("keepdims", 1) })
      local dv = op("Sub", { cur, mu })
      local var = op("ReduceMean", { op("Mul", { dv, dv }) },
        { attr_ints("axes", axes), attr_int("keepdims", 1) })
      local sd = op("Sqrt", { op("Add", { var, const(fresh("eps"), {}, { l.eps }) }) })
      local xhat = op("Div", { dv, sd })
      cur = op("Add", { op("Mul", { xhat, const(string.format("ln%d_scale", i), dims,
        flat(l.weights)) }), const(string.format("ln%d_bias", i), dims, l.bias) })
    elseif l.kind == "conv2d" then
      -- weights (F, C k k): row f is c-major, then the kernel's row, then its column
      to_image()
      local k, p, dl = l.kernel, l.padding or 0, l.dilation or 1
      local st = l.stride or 1
      local w = const(string.format("conv%d_weight", i), { l.filters, C, k, k }, flat(l.weights))
      local b = const(string.format("conv%d_bias", i), { l.filters }, l.bias)
      cur = op("Conv", { cur, w, b }, { attr_ints("kernel_shape", { k, k }),
        attr_ints("pads", { p, p, p, p }), attr_ints("strides", { st, st }),
        attr_ints("dilations", { dl, dl }) })
    elseif l.kind == "maxpool" then
      to_image()
      cur = op("MaxPool", { cur }, pool_attrs(l))
    elseif l.kind == "avgpool" then
      to_image()
      cur = op("AveragePool", { cur }, pool_attrs(l))
    elseif l.kind == "global_avgpool" then
      to_image()
      cur = op("GlobalAveragePool", { cur })
    elseif l.kind == "flatten" then
      to_vector()
    else
      refuse("%s: this layer kind cannot be expressed in ONNX by nnrun export", where)
    end
    shape = l.shape or { l.outputs, 1, 1 }
  end
  to_vector()
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
  graph[#graph + 1] = pb_bytes(11, value_info("input", in_dims))
  graph[#graph + 1] = pb_bytes(12, value_info("output", { d.outputs }))
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
