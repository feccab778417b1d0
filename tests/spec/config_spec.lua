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
        early_stopping = false, clip_norm = 0, clip_value = 0 },
      output = { directory = "runs", checkpoint_every = 1, checkpoint_best = "none",
        keep_epochs = false },
      parallel = { shards = 0 },
    }, r)
  end)

  it("takes parallel.shards, 8 by default under mpirun, at least the rank count", function()
    assert.same({ shards = 8 }, assert(config.resolve(minimal(), { ranks = 1 })).parallel)
    assert.same({ shards = 8 }, assert(config.resolve(minimal(), { ranks = 3 })).parallel)
    assert.same({ shards = 5 },
      assert(config.resolve(minimal{ parallel = { shards = 5 } }, { ranks = 5 })).parallel)
    assert.same({ shards = 0 },
      assert(config.resolve(minimal{ parallel = { shards = 0 } }, { ranks = 1 })).parallel)
    local _, errs = config.resolve(minimal{ parallel = { shards = 2 } }, { ranks = 3 })
    assert.same({ path = "parallel.shards",
      message = "3 ranks (mpirun -np 3) need at least 3 shards, got 2" }, errs[1])
    _, errs = config.resolve(minimal(), { ranks = 9 })
    assert.same({ path = "parallel.shards",
      message = "9 ranks (mpirun -np 9) need at least 9 shards, got 8" }, errs[1])
    assert.same({ "parallel.shards: must be <= 1024, got 2000" },
      problems(minimal{ parallel = { shards = 2000 } }))
    assert.same({ "parallel.shard: unknown key (did you mean 'shards'?)" },
      problems(minimal{ parallel = { shard = 2 } }))
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
    assert.same({ "output.zzz: unknown key (expected one of: checkpoint_best, checkpoint_every, "
      .. "directory, keep_epochs)" },
      problems(minimal{ output = { zzz = 1 } }))
  end)

  it("reports wrong types and values out of range", function()
    assert.same({
      "seed: expected an integer, got string \"one\"",
      "train.epochs: must be >= 1, got -2",
      "train.batch_size: must be >= 1, got 0",
      "train.shuffle: expected a boolean, got string \"yes\" (write true or false)",
      "optimizer.lr: must be > 0, got 0",
      "optimizer.momentum: must be in [0, 1), got 1",
    }, problems(minimal{ seed = "one", train = { epochs = -2, batch_size = 0, shuffle = "yes" },
      optimizer = { lr = 0, momentum = 1 } }))
    assert.same({ "train.epochs: expected an integer, got 2.5" },
      problems(minimal{ train = { epochs = 2.5 } }))
    assert.same({ "optimizer.lr: must be finite, got nan" },
      problems(minimal{ optimizer = { lr = 0 / 0 } }))
    -- The runtime computes in 32-bit floats: values beyond them are refused.
    assert.same({ "optimizer.lr: is beyond a 32-bit float (at most 3.4028235e+38), got 1e+39",
      "optimizer.weight_decay: is beyond a 32-bit float (at most 3.4028235e+38), got 1e+300",
      "schedule.gamma: is too small for a 32-bit float (it would be 0), got 1e-50" },
      problems(minimal{ optimizer = { lr = 1e39, weight_decay = 1e300 },
        schedule = { name = "exponential", gamma = 1e-50 } }))
    assert.same({ "optimizer.lr: is too small for a 32-bit float (it would be 0), got 1e-50" },
      problems(minimal{ optimizer = { lr = 1e-50 } }))
    assert.is_table(config.resolve(minimal{ optimizer = { lr = 1e-40 } })) -- subnormal: > 0
    assert.same({ "name: may contain only letters, digits, '_', '-' and '.'" },
      problems(minimal{ name = "a/b" }))
  end)

  it("reports unknown names with a suggestion", function()
    assert.same({ "loss: unknown value 'cross_entropi' (did you mean 'cross_entropy'?) "
      .. "(expected one of: mse, cross_entropy, bce, bce_logits, log_loss)" },
      problems(minimal{ loss = "cross_entropi" }))
    assert.same({ "model.layers[1].activation: unknown value 'gelo' (did you mean 'gelu'?) (expected one of: identity, "
      .. "sigmoid, tanh, relu, leaky_relu, softmax, gelu, elu, silu, softplus)" },
      problems(minimal{ model = { layers = { { dense = 2, activation = "gelo" }, { dense = 1 } } } }))
  end)

  it("reports missing sections", function()
    assert.same({
      "data: missing (required: give data.generator)",
      "model: missing (required: give model.layers)",
    }, problems{})
    assert.same({ "data.generator: missing (required)" },
      problems{ data = {}, model = { input = 2, layers = { { dense = 1 } } } })
  end)

  it("reports keys that the chosen variant does not use", function()
    assert.same({ "schedule.gamma: not used by the 'cosine' schedule" },
      problems(minimal{ schedule = { name = "cosine", gamma = 0.5 } }))
    assert.same({ "data.noise: not used by the 'xor' generator" },
      problems(minimal{ data = { generator = "xor", noise = 0.1 } }))
    assert.same({ "model.layers[2].slope: only used with activation: leaky_relu" },
      problems(minimal{ model = { layers = { { dense = 3 }, { dense = 1, activation = "relu",
        slope = 0.1 } } } }))
  end)

  it("reports combinations that cannot work", function()
    assert.same({ "loss: cross_entropy needs a network with 2 or more outputs, the model has 1 "
      .. "(for one output use bce_logits)" },
      problems(minimal{ loss = "cross_entropy" }))
    assert.same({ "model.layers[1].dense: the network has 3 outputs, the data has 4 classes" },
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

describe("config.resolve, YAML-shaped input", function()
  local yaml = require("nnrun").yaml

  it("treats a null mapping value as not given, and reports null in a list", function()
    local r = assert(config.resolve(minimal{ train = yaml.null, optimizer = { lr = yaml.null } }))
    assert.same(0.01, r.optimizer.lr)
    assert.same(10, r.train.epochs)
    assert.same({ "model.layers[2]: expected a layer such as {dense: 32, activation: relu}, "
      .. "got null" }, problems(minimal{ model = { layers = { { dense = 1 }, yaml.null } } }))
  end)

  it("names lists and mappings", function()
    assert.same({ "optimizer: expected a mapping or a name (or an nnrun.Optimizer in Lua), "
      .. "got a list" }, problems(minimal{ optimizer = { 1, 2 } }))
    assert.same({ "model.layers: expected a non-empty list of layers, got a mapping" },
      problems(minimal{ model = { layers = { dense = 3 } } }))
    assert.same({ "train.early_stopping: expected a mapping or a boolean, got string \"on\"" },
      problems(minimal{ train = { early_stopping = "on" } }))
    assert.same({ "expected a mapping of experiment settings, got a list" }, problems{ 1, 2 })
    assert.same({ "expected a mapping of experiment settings, got string \"x\"" }, problems("x"))
  end)

  it("reads an optimizer or schedule name alone as { name = ... }", function()
    local r = assert(config.resolve(minimal{ optimizer = "sgd", schedule = "cosine" }))
    assert.equals("sgd", r.optimizer.name)
    assert.same({ name = "cosine", total = 10, min_lr = 0, warmup = 0, warmup_start = 0,
      per_batch = false }, r.schedule)
    assert.same({ "optimizer.name: unknown value 'adamax' (did you mean 'adam'?) (expected one "
      .. "of: sgd, adam, adamw, rmsprop, adagrad)" }, problems(minimal{ optimizer = "adamax" }))
  end)
end)

describe("optimizers, from the runtime's registry", function()
  it("fill each kind's defaults", function()
    local r = assert(config.resolve(minimal{ optimizer = { name = "adam", lr = 0.002 } }))
    assert.same({ name = "adam", lr = 0.002, weight_decay = 0, beta1 = 0.9, beta2 = 0.999,
      eps = 1e-8 }, r.optimizer)
    r = assert(config.resolve(minimal{ optimizer = "rmsprop" }))
    assert.same({ name = "rmsprop", lr = 0.001, weight_decay = 0, rho = 0.9, eps = 1e-8,
      momentum = 0 }, r.optimizer)
    r = assert(config.resolve(minimal{ optimizer = "adagrad" }))
    assert.same({ name = "adagrad", lr = 0.01, weight_decay = 0, eps = 1e-10 }, r.optimizer)
  end)

  it("check ranges and keys per kind", function()
    assert.same({ "optimizer.beta1: must be in [0, 1), got 1.5" },
      problems(minimal{ optimizer = { name = "adam", beta1 = 1.5 } }))
    assert.same({ "optimizer.eps: must be > 0, got 0" },
      problems(minimal{ optimizer = { name = "adamw", eps = 0 } }))
    assert.same({ "optimizer.momentum: unknown key for adam (did you mean 'beta1'?)" },
      problems(minimal{ optimizer = { name = "adam", momentum = 0.9 } }))
    assert.same({ "optimizer.beta2: unknown key for rmsprop (did you mean 'rho'?)" },
      problems(minimal{ optimizer = { name = "rmsprop", beta2 = 0.9 } }))
    assert.same({ "optimizer.lerning_rate: unknown key (did you mean 'lr'?)" },
      problems(minimal{ optimizer = { name = "adagrad", lerning_rate = 0.1 } }))
    assert.same({ "optimizer.nesterov: expected a boolean, got 1" },
      problems(minimal{ optimizer = { nesterov = 1 } }))
  end)
end)

describe("train.clip_norm, train.clip_value and the new schedules", function()
  it("read clipping", function()
    local r = assert(config.resolve(minimal{ train = { clip_norm = 5, clip_value = 0.5 } }))
    assert.equals(5, r.train.clip_norm)
    assert.equals(0.5, r.train.clip_value)
    assert.same({ "train.clip_norm: must be >= 0, got -1", "train.clip_value: expected a number, "
      .. "got string \"big\"" }, problems(minimal{ train = { clip_norm = -1, clip_value = "big" } }))
  end)

  it("fill the schedules' defaults and check them", function()
    local r = assert(config.resolve(minimal{ schedule = "plateau",
      train = { validation_split = 0.5 } }))
    assert.same({ name = "plateau", metric = "val_loss", factor = 0.1, patience = 10,
      cooldown = 0, min_lr = 0, warmup = 0, warmup_start = 0, per_batch = false }, r.schedule)
    r = assert(config.resolve(minimal{ schedule = { name = "one_cycle", max_lr = 0.1 } }))
    assert.same({ name = "one_cycle", max_lr = 0.1, pct_start = 0.3, total = 10, min_lr = 0,
      warmup = 0, warmup_start = 0, per_batch = false }, r.schedule)
    r = assert(config.resolve(minimal{ schedule = "cosine_restarts" }))
    assert.same({ name = "cosine_restarts", period = 10, mult = 1, min_lr = 0, warmup = 0,
      warmup_start = 0, per_batch = false }, r.schedule)
    assert.same({ "schedule.metric: 'val_loss' needs train.validation_split > 0" },
      problems(minimal{ schedule = "plateau" }))
    assert.same({ "schedule.factor: must be in (0, 1), got 1" },
      problems(minimal{ schedule = { name = "plateau", metric = "train_loss", factor = 1 } }))
    assert.same({ "schedule.max_lr: missing (required)" },
      problems(minimal{ schedule = "one_cycle" }))
    assert.same({ "schedule.max_lr: must be >= optimizer.lr (0.01), got 0.001" },
      problems(minimal{ schedule = { name = "one_cycle", max_lr = 0.001 } }))
    assert.same({ "schedule.mult: must be >= 1, got 0.5" },
      problems(minimal{ schedule = { name = "cosine_restarts", mult = 0.5 } }))
    assert.same({ "schedule.patience: not used by the 'cosine' schedule" },
      problems(minimal{ schedule = { name = "cosine", patience = 3 } }))
  end)

  it("are the runtime's: every setting, default and range from nn.schedule_params", function()
    local nn = require "nnrun"
    assert.same(nn.schedule_names(), config.SCHEDULES)
    for _, name in ipairs(nn.schedule_names()) do
      local exp = minimal{ schedule = { name = name }, train = { validation_split = 0.5 } }
      local want = { name = name, per_batch = false }
      for _, p in ipairs(nn.schedule_params(name)) do
        if p.default == nil and p.name ~= "total" then
          exp.schedule[p.name] = 0.5 -- required (one_cycle's max_lr)
        end
        want[p.name] = exp.schedule[p.name] or p.default or (p.name == "total" and 10 or nil)
      end
      assert.same(want, assert(config.resolve(exp)).schedule)
    end
    assert.same({ step_size = 10, gamma = 0.5 }, (function()
      local r = assert(config.resolve(minimal{ schedule = "step" })).schedule
      return { step_size = r.step_size, gamma = r.gamma }
    end)())
    -- Ranges with both bounds read as one interval (was "must be <= 1").
    assert.same({ "schedule.warmup_start: must be in [0, 1], got 1.5" },
      problems(minimal{ schedule = { name = "cosine", warmup_start = 1.5 } }))
    assert.same({ "schedule.gamma: must be in (0, 1], got 1.5" },
      problems(minimal{ schedule = { name = "exponential", gamma = 1.5 } }))
    assert.same({ "schedule.metric: unknown value 'accuracy' (did you mean 'val_accuracy'?) "
      .. "(expected one of: val_loss, train_loss, val_accuracy)" },
      problems(minimal{ schedule = { name = "plateau", metric = "accuracy" } }))
    assert.same({ "schedule.period: expected an integer, got 2.5" },
      problems(minimal{ schedule = { name = "cosine_restarts", period = 2.5 } }))
    assert.same({ "schedule.pacience: unknown key (did you mean 'patience'?)" },
      problems(minimal{ schedule = { name = "plateau", metric = "train_loss", pacience = 2 } }))
  end)
end)

describe("config.resolve, every kind of problem", function()
  it("reports unknown keys at every level", function()
    assert.same({
      "data.generater: unknown key (did you mean 'generator'?)",
      "data.generator: missing (required)",
    }, problems(minimal{ data = { generater = "xor" } }))
    assert.same({ "model.layers[1].units: unknown key (did you mean 'dense'?)",
      "model.layers[1]: needs 'dense' (units) or 'activation'" },
      problems(minimal{ model = { layers = { { units = 4 }, { dense = 1 } } } }))
    assert.same({ "train.early_stopping.patients: unknown key (did you mean 'patience'?)" },
      problems(minimal{ train = { validation_split = 0.5,
        early_stopping = { metric = "train_loss", patients = 3 } } }))
    assert.same({ "schedule.warmpu: unknown key (did you mean 'warmup'?)" },
      problems(minimal{ schedule = { warmpu = 2 } }))
    assert.same({ "colour: unknown key (expected one of: data, loss, model, name, optimizer, "
      .. "output, parallel, schedule, seed, threads, train)" }, problems(minimal{ colour = "red" }))
  end)

  it("reports bad names of every kind", function()
    assert.same({ "model.layers[1].init: unknown value 'he' (did you mean 'he_uniform' or 'he_normal'?) (expected one "
      .. "of: zeros, constant, uniform, normal, xavier_uniform, xavier_normal, he_uniform, "
      .. "he_normal)" },
      problems(minimal{ model = { layers = { { dense = 2, init = "he" }, { dense = 1 } } } }))
    assert.same({ "schedule.name: unknown value 'cosin' (did you mean 'cosine' or "
      .. "'cosine_restarts'?) (expected one of: constant, step, exponential, inverse_time, cosine, "
      .. "plateau, one_cycle, cosine_restarts)" },
      problems(minimal{ schedule = { name = "cosin" } }))
    assert.same({ "data.generator: unknown value 'mnist' (expected one of: xor, digits03, curve)" },
      problems{ data = { generator = "mnist" }, model = { input = 2, layers = { { dense = 1 } } } })
    assert.same({ "train.early_stopping.metric: unknown value 'accuracy' (did you mean "
      .. "'val_accuracy'?) (expected one of: val_loss, val_accuracy, train_loss)" },
      problems(minimal{ train = { early_stopping = { metric = "accuracy" } } }))
  end)

  it("reports values out of range", function()
    assert.same({ "threads: must be <= 4096, got 5000" }, problems(minimal{ threads = 5000 }))
    assert.same({ "model.layers[1].dense: must be >= 1, got 0" },
      problems(minimal{ model = { layers = { { dense = 0 }, { dense = 1 } } } }))
    assert.same({ "model.layers[1].dense: must be <= 1000000, got 1000000000" },
      problems(minimal{ model = { layers = { { dense = 1000000000 }, { dense = 1 } } } }))
    assert.same({ "train.validation_split: must be < 1, got 1" },
      problems(minimal{ train = { validation_split = 1 } }))
    assert.same({ "schedule.gamma: must be in (0, 1], got 0" },
      problems(minimal{ schedule = { name = "step", gamma = 0 } }))
    assert.same({ "optimizer.weight_decay: must be >= 0, got -0.1" },
      problems(minimal{ optimizer = { weight_decay = -0.1 } }))
    assert.same({ "output.directory: must not be empty" },
      problems(minimal{ output = { directory = "" } }))
  end)

  it("checks that explicit layer widths chain", function()
    assert.same({ "model.layers[2].in: is 16, but model.layers[1] gives 4" },
      problems(minimal{ model = { layers = { { dense = 4, ["in"] = 2 }, { dense = 1, ["in"] = 16 } } } }))
    assert.same({ "model.layers[1].in: is 3, but the data gives 2" },
      problems(minimal{ model = { layers = { { dense = 4, ["in"] = 3 }, { dense = 1 } } } }))
    assert.same({ "model.layers[1].in: is 3, but model.input gives 2" },
      problems(minimal{ model = { input = 2, layers = { { dense = 4, ["in"] = 3 }, { dense = 1 } } } }))
    local r = assert(config.resolve(minimal{ model = { layers = { { dense = 4, ["in"] = 2 },
      { activation = "relu" }, { dense = 1, ["in"] = 4 } } }, loss = "mse" }))
    assert.equals(2, r.model.input)
    assert.equals(4, r.model.layers[3]["in"])
  end)

  it("checks the last activation against the loss", function()
    local digits = function(layers, loss)
      return { data = { generator = "digits03" }, model = { layers = layers }, loss = loss }
    end
    assert.same({ "model.layers[2].activation: softmax before cross_entropy, which applies softmax "
      .. "itself (remove it, or use loss: log_loss, which takes probabilities)" },
      problems(digits({ { dense = 8 }, { dense = 4, activation = "softmax" } }, "cross_entropy")))
    assert.same({ "model.layers[3].activation: softmax before cross_entropy, which applies softmax "
      .. "itself (remove it, or use loss: log_loss, which takes probabilities)" },
      problems(digits({ { dense = 8 }, { dense = 4 }, { activation = "softmax" } },
        "cross_entropy")))
    assert(config.resolve(digits({ { dense = 4, activation = "softmax" } }, "log_loss")))
    assert.same({ "loss: log_loss takes probabilities: end the model with activation: softmax "
      .. "(or use cross_entropy, which applies softmax itself)" },
      problems(digits({ { dense = 4 } }, "log_loss")))
    assert.same({ "loss: bce takes probabilities: end the model with activation: sigmoid "
      .. "(or use bce_logits, which applies sigmoid itself)" },
      problems(minimal{ loss = "bce", model = { layers = { { dense = 1 } } } }))
    assert.same({ "model.layers[2].activation: sigmoid before bce_logits, which applies sigmoid "
      .. "itself (remove it, or use loss: bce, which takes probabilities)" },
      problems(minimal{ loss = "bce_logits" }))
    assert(config.resolve(minimal{ loss = "bce" }))
  end)

  it("checks the metric of early stopping against the loss", function()
    assert.same({ "train.early_stopping.metric: 'val_accuracy' needs a classifying loss, not mse" },
      problems{ data = { generator = "curve" }, model = { layers = { { dense = 1 } } },
        train = { validation_split = 0.2, early_stopping = { metric = "val_accuracy" } } })
  end)

  it("keeps the data section to one source", function()
    assert.same({ "data.n: not used by the 'digits03' generator (it takes data.n_per_class, "
      .. "data.noise)" },
      problems{ data = { generator = "digits03", n = 3 }, model = { layers = { { dense = 4 } } },
        loss = "cross_entropy" })
    assert.same({ "data.train: expected an nn.dataset, got a mapping" },
      problems(minimal{ data = { train = {} } }))
  end)
end)

describe("config.locator", function()
  it("places a key, else its nearest parent, else the document", function()
    local locate = config.locator("e.yaml", {
      [""] = { line = 1, col = 1 }, ["train"] = { line = 3, col = 3 },
      ["train#key"] = { line = 2, col = 1 }, ["train.epochs#key"] = { line = 3, col = 3 },
    })
    assert.equals("e.yaml:3:3", locate("train.epochs"))
    assert.equals("e.yaml:2:1", locate("train.batch_size"))
    assert.equals("e.yaml:2:1", locate("train.early_stopping.metric"))
    assert.equals("e.yaml:1:1", locate("data"))
    assert.is_nil(config.locator("e.yaml", {})("data"))
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
    assert.same({ nil, "cannot set a key inside optimizer.lr (it is 0.1)" },
      { config.set({ optimizer = { lr = 0.1 } }, "optimizer.lr.x", 1) })
    assert.same({ nil, "malformed key path 'a..b'" }, { config.set({}, "a..b", 1) })
    assert.same({ nil, "model.layers has 1 item (give an index from 1 to 2)" },
      { config.set({ model = { layers = { {} } } }, "model.layers[3].dense", 1) })
    assert.same({ nil, "model is a mapping, not a list" },
      { config.set({ model = { input = 2 } }, "model[1]", 1) })
    assert.same({ nil, "model.layers is a list, not a mapping" },
      { config.set({ model = { layers = { {} } } }, "model.layers.dense", 1) })
  end)

  it("tells which mapping it created", function()
    assert.same({ true, "trian" }, { config.set({}, "trian.epochs", 3) })
    assert.same({ true, "train.early_stopping" },
      { config.set({ train = {} }, "train.early_stopping.patience", 3) })
    assert.same({ true }, { config.set({ train = {} }, "train.epochs", 3) })
    local exp = { model = { layers = { { dense = 2 } } } }
    assert.same({ true, "model.layers[2]" }, { config.set(exp, "model.layers[2].dense", 1) })
    assert.same({ { dense = 2 }, { dense = 1 } }, exp.model.layers)
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

  it("reads YAML scalars with the YAML module, and refuses anything else", function()
    local yaml = require("nnrun").yaml
    assert.equals(16, config.parse_value("0x10", yaml))
    assert.equals("yes", config.parse_value("yes", yaml))
    assert.equals(1000.0, config.parse_value("1e3", yaml))
    assert.equals("3", config.parse_value("'3'", yaml))
    assert.same({}, { config.parse_value("", yaml) })
    assert.same({}, { config.parse_value("null", yaml) })
    assert.same({ nil, "the value '[1, 2]' is a list; give one scalar (set the keys one by one)" },
      { config.parse_value("[1, 2]", yaml) })
    assert.same({ nil, "cannot read the value ''x' (found unexpected end of stream (while "
      .. "scanning a quoted scalar at line 1, column 1))" }, { config.parse_value("'x", yaml) })
  end)

  it("canonicalises key paths", function()
    assert.equals("model.layers[2].dense", config.canonical_path("model.layers.2.dense"))
    assert.equals("optimizer.lr", config.canonical_path("optimizer.lr"))
  end)
end)

-- model.layers items of the kinds beyond dense: the schema is built from
-- the runtime's parameter specs (nn.layer_kinds()).
describe("config.resolve of layer kinds", function()
  local function model(layers)
    return minimal{ model = { layers = layers } }
  end
  local function layers_of(exp)
    local r, errs = config.resolve(exp)
    assert.is_nil(errs and errs[1] and config.format_error(errs[1]))
    return r.model.layers
  end

  it("takes the short and the full forms and writes every default", function()
    local l = layers_of(model{ { dense = 8 }, { batchnorm = { momentum = 0.2 } }, { activation = "gelu" },
      { dropout = 0.2 }, { layernorm = { eps = 1e-3 } }, "batchnorm", { dropout = {} },
      { activation = "elu", alpha = 0.5 }, { dense = 1, activation = "sigmoid" } })
    assert.same({ batchnorm = { momentum = 0.2, eps = 1e-5 } }, l[2])
    assert.same({ activation = "gelu" }, l[3])
    assert.same({ dropout = { p = 0.2 } }, l[4])
    assert.same({ layernorm = { eps = 1e-3 } }, l[5])
    assert.same({ batchnorm = { momentum = 0.1, eps = 1e-5 } }, l[6])
    assert.same({ dropout = { p = 0.5 } }, l[7])
    assert.same({ activation = "elu", alpha = 0.5 }, l[8])
    assert.same({ activation = "leaky_relu", slope = 0.01 }, layers_of(model{ { dense = 2 },
      { activation = "leaky_relu" }, { dense = 1 } })[2])
  end)

  it("checks every setting against its spec, located, with did-you-mean", function()
    assert.same({ "model.layers[2].dropout: must be < 1, got 1.5" },
      problems(model{ { dense = 2 }, { dropout = 1.5 }, { dense = 1 } }))
    assert.same({ "model.layers[2].dropout.p: must be >= 0, got -0.1" },
      problems(model{ { dense = 2 }, { dropout = { p = -0.1 } }, { dense = 1 } }))
    assert.same({ "model.layers[2].batchnorm.eps: must be > 0, got 0" },
      problems(model{ { dense = 2 }, { batchnorm = { eps = 0 } }, { dense = 1 } }))
    assert.same({ "model.layers[2].batchnorm.momentum: must be <= 1, got 2" },
      problems(model{ { dense = 2 }, { batchnorm = { momentum = 2 } }, { dense = 1 } }))
    assert.same({ "model.layers[2].batchnorm.momentun: unknown key (did you mean 'momentum'?)" },
      problems(model{ { dense = 2 }, { batchnorm = { momentun = 0.1 } }, { dense = 1 } }))
    assert.same({ "model.layers[2].dropuot: unknown key (did you mean 'dropout'?)",
      "model.layers[2]: needs 'dense' (units) or 'activation'" },
      problems(model{ { dense = 2 }, { dropuot = 0.2 }, { dense = 1 } }))
    assert.same({ "model.layers[2].layernorm: expected a mapping of settings (layernorm: {}), got 0.5" },
      problems(model{ { dense = 2 }, { layernorm = 0.5 }, { dense = 1 } }))
    assert.same({ "model.layers[2].dropout: expected a number, got string \"a\"" },
      problems(model{ { dense = 2 }, { dropout = "a" }, { dense = 1 } }))
    assert.same({ "model.layers[2]: one layer per list item: 'dropout' and 'dense'" },
      problems(model{ { dense = 2 }, { dense = 2, dropout = 0.1 }, { dense = 1 } }))
    -- Any layer can come first: the network takes model.input.
    assert.same({ { dropout = { p = 0.1 } }, { activation = "relu" } },
      { layers_of(model{ { dropout = 0.1 }, { dense = 1 } })[1],
        layers_of(model{ { activation = "relu" }, { dense = 1 } })[1] })
    assert.same({ "model.layers[2].alpha: only used with activation: elu" },
      problems(model{ { dense = 2 }, { activation = "relu", alpha = 1 }, { dense = 1 } }))
    assert.same({ "model.layers[2].alpha: must be >= 0, got -1" },
      problems(model{ { dense = 2 }, { activation = "elu", alpha = -1 }, { dense = 1 } }))
  end)

  it("takes its names, defaults and ranges from the runtime", function()
    local nn = require "nnrun"
    local kinds = {}
    for _, k in ipairs(nn.layer_kinds()) do
      kinds[k.name] = k
    end
    assert.same(kinds.activation.params[1].choices, config.ACTIVATIONS)
    assert.same(kinds.dense.params[3].choices, config.INITIALISERS)
    local l = layers_of(model{ { dense = 2 }, { batchnorm = {} }, { dense = 1 } })
    assert.equals(kinds.batchnorm.params[1].default, l[2].batchnorm.momentum)
    assert.equals(kinds.batchnorm.params[2].default, l[2].batchnorm.eps)
  end)
end)

-- Convolutional networks: model.input [C, H, W], the image shape of the
-- data, conv2d (with its activation and padding: same) and pooling.
describe("config.resolve of images", function()
  local function cnn(first, extra)
    local exp = {
      data = { generator = "digits03" },
      model = { layers = { first, { maxpool = 2 }, { flatten = {} }, { dense = 4 } } },
      loss = "cross_entropy",
    }
    for k, v in pairs(extra or {}) do
      exp.model[k] = v
    end
    return exp
  end
  local function model_of(exp)
    local r, errs = config.resolve(exp)
    assert.is_nil(errs and errs[1] and config.format_error(errs[1]))
    return r.model
  end
  local conv = { conv2d = { filters = 4, kernel = 3 } }

  it("takes the data's image shape for a first layer that takes an image", function()
    local m = model_of(cnn({ conv2d = { filters = 4, kernel = 3, padding = "same",
      activation = "relu" } }))
    assert.same({ 1, 8, 8 }, m.input)
    assert.same({ conv2d = { filters = 4, kernel = 3, stride = 1, padding = "same", dilation = 1,
      init = "he_uniform", bias_init = "zeros", activation = "relu" } }, m.layers[1])
    assert.same({ maxpool = { size = 2, stride = 0 } }, m.layers[2])
    assert.same({ flatten = {} }, m.layers[3])
    -- A dense first layer takes the features, as before.
    assert.equals(64, model_of(cnn({ dense = 8 })).input)
    -- Given, it is checked against the data's features.
    assert.same({ 4, 4, 4 }, model_of(cnn(conv, { input = { 4, 4, 4 } })).input)
    local leaky = model_of(cnn({ conv2d = { filters = 2, kernel = 1, activation = "leaky_relu",
      slope = 0.2 } })).layers[1].conv2d
    assert.same({ "leaky_relu", 0.2 }, { leaky.activation, leaky.slope })
    assert.same({ global_avgpool = {} }, model_of(cnn({ global_avgpool = {} })).layers[1])
    assert.same({ avgpool = { size = 3, stride = 1 } },
      model_of(cnn({ avgpool = { size = 3, stride = 1 } })).layers[1])
  end)

  it("checks model.input, located", function()
    assert.same({ "model.input: needs 3 positive integers [C, H, W], got 2" },
      problems(cnn(conv, { input = { 1, 64 } })))
    assert.same({ "model.input[2]: must be >= 1, got 0" },
      problems(cnn(conv, { input = { 1, 0, 8 } })))
    assert.same({ "model.input[3]: expected an integer, got 2.5" },
      problems(cnn(conv, { input = { 1, 8, 2.5 } })))
    assert.same({ "model.input: is [1, 8, 9] (72 features), but the data has 64 features" },
      problems(cnn(conv, { input = { 1, 8, 9 } })))
    assert.same({ "model.input: expected an integer (the input width) or [C, H, W], got string "
      .. "\"1x8x8\"" }, problems(cnn(conv, { input = "1x8x8" })))
    assert.same({ "model.input: the first layer (conv2d) takes an image: give model.input as "
      .. "[C, H, W], got 64" }, problems(cnn(conv, { input = 64 })))
    local xor = cnn(conv)
    xor.data = { generator = "xor" }
    assert.same({ "model.input: missing: the first layer (conv2d) takes an image [C, H, W], and "
      .. "the data gives no shape (give model.input)" }, problems(xor))
  end)

  it("checks conv2d and pooling settings against the runtime's specs", function()
    assert.same({ "model.layers[1].conv2d.kernel: missing (required)" },
      problems(cnn({ conv2d = { filters = 4 } })))
    assert.same({ "model.layers[1].conv2d: expected a mapping of settings such as {filters: 8, "
      .. "kernel: ...} (kernel is required), got 8" }, problems(cnn({ conv2d = 8 })))
    assert.same({ "model.layers[1].conv2d.filter: unknown key (did you mean 'filters'?)",
      "model.layers[1].conv2d.filters: missing (required)" },
      problems(cnn({ conv2d = { filter = 4, kernel = 3 } })))
    assert.same({ "model.layers[1].conv2d.stride: must be >= 1, got 0" },
      problems(cnn({ conv2d = { filters = 4, kernel = 3, stride = 0 } })))
    assert.same({ "model.layers[1].conv2d.activation: unknown value 'rel' (did you mean 'relu'?) "
      .. "(expected one of: " .. table.concat(config.ACTIVATIONS, ", ") .. ")" },
      problems(cnn({ conv2d = { filters = 4, kernel = 3, activation = "rel" } })))
    assert.same({ "model.layers[1].conv2d.slope: only used with activation: leaky_relu" },
      problems(cnn({ conv2d = { filters = 4, kernel = 3, activation = "relu", slope = 0.1 } })))
    assert.same({ "model.layers[2].maxpool: must be >= 1, got 0" },
      problems({ data = { generator = "digits03" }, model = { layers = { conv, { maxpool = 0 },
        { dense = 4 } } }, loss = "cross_entropy" }))
    assert.same({ "model.layers[1].dropout.activation: unknown key (expected one of: p)" },
      problems(cnn({ dropout = { p = 0.1, activation = "relu" } })))
  end)

  it("takes padding: same for an odd kernel at stride 1", function()
    assert.same({ "model.layers[1].conv2d.padding: 'same' needs an odd kernel, got 4 (no "
      .. "symmetric padding keeps the size; give the padding as a number)" },
      problems(cnn({ conv2d = { filters = 4, kernel = 4, padding = "same" } })))
    assert.same({ "model.layers[1].conv2d.padding: 'same' needs stride 1, got 2 (give the padding "
      .. "as a number)" },
      problems(cnn({ conv2d = { filters = 4, kernel = 3, stride = 2, padding = "same" } })))
    assert.same({ "model.layers[1].conv2d.padding: expected an integer or 'same', got string "
      .. "\"valid\"" }, problems(cnn({ conv2d = { filters = 4, kernel = 3, padding = "valid" } })))
    -- dilation 2 makes an even kernel's reach odd: padding 1 keeps the size.
    assert.equals("same", model_of(cnn({ conv2d = { filters = 4, kernel = 2, dilation = 2,
      padding = "same" } })).layers[1].conv2d.padding)
  end)
end)
