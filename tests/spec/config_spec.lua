-- scripts/nnrun/config.lua: the experiment schema
local config = require "nnrun.config"

-- "path: message" lines of the errors of resolving exp.
local function problems(exp)
  local r, errs = config.resolve(exp)
  assert.is_nil(r)
  local out = {}
  for i, e in ipairs(errs) do
    out[i] = config.format_error(e)
  end
  return out
end

local function minimal(extra)
  local exp = {
    data = { generator = "xor" },
    model = { layers = { { dense = 4, activation = "tanh" }, { dense = 1, activation = "sigmoid" } } },
  }
  for k, v in pairs(extra or {}) do
    exp[k] = v
  end
  return exp
end

describe("config.resolve", function()
  it("writes every default explicitly", function()
    local r = assert(config.resolve(minimal(), { name = "xor" }))
    assert.same({
      name = "xor", seed = 1, threads = 0,
      data = { generator = "xor", seed = 1, test_split = 0 },
      model = { input = 2, layers = {
        { dense = 4, activation = "tanh", init = "xavier_uniform", bias_init = "zeros" },
        { dense = 1, activation = "sigmoid", init = "xavier_uniform", bias_init = "zeros" } } },
      loss = "mse",
      optimizer = { name = "sgd", lr = 0.01, momentum = 0, nesterov = false, weight_decay = 0 },
      schedule = { name = "constant", warmup = 0, warmup_start = 0, per_batch = false },
      train = { epochs = 10, batch_size = 32, shuffle = true, validation_split = 0,
        early_stopping = false },
      output = { directory = "runs" },
    }, r)
  end)

  it("fills generator and schedule defaults by kind", function()
    local r = assert(config.resolve{
      seed = 7,
      data = { generator = "digits03" },
      model = { layers = { { dense = 4 } } },
      loss = "cross_entropy",
      schedule = { name = "cosine" },
      train = { epochs = 30, early_stopping = true, validation_split = 0.1 },
    })
    assert.same({ generator = "digits03", n_per_class = 100, noise = 0.1, seed = 7,
      test_split = 0.2 }, r.data)
    assert.equals(64, r.model.input)
    assert.same({ name = "cosine", total = 30, min_lr = 0, warmup = 0, warmup_start = 0,
      per_batch = false }, r.schedule)
    assert.same({ metric = "val_loss", patience = 5, min_delta = 0 }, r.train.early_stopping)
    r = assert(config.resolve(minimal{ schedule = { name = "step" } }))
    assert.same({ name = "step", step_size = 10, gamma = 0.5, warmup = 0, warmup_start = 0,
      per_batch = false }, r.schedule)
    r = assert(config.resolve{ data = { generator = "curve" }, model = { layers = { { dense = 1 } } } })
    assert.same({ generator = "curve", n = 200, noise = 0.1, seed = 1, test_split = 0.2 }, r.data)
  end)

  it("reports unknown keys with a suggestion", function()
    assert.same({
      "optimizer.lerning_rate: unknown key (did you mean 'lr'?)",
    }, problems(minimal{ optimizer = { lerning_rate = 0.1 } }))
    assert.same({ "trian: unknown key (did you mean 'train'?)" }, problems(minimal{ trian = {} }))
    assert.same({ "train.epoch: unknown key (did you mean 'epochs'?)" },
      problems(minimal{ train = { epoch = 3 } }))
    assert.same({ "output.zzz: unknown key (expected one of: directory)" },
      problems(minimal{ output = { zzz = 1 } }))
  end)

  it("reports wrong types and values out of range", function()
    assert.same({
      "seed: expected an integer, got string \"one\"",
      "train.epochs: must be >= 1, got -2",
      "train.batch_size: must be >= 1, got 0",
      "train.shuffle: expected a boolean, got string \"yes\"",
      "optimizer.lr: must be > 0, got 0",
      "optimizer.momentum: must be < 1, got 1",
    }, problems(minimal{ seed = "one", train = { epochs = -2, batch_size = 0, shuffle = "yes" },
      optimizer = { lr = 0, momentum = 1 } }))
    assert.same({ "train.epochs: expected an integer, got 2.5" },
      problems(minimal{ train = { epochs = 2.5 } }))
    assert.same({ "optimizer.lr: must be finite, got nan" },
      problems(minimal{ optimizer = { lr = 0 / 0 } }))
    assert.same({ "name: may contain only letters, digits, '_', '-' and '.'" },
      problems(minimal{ name = "a/b" }))
  end)

  it("reports unknown names with a suggestion", function()
    assert.same({ "loss: unknown value 'cross_entropi' (did you mean 'cross_entropy'?) "
      .. "(expected one of: mse, cross_entropy, bce, bce_logits, log_loss)" },
      problems(minimal{ loss = "cross_entropi" }))
    assert.same({ "model.layers[1].activation: unknown value 'gelu' (did you mean 'relu'?) (expected one of: identity, "
      .. "sigmoid, tanh, relu, leaky_relu, softmax)" },
      problems(minimal{ model = { layers = { { dense = 2, activation = "gelu" }, { dense = 1 } } } }))
  end)

  it("reports missing sections", function()
    assert.same({
      "data: missing (give data.generator, or data.train as an nn.dataset)",
      "model: missing (give model.layers, or an nn.sequential network)",
    }, problems{})
    assert.same({ "data.generator: missing (required)" },
      problems{ data = {}, model = { input = 2, layers = { { dense = 1 } } } })
  end)

  it("reports keys that the chosen variant does not use", function()
    assert.same({ "schedule.gamma: not used by the 'cosine' schedule" },
      problems(minimal{ schedule = { name = "cosine", gamma = 0.5 } }))
    assert.same({ "data.noise: not used by the 'xor' generator" },
      problems(minimal{ data = { generator = "xor", noise = 0.1 } }))
    assert.same({ "model.layers[2].slope: only used with activation = \"leaky_relu\"" },
      problems(minimal{ model = { layers = { { dense = 3 }, { dense = 1, activation = "relu",
        slope = 0.1 } } } }))
  end)

  it("reports combinations that cannot work", function()
    assert.same({ "loss: cross_entropy needs a network with 2 or more outputs, the model has 1" },
      problems(minimal{ loss = "cross_entropy" }))
    assert.same({ "model.layers: the network has 3 outputs, the data has 4 classes" },
      problems{ data = { generator = "digits03" }, model = { layers = { { dense = 3 } } },
        loss = "cross_entropy" })
    assert.same({ "loss: mse compares 4 outputs with 1 target column (class labels need "
      .. "cross_entropy or log_loss)" },
      problems{ data = { generator = "digits03" }, model = { layers = { { dense = 4 } } } })
    assert.same({ "model.input: is 3, but the data has 2 features" },
      problems(minimal{ model = { input = 3, layers = { { dense = 1 } } } }))
    assert.same({ "train.early_stopping.metric: 'val_loss' needs train.validation_split > 0" },
      problems(minimal{ train = { early_stopping = true } }))
    assert.same({ "optimizer.nesterov: needs optimizer.momentum > 0" },
      problems(minimal{ optimizer = { nesterov = true } }))
    assert.same({ "schedule.min_lr: must be <= optimizer.lr (0.1), got 0.5" },
      problems(minimal{ optimizer = { lr = 0.1 }, schedule = { name = "cosine", min_lr = 0.5 } }))
    assert.same({ "data.test_split: 0.1 of 4 samples leaves an empty part" },
      problems(minimal{ data = { generator = "xor", test_split = 0.1 } }))
    assert.same({ "model.layers[1]: the first layer must be dense" },
      problems(minimal{ model = { layers = { { activation = "relu" }, { dense = 1 } } } }))
  end)

  it("reports every problem at once", function()
    assert.equals(3, #problems(minimal{ seed = -1, loss = "hinge", train = { epochs = 0 } }))
  end)

  it("places errors with a locator or the source file", function()
    local e = { path = "optimizer.lr", message = "must be > 0, got 0" }
    assert.equals("x.lua: optimizer.lr: must be > 0, got 0",
      config.format_error(e, { source = "x.lua" }))
    assert.equals("x.yaml:3:7: optimizer.lr: must be > 0, got 0",
      config.format_error(e, { source = "x.yaml", locate = function(p)
        return p == "optimizer.lr" and "x.yaml:3:7" or nil end }))
  end)
end)

describe("config.set", function()
  it("sets values by key path, creating tables", function()
    local exp = { optimizer = { lr = 0.1 }, model = { layers = { { dense = 3 } } } }
    assert.is_true(config.set(exp, "optimizer.lr", 0.05))
    assert.is_true(config.set(exp, "train.epochs", 3))
    assert.is_true(config.set(exp, "model.layers[1].dense", 8))
    assert.is_true(config.set(exp, "model.layers.1.activation", "relu"))
    assert.same({ optimizer = { lr = 0.05 }, train = { epochs = 3 },
      model = { layers = { { dense = 8, activation = "relu" } } } }, exp)
  end)

  it("refuses to descend into values", function()
    assert.same({ nil, "optimizer.lr: cannot set a key inside 0.1" },
      { config.set({ optimizer = { lr = 0.1 } }, "optimizer.lr.x", 1) })
    assert.same({ nil, "malformed key path 'a..b'" }, { config.set({}, "a..b", 1) })
  end)
end)

describe("config.parse_value", function()
  it("parses scalars", function()
    assert.equals(true, config.parse_value("true"))
    assert.equals(false, config.parse_value("false"))
    assert.is_nil(config.parse_value("null"))
    assert.equals(3, config.parse_value("3"))
    assert.equals(math.type(3), math.type(config.parse_value("3")))
    assert.equals(0.05, config.parse_value("0.05"))
    assert.equals(-1e-3, config.parse_value("-1e-3"))
    assert.equals("relu", config.parse_value("relu"))
    assert.equals("3", config.parse_value("'3'"))
    assert.equals("true", config.parse_value('"true"'))
  end)
end)
