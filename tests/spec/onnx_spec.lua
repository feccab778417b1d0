-- scripts/nnrun/onnx.lua: the description of a network and its encodings
local nn = require "nnrun"
local onnx = require "nnrun.onnx"

describe("nnrun.onnx", function()
  local function net()
    local n = nn.sequential({ nn.dense(2, 3), nn.batchnorm(), nn.relu(), nn.dense(2) })
    n:weights(1):copy_from(nn.tensor{ { 1, 2 }, { 3, 4 }, { 5, 6 } })
    return n
  end

  it("describes layers with their weights and running statistics", function()
    local d = onnx.describe(net(), { norm = { kind = "scale", shift = { 0, 1 }, div = { 2, 4 } } },
      "cross_entropy", { "a", "b" })
    assert.equals(2, d.inputs)
    assert.equals(2, d.outputs)
    assert.equals("softmax", d.final)
    assert.same({ "dense", "batchnorm", "activation", "dense" },
      { d.layers[1].kind, d.layers[2].kind, d.layers[3].kind, d.layers[4].kind })
    assert.same({ { 1, 2 }, { 3, 4 }, { 5, 6 } }, d.layers[1].weights)
    assert.same({ 0, 0, 0 }, d.layers[2].mean) -- running statistics of a new batchnorm
    assert.same({ 1, 1, 1 }, d.layers[2].var)
    assert.equals("relu", d.layers[3].activation)
    assert.is_nil(onnx.describe(net(), {}, "mse").final)
  end)

  it("encodes a ModelProto: IR version 7, opset 13, the operators", function()
    local bytes = onnx.encode(onnx.describe(net(), {}, "cross_entropy"))
    assert.equals("\x08\x07\x12\x05nnrun", bytes:sub(1, 9)) -- ir_version 7, producer "nnrun"
    assert.equals("\x42\x04\x0a\x00\x10\x0d", bytes:sub(-6)) -- opset_import { "", 13 }
    for _, op in ipairs({ "Gemm", "BatchNormalization", "Relu", "Softmax" }) do
      assert.truthy(bytes:find(op, 1, true), op)
    end
    -- the first weight, 1.0f, as raw little-endian float32 data
    assert.truthy(bytes:find(string.pack("<ffffff", 1, 2, 3, 4, 5, 6), 1, true))
  end)

  it("encodes images as (N, C, H, W): Conv with its pads, strides and dilations, the pools", function()
    local n = nn.sequential({ input = { 2, 5, 5 }, nn.layer("conv2d", { filters = 3, kernel = 3,
      padding = 1, stride = 2, dilation = 1 }), nn.layer("maxpool", { size = 2, stride = 1 }),
      nn.layer("global_avgpool"), nn.dense(2) })
    local d = onnx.describe(n, {}, "cross_entropy")
    assert.same({ 2, 5, 5 }, d.input_shape)
    assert.same({ { 3, 3, 3 }, { 3, 2, 2 }, { 3, 1, 1 }, { 2, 1, 1 } },
      { d.layers[1].shape, d.layers[2].shape, d.layers[3].shape, d.layers[4].shape })
    local bytes = onnx.encode(d)
    for _, op in ipairs({ "Conv", "MaxPool", "GlobalAveragePool", "Flatten", "Gemm", "Softmax",
      "kernel_shape", "pads", "strides", "dilations" }) do
      assert.truthy(bytes:find(op, 1, true), op)
    end
    assert.is_nil(bytes:find("Reshape", 1, true))
  end)

  it("refuses a layer kind it cannot express, naming the layer", function()
    local d = { inputs = 2, outputs = 2, layers = { { kind = "dense", inputs = 2, outputs = 2,
      weights = { { 1, 0 }, { 0, 1 } }, bias = { 0, 0 } }, { kind = "lstm" } } }
    local ok, e = pcall(onnx.encode, d)
    assert.is_false(ok)
    assert.same({ exit = 2, message = "layer 2 (lstm): this layer kind cannot be expressed in "
      .. "ONNX by nnrun export" }, e)
    d.layers[2] = { kind = "activation", activation = "swish2" }
    ok, e = pcall(onnx.encode, d)
    assert.equals("layer 2 (activation): activation 'swish2' cannot be expressed in ONNX by "
      .. "nnrun export", e.message)
  end)
end)
