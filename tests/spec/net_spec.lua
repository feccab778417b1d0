-- bindings/l_net.c: layers and nnrun.Net
local nn = require "nnrun"

local function err(fn)
  local ok, e = pcall(fn)
  assert.is_false(ok)
  return (tostring(e):gsub("^[^:]+:%d+: ", ""))
end

local function small_net(seed)
  return nn.sequential({ nn.dense(2, 3, { init = "he_normal" }), nn.relu(), nn.dense(3, 1) },
    { seed = seed or 1 })
end

describe("layers", function()
  it("describe themselves", function()
    assert.equals("nnrun.Layer(dense 2 -> 3)", tostring(nn.dense(2, 3)))
    assert.equals("nnrun.Layer(dense ? -> 4)", tostring(nn.dense(4)))
    assert.equals("nnrun.Layer(relu)", tostring(nn.relu()))
    assert.equals("nnrun.Layer(softmax)", tostring(nn.softmax()))
    assert.equals("nnrun.Layer(tanh)", tostring(nn.activation("tanh")))
  end)

  it("reject bad arguments and options", function()
    assert.equals("bad argument #1 to 'dense' (input width must be >= 1)",
      err(function() nn.dense(0, 3) end))
    assert.equals("bad argument #2 to 'dense' (output width must be >= 1)",
      err(function() nn.dense(2, -1) end))
    assert.equals("bad argument #3 to 'dense' (unknown option 'initt')",
      err(function() nn.dense(2, 3, { initt = "he_normal" }) end))
    assert.equals("bad argument #3 to 'dense' (init: unknown initialiser 'he')",
      err(function() nn.dense(2, 3, { init = "he" }) end))
    assert.equals("bad argument #1 to 'activation' (unknown activation 'swish')",
      err(function() nn.activation("swish") end))
  end)

  it("take initialisers with parameters", function()
    local net = nn.sequential{ nn.dense(2, 2, { init = { name = "constant", value = 0.5 },
      bias_init = { name = "uniform", low = -1, high = 1 } }) }
    assert.same({ { 0.5, 0.5 }, { 0.5, 0.5 } }, net:weights(1):totable())
    local info = net:layer(1)
    assert.same({ name = "constant", a = 0.5 }, info.init)
    assert.same({ name = "uniform", a = -1, b = 1 }, info.bias_init)
  end)
end)

