-- bindings/l_train.c: nn.fit, nn.evaluate, nn.gradcheck
local nn = require "nnrun"

local function err(fn)
  local ok, e = pcall(fn)
  assert.is_false(ok)
  return (tostring(e):gsub("^[^:]+:%d+: ", ""))
end

local function xor_net(seed)
  return nn.sequential({ nn.dense(2, 8), nn.tanh(), nn.dense(8, 1), nn.sigmoid() },
    { seed = seed or 1 })
end

describe("nn.fit", function()
  it("trains XOR and returns the history", function()
    local net, data = xor_net(), nn.datasets.xor()
    local history, stopped = nn.fit(net, data, { loss = "bce",
      optimizer = nn.optim.sgd{ lr = 0.5, momentum = 0.9 }, epochs = 400, batch_size = 4 })
    assert.is_false(stopped)
    assert.equals(400, #history)
    assert.equals(1, history[1].epoch)
    assert.equals(400, history[400].epoch)
    assert.is_true(history[400].train_loss < 0.05)
    assert.is_nil(history[1].val_loss)
    assert.equals(0.5, history[1].lr)
    assert.equals(1, nn.evaluate(net, data, "bce").accuracy)
  end)

  it("takes the defaults a config takes (nn.train_params: one source)", function()
    local defaults = {}
    for _, p in ipairs(nn.train_params()) do
      defaults[p.name] = p.default
    end
    assert.same({ epochs = 10, batch_size = 32, shuffle = true, clip_norm = 0, clip_value = 0 },
      defaults)
    -- nn.fit without epochs trains the 10 a config defaults to (was 1).
    local history = nn.fit(xor_net(), nn.datasets.xor(), { loss = "mse" })
    assert.equals(10, #history)
    local r = assert(require("nnrun.config").resolve{ data = { generator = "xor" },
      model = { layers = { { dense = 1 } } } })
    assert.same({ epochs = 10, batch_size = 32, shuffle = true, clip_norm = 0, clip_value = 0,
      validation_split = 0, early_stopping = false }, r.train)
  end)

  it("is deterministic for a seed", function()
    local function run()
      local h = nn.fit(xor_net(3), nn.datasets.xor(), { loss = "mse", epochs = 5,
        batch_size = 2, seed = 9 })
      return h[5].train_loss
    end
    assert.equals(run(), run())
  end)

  it("evaluates validation data and takes optimizer and schedule tables", function()
    local d = nn.datasets.digits03{ n_per_class = 20 }
    local train, val = d:split(0.25)
    local net = nn.sequential{ nn.dense(64, 4) }
    local h = nn.fit(net, train, { loss = "cross_entropy", epochs = 3, validation = val,
      optimizer = { name = "sgd", lr = 0.1 },
      schedule = { name = "step", step_size = 1, gamma = 0.5 } })
    assert.is_number(h[3].val_loss)
    assert.is_number(h[3].val_accuracy)
    assert.same({ 0.1, 0.05, 0.025 }, { h[1].lr, h[2].lr, h[3].lr })
  end)

  it("trains with every optimiser kind, clipping and the new schedules", function()
    local d = nn.datasets.digits03{ n_per_class = 20 }
    local train, val = d:split(0.25)
    for _, opt in ipairs({ nn.optim.adam{ lr = 0.01 }, { name = "adamw", lr = 0.01,
      weight_decay = 0.01 }, nn.optim.rmsprop{ lr = 0.005 }, { name = "adagrad", lr = 0.1 } }) do
      local net = nn.sequential({ nn.dense(64, 4) }, { seed = 2 })
      local h = nn.fit(net, train, { loss = "cross_entropy", epochs = 8, optimizer = opt,
        clip_norm = 5, clip_value = 1, validation = val })
      assert.is_true(h[8].train_loss < 0.75 * h[1].train_loss) -- measured: 0.26 to 0.69
    end
    -- plateau: the rate halves once val_loss stops improving (lr 50 diverges the loss)
    local net = nn.sequential({ nn.dense(64, 4) }, { seed = 2 })
    local h = nn.fit(net, train, { loss = "cross_entropy", epochs = 6, validation = val,
      optimizer = { name = "sgd", lr = 20 },
      schedule = { name = "plateau", patience = 0, factor = 0.5 } })
    local reduced = false
    for e = 2, 6 do
      assert.is_true(h[e].lr == h[e - 1].lr or h[e].lr == h[e - 1].lr * 0.5)
      reduced = reduced or h[e].lr < h[e - 1].lr
    end
    assert.is_true(reduced)
    h = nn.fit(nn.sequential{ nn.dense(64, 4) }, train, { loss = "cross_entropy", epochs = 4,
      optimizer = { name = "sgd", lr = 0.1 },
      schedule = { name = "one_cycle", max_lr = 1, total = 4, pct_start = 0.5 } })
    assert.same({ 0.1, 0.55, 1 }, { h[1].lr, tonumber(string.format("%.6g", h[2].lr)), h[3].lr })
    assert.equals("bad argument #3 to 'fit' (optimizer: unknown option 'momentum')",
      err(function() nn.fit(net, train, { optimizer = { name = "adam", momentum = 0.9 } }) end))
    assert.equals("trainer: clip_norm must be 0 (off) or finite and > 0, got -1",
      err(function() nn.fit(net, train, { clip_norm = -1 }) end))
  end)

  it("calls on_batch and on_epoch with their stats", function()
    local batches, epochs = {}, {}
    nn.fit(xor_net(), nn.datasets.xor(), { loss = "mse", epochs = 2, batch_size = 3,
      shuffle = false,
      on_batch = function(s) batches[#batches + 1] = s end,
      on_epoch = function(s) epochs[#epochs + 1] = s end })
    assert.equals(4, #batches)
    assert.same({ 1, 1, 2, 3 }, { batches[1].epoch, batches[1].batch, batches[1].batches,
      batches[1].size })
    assert.same({ 2, 2, 1 }, { batches[4].epoch, batches[4].batch, batches[4].size })
    assert.is_number(batches[1].loss)
    assert.is_number(batches[1].running_loss)
    assert.equals(2, #epochs)
    assert.is_number(epochs[2].seconds)
  end)

  it("stops when a callback returns false", function()
    local h, stopped = nn.fit(xor_net(), nn.datasets.xor(), { loss = "mse", epochs = 50,
      on_epoch = function(s) return s.epoch < 3 end })
    assert.equals(3, #h)
    assert.is_true(stopped)
    local n = 0
    h, stopped = nn.fit(xor_net(), nn.datasets.xor(), { loss = "mse", epochs = 50,
      batch_size = 1, on_batch = function() n = n + 1; return n < 6 end })
    assert.is_true(stopped)
    assert.equals(6, n)
  end)

  it("re-raises a callback's error after the runtime returns", function()
    local ok, e = pcall(nn.fit, xor_net(), nn.datasets.xor(), { loss = "mse", epochs = 5,
      on_epoch = function(s) if s.epoch == 2 then error("stop here", 0) end end })
    assert.is_false(ok)
    assert.equals("stop here", e)
    local tbl = {}
    ok, e = pcall(nn.fit, xor_net(), nn.datasets.xor(), { loss = "mse",
      on_batch = function() error(tbl) end })
    assert.equals(tbl, e)
  end)

  it("reports divergence as a runtime failure of class 'diverged'", function()
    local net = nn.sequential{ nn.dense(2, 4), nn.relu(), nn.dense(1) }
    local ok, e = pcall(nn.fit, net, nn.datasets.xor(), { loss = "mse", epochs = 20,
      optimizer = { lr = 1e30 } })
    assert.is_false(ok)
    assert.equals("diverged", nn.error_class(e))
  end)

  it("rejects unknown options and bad values", function()
    local net, d = xor_net(), nn.datasets.xor()
    assert.equals("bad argument #3 to 'fit' (unknown option 'epochz')",
      err(function() nn.fit(net, d, { epochz = 3 }) end))
    assert.equals("bad argument #3 to 'fit' (option 'epochs' must be >= 1)",
      err(function() nn.fit(net, d, { epochs = 0 }) end))
    assert.equals("bad argument #3 to 'fit' (option 'on_epoch' must be a function, got number)",
      err(function() nn.fit(net, d, { on_epoch = 1 }) end))
    assert.equals("bad argument #3 to 'fit' (optimizer: unknown option 'lerning_rate')",
      err(function() nn.fit(net, d, { optimizer = { lerning_rate = 1 } }) end))
    assert.equals("bad argument #3 to 'fit' (schedule: the 'step' schedule needs 'step_size')",
      err(function() nn.fit(net, d, { schedule = { name = "step", gamma = 0.5 } }) end))
    assert.equals("bad argument #3 to 'fit' (loss: unknown loss 'l2' (mse, cross_entropy, bce, "
      .. "bce_logits, log_loss))", err(function() nn.fit(net, d, { loss = "l2" }) end))
    assert.equals("bad argument #3 to 'fit' (validation: nn.dataset expected, got table)",
      err(function() nn.fit(net, d, { validation = {} }) end))
    assert.equals("bad argument #2 to 'fit' (nnrun.Dataset expected, got table)",
      err(function() nn.fit(net, {}, {}) end))
  end)
end)

describe("nn.evaluate", function()
  it("returns loss, accuracy when classifying, and the sample count", function()
    local r = nn.evaluate(xor_net(), nn.datasets.xor(), "mse")
    assert.is_number(r.loss)
    assert.equals(4, r.samples)
    assert.is_nil(r.accuracy)
    assert.is_number(nn.evaluate(xor_net(), nn.datasets.xor(), "bce").accuracy)
  end)
end)

describe("nn.gradcheck", function()
  it("agrees with backpropagation for every loss", function()
    local x = nn.tensor{ { 0.1, -0.2, 0.3 }, { 0.5, 0.4, -0.6 }, { -0.7, 0.8, 0.2 } }
    local cases = {
      { "mse", { nn.dense(3, 4), nn.tanh(), nn.dense(2) }, { { 0.1, 0.2 }, { 0.3, 0.4 }, { 0.5, 0.6 } } },
      { "cross_entropy", { nn.dense(3, 4), nn.sigmoid(), nn.dense(3) }, { 0, 2, 1 } },
      { "bce", { nn.dense(3, 4), nn.tanh(), nn.dense(1), nn.sigmoid() }, { { 0 }, { 1 }, { 1 } } },
      { "bce_logits", { nn.dense(3, 5), nn.leaky_relu(0.1), nn.dense(1) }, { { 1 }, { 0 }, { 1 } } },
      { "log_loss", { nn.dense(3, 4), nn.tanh(), nn.dense(3), nn.softmax() }, { 2, 0, 1 } },
    }
    for _, c in ipairs(cases) do
      local net = nn.sequential(c[2], { seed = 4 })
      local r = nn.gradcheck(net, x, c[3], c[1])
      assert.is_true(r.ok, c[1] .. ": " .. tostring(r.max_rel_error))
      assert.equals(net:param_count(), r.checked)
    end
  end)

  it("checks an evenly spaced subset with max_params", function()
    local net = nn.sequential({ nn.dense(2, 1), nn.sigmoid() }, { seed = 2 })
    local r = nn.gradcheck(net, { { 0.3, 0.9 } }, { { 1 } }, "bce", { max_params = 2 })
    assert.is_true(r.ok)
    assert.equals(2, r.checked)
  end)

  it("trains in micro-shards: parallel = { shards }", function()
    -- 3 epochs of batches of 3 rows (XOR: 3 and 1) in 2 shards: rows 1 | 2..3
    -- and the empty | 1; the same seed gives the same bits again, and a
    -- loss near that of one pass per batch (different sums and groupings).
    local function run(shards)
      local net = xor_net(4)
      local h = nn.fit(net, nn.datasets.xor(), { loss = "mse", epochs = 3, batch_size = 3,
        parallel = shards and { shards = shards } or nil })
      return h[3].train_loss, net:forward(nn.tensor{ { 0, 1 } }):get(1, 1)
    end
    local l2, y2 = run(2)
    local again, y2b = run(2)
    local l0 = run(nil)
    assert.equals(l2, again)
    assert.equals(y2, y2b)
    assert.is_true(math.abs(l2 - l0) < 1e-6 * l0, l2 .. " vs " .. l0)
    assert.equals("bad argument #3 to 'fit' (parallel: option 'shards' must be in 0..1024)",
      err(function() nn.fit(xor_net(), nn.datasets.xor(), { parallel = { shards = -1 } }) end))
    assert.equals("bad argument #3 to 'fit' (parallel: unknown option 'shard')",
      err(function() nn.fit(xor_net(), nn.datasets.xor(), { parallel = { shard = 2 } }) end))
    assert.equals("bad argument #3 to 'fit' (parallel: mpi: not running under MPI)",
      err(function() nn.fit(xor_net(), nn.datasets.xor(), { parallel = { mpi = true } }) end))
    assert.equals("bad argument #3 to 'fit' (option 'parallel' must be a table)",
      err(function() nn.fit(xor_net(), nn.datasets.xor(), { parallel = 8 }) end))
    assert.equals(7, nn.mpi.max(7))
  end)

  it("rejects unknown options", function()
    assert.equals("bad argument #5 to 'gradcheck' (unknown option 'epsilon')",
      err(function() nn.gradcheck(xor_net(), { { 1, 2 } }, { { 1 } }, "mse", { epsilon = 1 }) end))
  end)
end)