describe("nn.sequential", function()
  it("builds a network and describes it", function()
    local net = small_net()
    assert.equals("nnrun.Net(dense 2 -> 3, relu, dense 3 -> 1; 13 parameters)", tostring(net))
    assert.equals(13, net:param_count())
    assert.equals(3, #net)
    assert.equals(2, net:input_size())
    assert.equals(1, net:output_size())
    assert.same({ kind = "activation", activation = "relu", inputs = 3, outputs = 3, params = 0,
      state = 0, shape = { 3, 1, 1 } }, net:layer(2))
    assert.same({ 2, 1, 1 }, net:input_shape())
  end)

  it("infers the input width of nn.dense(out)", function()
    local net = nn.sequential{ nn.dense(4, 8), nn.tanh(), nn.dense(2) }
    assert.equals(8, net:layer(3).inputs)
  end)

  it("takes the input shape, a width or { C, H, W }", function()
    local net = nn.sequential{ input = { 2, 5, 4 }, nn.conv2d{ filters = 3, kernel = 3,
      padding = "same" }, nn.relu(), nn.maxpool(2), nn.flatten(), nn.dense(2) }
    assert.same({ 2, 5, 4 }, net:input_shape())
    assert.equals(40, net:input_size())
    assert.same({ 3, 5, 4 }, net:layer(1).shape)
    assert.same({ 3, 2, 2 }, net:layer(3).shape)
    assert.same({ 12, 1, 1 }, net:layer(4).shape)
    assert.same({ filters = 3, kernel = 3, stride = 1, padding = 1, dilation = 1 },
      { filters = net:layer(1).filters, kernel = net:layer(1).kernel, stride = net:layer(1).stride,
        padding = net:layer(1).padding, dilation = net:layer(1).dilation })
    assert.equals(2 * 9 * 3 + 3 + 12 * 2 + 2, net:param_count())
    -- Workspace besides the activations: the convolution's columns (at least one
    -- sample's, K P = 2 3 3 x 5 4 floats); none without a convolution.
    assert.is_true(net:workspace_size(2) >= 18 * 20)
    assert.is_true(net:workspace_size(4) >= net:workspace_size(2))
    assert.equals(0, small_net():workspace_size(64))
    -- A width: nn.dense(out) takes it, and any layer can come first.
    net = nn.sequential{ input = 3, nn.dropout(0.1), nn.dense(2) }
    assert.same({ 3, 1, 1 }, net:input_shape())
    assert.equals(3, net:layer(2).inputs)
    assert.equals("bad argument #1 to 'sequential' (input: { C, H, W } must be 3 integers >= 1)",
      err(function() nn.sequential{ input = { 1, 0, 2 }, nn.flatten() } end))
    assert.equals("bad argument #1 to 'sequential' (input: expected an integer (features) or "
      .. "{ C, H, W })", err(function() nn.sequential{ input = { 1, 2 }, nn.flatten() } end))
    assert.equals("bad argument #1 to 'sequential' (unknown key 'inputs' (the layers and input))",
      err(function() nn.sequential{ inputs = 3, nn.dense(2) } end))
    -- padding = "same" (nn.same_padding): an odd kernel at stride 1.
    assert.same({ 2 }, { nn.same_padding(5) })
    assert.same({ 2 }, { nn.same_padding(3, 2) })
    assert.same({ nil, "'same' needs stride 1, got 2 (give the padding as a number)" },
      { nn.same_padding(3, 1, 2) })
    assert.equals("bad argument #1 to 'conv2d' (padding: 'same' needs an odd kernel, got 2 (no "
      .. "symmetric padding keeps the size; give the padding as a number))",
      err(function() nn.conv2d{ filters = 1, kernel = 2, padding = "same" } end))
    assert.equals("bad argument #1 to 'conv2d' (padding: expected an integer or 'same')",
      err(function() nn.conv2d{ filters = 1, kernel = 3, padding = "valid" } end))
  end)

  it("is deterministic for a seed", function()
    assert.same(small_net(5):weights(1):totable(), small_net(5):weights(1):totable())
    assert.are_not.same(small_net(5):weights(1):totable(), small_net(6):weights(1):totable())
  end)

  it("rejects bad layer lists", function()
    assert.equals("bad argument #1 to 'sequential' (a network needs at least one layer)",
      err(function() nn.sequential{} end))
    assert.equals("bad argument #1 to 'sequential' (layer 2: expected a layer (nn.dense, "
      .. "nn.relu, ...), got number)", err(function() nn.sequential{ nn.dense(2, 2), 3 } end))
    assert.equals("bad argument #1 to 'sequential' (layer 1: the first dense layer needs its "
      .. "input width: nn.dense(in, out), or give input =)",
      err(function() nn.sequential{ nn.dense(2) } end))
    assert.equals("bad argument #2 to 'sequential' (unknown option 'sed')",
      err(function() nn.sequential({ nn.dense(2, 2) }, { sed = 1 }) end))
    -- Layer widths that do not chain: the runtime's message.
    assert.matches("^layer 3", err(function() nn.sequential{ nn.dense(2, 4), nn.relu(),
      nn.dense(3, 1) } end))
  end)
end)

describe("nnrun.Net", function()
  it("runs forward and backward", function()
    local net = small_net()
    local x = nn.tensor{ { 1, 2 }, { 3, 4 }, { 5, 6 } }
    local y = net:forward(x)
    assert.same({ 3, 1 }, y:shape())
    net:zero_grad()
    local dx = net:backward(nn.tensor{ { 1 }, { 1 }, { 1 } })
    assert.same({ 3, 2 }, dx:shape())
    -- nested tables are accepted wherever a tensor is
    assert.same(y:totable(), net:forward{ { 1, 2 }, { 3, 4 }, { 5, 6 } }:totable())
  end)

  it("reports shape errors of the runtime", function()
    local net = small_net()
    local msg = err(function() net:forward{ { 1, 2, 3 } } end)
    assert.matches("3", msg)
    assert.equals("shape", nn.error_class(select(2, pcall(net.forward, net, { { 1, 2, 3 } }))))
  end)

  it("gives live views of weights, biases and gradients", function()
    local net = small_net()
    local w = net:weights(1)
    assert.same({ 3, 2 }, w:shape())
    assert.same({ 3 }, net:bias(1):shape())
    w[1][1] = 0.25
    assert.equals(0.25, net:weights(1)[1][1])
    local p = net:params()
    assert.equals(2, #p)
    assert.equals(1, p[1].layer)
    assert.equals(3, p[2].layer)
    assert.same({ 1, 3 }, p[2].weights:shape())
    net:zero_grad()
    assert.same({ { 0, 0, 0 } }, p[2].weight_grad:totable())
    net:forward{ { 1, 1 } }
    net:backward{ { 1 } }
    assert.equals(1, p[2].bias_grad[1])
  end)

  it("refuses parameters of activation layers and bad layer indices", function()
    local net = small_net()
    assert.equals("bad argument #1 to 'weights' (layer 2 (relu) has no parameters)",
      err(function() net:weights(2) end))
    assert.equals("bad argument #1 to 'bias' (layer index 4 out of range 1..3)",
      err(function() net:bias(4) end))
  end)

  it("invalidates views when closed", function()
    local net = small_net()
    local w = net:weights(1)
    net:close()
    net:close()
    assert.equals("nnrun.Net (closed)", tostring(net))
    assert.equals("nnrun.Tensor (closed)", tostring(w))
    assert.equals("calling 'get' on bad self (tensor views a network that was closed)",
      err(function() w:get(1, 1) end))
    assert.equals("calling 'forward' on bad self (network is closed)",
      err(function() net:forward{ { 1, 2 } } end))
  end)

  it("re-initialises from a seed", function()
    local a, b = small_net(1), small_net(2)
    b:reinit(1)
    assert.same(a:weights(1):totable(), b:weights(1):totable())
  end)

  it("saves to and loads from a checkpoint", function()
    local net = small_net(3)
    local path = os.tmpname()
    net:save(path)
    local again = nn.load(path)
    os.remove(path)
    assert.equals(tostring(net), tostring(again))
    assert.same(net:forward{ { 1, 2 } }:totable(), again:forward{ { 1, 2 } }:totable())
    local ok, e = pcall(nn.load, "/nonexistent/model.nnrun")
    assert.is_false(ok)
    assert.equals("io", nn.error_class(e))
  end)

  it("writes metadata in key order, so a checkpoint is the same bytes each run", function()
    local meta, keys = {}, {}
    for i = 1, 24 do
      local k = string.format("key%02d", (i * 7) % 24)
      meta[k] = "v" .. i
      keys[#keys + 1] = k
    end
    table.sort(keys)
    local path = os.tmpname()
    small_net(3):save(path, { meta = meta })
    local f = assert(io.open(path, "rb"))
    local bytes = f:read("a")
    f:close()
    local last = 0
    for _, k in ipairs(keys) do
      local at = bytes:find(k, 1, true)
      assert.is_true(at ~= nil and at > last, k .. " out of order")
      last = at
    end
    local _, info = nn.load(path)
    assert.same(meta, info.meta)
    os.remove(path)
  end)
end)

describe("layers of the registry", function()
  it("have one constructor per kind and per activation", function()
    assert.equals("nnrun.Layer(dropout p=0.2)", tostring(nn.dropout(0.2)))
    assert.equals("nnrun.Layer(dropout p=0.3)", tostring(nn.dropout{ p = 0.3 }))
    assert.equals("nnrun.Layer(batchnorm momentum=0.2)", tostring(nn.batchnorm{ momentum = 0.2 }))
    assert.equals("nnrun.Layer(layernorm)", tostring(nn.layernorm()))
    assert.equals("nnrun.Layer(layernorm eps=0.001)", tostring(nn.layer("layernorm", { eps = 1e-3 })))
    assert.equals("nnrun.Layer(gelu)", tostring(nn.gelu()))
    assert.equals("nnrun.Layer(silu)", tostring(nn.silu()))
    assert.equals("nnrun.Layer(softplus)", tostring(nn.softplus()))
    assert.equals("nnrun.Layer(elu 1)", tostring(nn.elu()))
    assert.equals("nnrun.Layer(elu 0.5)", tostring(nn.activation("elu", 0.5)))
    assert.equals("nnrun.Layer(leaky_relu 0.01)", tostring(nn.leaky_relu()))
  end)

  it("export the runtime's parameter specs", function()
    local kinds, names = {}, {}
    for _, k in ipairs(nn.layer_kinds()) do
      kinds[k.name] = k
      names[#names + 1] = k.name
    end
    assert.same({ "dense", "activation", "dropout", "batchnorm", "layernorm", "gaussian_noise",
      "conv2d", "maxpool", "avgpool", "global_avgpool", "flatten" }, names)
    local p = kinds.dropout.params[1]
    assert.same({ "p", "float", 0.5, 0, 1, false, true, true },
      { p.name, p.type, p.default, p.min, p.max, p.min_open, p.max_open, p.primary })
    local bn = kinds.batchnorm.params
    assert.same({ "momentum", 0.1, "eps", 1e-5, true }, { bn[1].name, bn[1].default, bn[2].name,
      bn[2].default, bn[2].min_open })
    assert.is_nil(bn[2].max)
    local act = kinds.activation.params
    assert.equals("gelu", act[1].choices[7])
    assert.is_nil(act[1].default)
    assert.same({ "slope", 0.01, "leaky_relu" }, { act[2].name, act[2].default, act[2].applies_to })
    assert.same({ "alpha", 1, "elu" }, { act[3].name, act[3].default, act[3].applies_to })
  end)

  it("build networks; dropout and batchnorm follow the mode", function()
    local net = nn.sequential({ nn.dense(4, 6), nn.batchnorm{ momentum = 0.2 }, nn.gelu(),
      nn.dropout(0.5), nn.layernorm(), nn.dense(2) }, { seed = 3 })
    assert.equals("train", net:mode())
    local info = net:layer(2)
    assert.same({ kind = "batchnorm", momentum = 0.2, eps = 1e-5, inputs = 6, outputs = 6,
      params = 12, state = 12, shape = { 6, 1, 1 } }, info)
    assert.same({ kind = "dropout", p = 0.5, inputs = 6, outputs = 6, params = 0, state = 0,
      shape = { 6, 1, 1 } }, net:layer(4))
    assert.equals("gelu", net:layer(3).activation)
    assert.equals(4, #net:params()) -- dense, batchnorm, layernorm, dense
    assert.same({ { 1, 1, 1, 1, 1, 1 } }, net:weights(2):totable()) -- gamma
    local x = nn.tensor{ { 0.1, 0.2, 0.3, 0.4 }, { -1, 0.5, 2, 0 }, { 1, 1, -1, -1 } }
    net:eval()
    local a, b = net:forward(x):totable(), net:forward(x):totable()
    assert.same(a, b)
    net:train()
    assert.are_not.same(net:forward(x):totable(), net:forward(x):totable())
    assert.equals("train", net:mode())
    assert.matches("gelu, dropout, layernorm, dense 6 %-> 2", tostring(net))
  end)

  it("reject bad settings with the runtime's message", function()
    assert.equals("bad argument #1 to 'dropout' (unknown option 'q')",
      err(function() nn.dropout{ q = 1 } end))
    assert.equals("bad argument #1 to 'dropout' (p: expected a number)",
      err(function() nn.dropout("x") end))
    assert.equals("bad argument #1 to 'layer' (unknown layer kind 'dropuot')",
      err(function() nn.layer("dropuot") end))
    assert.equals("layer 2 (dropout): p must be in [0, 1), got 1.5",
      err(function() nn.sequential{ nn.dense(2, 2), nn.dropout(1.5) } end))
    assert.equals("layer 2 (batchnorm): eps must be > 0, got 0",
      err(function() nn.sequential{ nn.dense(2, 2), nn.batchnorm{ eps = 0 } } end))
    assert.equals("layer 1 (dropout): a first dropout layer needs the network's input shape (nn_net_set_input)",
      err(function() nn.sequential{ nn.dropout(0.1), nn.dense(2, 2) } end))
  end)

  it("save and load every kind, running statistics included", function()
    local net = nn.sequential({ nn.dense(3, 4), nn.batchnorm(), nn.dropout(0.25), nn.elu(0.5),
      nn.dense(1) }, { seed = 2 })
    net:forward(nn.tensor{ { 1, 2, 3 }, { 0, -1, 1 } }) -- moves the running statistics
    local path = os.tmpname()
    net:save(path)
    local again = nn.load(path)
    os.remove(path)
    assert.equals(tostring(net), tostring(again))
    net:eval()
    again:eval()
    local x = nn.tensor{ { 0.5, 0.5, 0.5 } }
    assert.same(net:forward(x):totable(), again:forward(x):totable())
  end)
end)

describe("net:predict", function()
  -- dense(2,2) W1 = [[1,-1],[0.5,2]], b1 = [0,0.5]; relu; dense(2,k)
  local function fixed(k)
    local net = nn.sequential({ nn.dense(2, 2), nn.relu(), nn.dense(k) })
    net:weights(1):copy_from(nn.tensor{ { 1, -1 }, { 0.5, 2 } })
    net:bias(1):copy_from(nn.tensor{ 0, 0.5 })
    if k == 1 then
      net:weights(3):copy_from(nn.tensor{ { 2, 1 } })
      net:bias(3):copy_from(nn.tensor{ 0.25 })
    else
      net:weights(3):copy_from(nn.tensor{ { 2, 1 }, { 1, 2 } })
      net:bias(3):copy_from(nn.tensor{ 0, 0 })
    end
    return net
  end
  local norm = { kind = "standardize", shift = { 1, 2 }, div = { 2, 4 } }
  local raw = { { 3, 6 }, { 1, 2 }, { -1, 10 } } -- normalised: (1,1), (0,0), (-1,2)

  it("applies the normalisation a loaded network carries", function()
    local net = fixed(1)
    assert.is_nil(net:norm())
    assert.same({ { 14.25 }, { 5.25 }, { 20.25 } }, net:predict(raw):totable())
    local path = os.tmpname()
    net:save(path, { norm = norm })
    local loaded, info = nn.load(path)
    assert.same(norm, loaded:norm())
    assert.same(norm, info.norm)
    assert.same({ { 3.25 }, { 0.75 }, { 4.25 } }, loaded:predict(raw):totable())
    assert.same({ { 3.25 }, { 0.75 }, { 4.25 } }, loaded:predict(nn.tensor(raw)):totable())
    assert.equals("train", loaded:mode()) -- predict runs in eval mode, leaves the mode
    -- saved again without norm =: kept
    loaded:save(path)
    assert.same(norm, nn.load(path):norm())
    os.remove(path)
    loaded:set_norm(nil)
    assert.is_nil(loaded:norm())
    assert.same({ { 14.25 }, { 5.25 }, { 20.25 } }, loaded:predict(raw):totable())
    assert.equals("predict_classes: the network has one output (use predict and a threshold)",
      err(function() loaded:predict_classes(raw) end))
  end)

  it("gives classes, 1-based", function()
    local net = fixed(2)
    net:set_norm(norm)
    -- hidden (0,3), (0,0.5), (0,4): scores (3,6), (0.5,1), (4,8)
    assert.same({ { 3, 6 }, { 0.5, 1 }, { 4, 8 } }, net:predict(raw):totable())
    assert.same({ 2, 2, 2 }, net:predict_classes(raw))
    net:set_norm(nil)
    -- raw (3,6): hidden (0,14) -> (14,28); (-1,10)... every row class 2; a row giving class 1:
    assert.same({ 1 }, net:predict_classes{ { 10, 0 } }) -- hidden (10,5): (25,20)
  end)

  it("rejects bad shapes and statistics", function()
    local net = fixed(1)
    assert.equals("predict: x must be (N, 2), got 3 columns",
      err(function() net:predict{ { 1, 2, 3 } } end))
    assert.equals("net: normalisation for 3 features, the network takes 2",
      err(function() net:set_norm{ kind = "scale", shift = { 0, 0, 0 }, div = { 1, 1, 1 } } end))
  end)
end)
