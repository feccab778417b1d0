-- scripts/nnrun/sweep.lua: the sweep schema, expansion, ranking and shards
-- (no process is started and nothing is trained; the runs themselves are
-- tested end to end in tests/e2e/sweep.lua).
local sweep = require "nnrun.sweep"

local BASE = {
  data = { generator = "xor" },
  model = { layers = { { dense = 4, activation = "tanh" }, { dense = 1, activation = "sigmoid" } } },
  loss = "bce",
  optimizer = { lr = 0.5 },
  train = { epochs = 3, batch_size = 4 },
}

local function errors(doc)
  local s, errs = sweep.resolve(doc)
  assert.is_nil(s)
  local out = {}
  for i, e in ipairs(errs) do
    out[i] = e.path .. ": " .. e.message
  end
  return out
end

describe("sweep.resolve", function()
  it("reads a grid in the order written and fills the defaults", function()
    local pos = { ["grid.train.batch_size"] = 1, ["grid.optimizer.lr"] = 2 }
    local s = assert(sweep.resolve({ base = BASE, metric = "test_loss",
      grid = { ["optimizer.lr"] = { 0.1, 0.2 }, ["train.batch_size"] = { 2, 4 } } },
      { name = "f", position = function(p) return pos[p], 1 end }))
    assert.equals("f", s.name)
    assert.equals("min", s.mode)
    assert.same({ "train.batch_size", "optimizer.lr" }, { s.grid[1].path, s.grid[2].path })
    assert.equals("max", sweep.resolve({ base = BASE, metric = "val_accuracy",
      grid = { seed = { 1 } } }).mode)
  end)

  it("checks its keys and names with the experiment's schema engine (nnrun.schema)", function()
    -- A metric named by part gets the names that hold it, as config's enums
    -- do (the sweep's own copy of the engine suggested nothing here).
    assert.same({ "metric: unknown metric 'accuracy' (did you mean 'val_accuracy' or "
      .. "'test_accuracy' or 'test_top5_accuracy'?) (expected one of: "
      .. table.concat(sweep.METRICS, ", ") .. ")" },
      errors({ base = BASE, metric = "accuracy", grid = { seed = { 1 } } }))
    assert.same({ ": unexpected key 1 (keys are names)" },
      errors({ base = BASE, metric = "val_loss", grid = { seed = { 1 } }, [1] = true }))
  end)

  it("reports every problem with its key path", function()
    assert.same({
      "mood: unknown key (did you mean 'mode'?)",
      "base: give experiment (a file) or base (a mapping), not both",
      "metric: unknown metric 'val_acc' (did you mean 'val_accuracy'?) (expected one of: "
        .. table.concat(sweep.METRICS, ", ") .. ")",
      "grid.a..b: malformed key path 'a..b'",
      "grid.optimizer.lr: expected a list of values, got 0.1",
      "random.trials: must be from 1 to 100000, got 0",
      -- without positions, parameters are in the order of their paths
      "random.params.model.layers[1].dense.int_uniform: expected two integers, got [1.5, 3]",
      "random.params.optimizer.lr.log_uniform: bounds must be > 0, got [0, 1]",
      "random.params.optimizer.momentum.uniform: low must be <= high, got [0.9, 0.1]",
      "random.params.seed.choise: unknown key (did you mean 'choice'?)",
    }, errors({ experiment = "x.yaml", base = BASE, metric = "val_acc", mood = "max",
      grid = { ["a..b"] = { 1 }, ["optimizer.lr"] = 0.1 },
      random = { trials = 0, params = {
        ["optimizer.momentum"] = { uniform = { 0.9, 0.1 } },
        ["optimizer.lr"] = { log_uniform = { 0, 1 } },
        ["seed"] = { choise = { 1, 2 } },
        ["model.layers[1].dense"] = { int_uniform = { 1.5, 3 } },
      } } }))
    assert.same({ "experiment: missing (give experiment: FILE, or base: an experiment mapping)",
      "metric: missing (required: val_accuracy, val_loss, train_loss, test_accuracy, ...)",
      "grid: missing (give grid, random or both)" }, errors({}))
    assert.same({ "grid.model.layers[1].dense: the same key as grid.model.layers.1.dense" },
      errors({ base = BASE, metric = "test_loss", grid = { ["model.layers[1].dense"] = { 2 },
        ["model.layers.1.dense"] = { 3 } } }))
    assert.same({ "grid.seed[2]: expected a number, string or boolean, got a mapping" },
      errors({ base = BASE, metric = "test_loss", grid = { seed = { 1, { a = 1 } } } }))
  end)

  it("counts a grid's trials without overflow: 63 keys of 2 values are over the limit", function()
    local grid = {}
    for i = 1, 63 do
      grid[string.format("model.layers[%d].dense", i)] = { 1, 2 }
    end
    assert.same({ "grid: 9.22e+18 trials, over the limit of 100000" },
      errors({ base = BASE, metric = "test_loss", grid = grid }))
    grid = { a = {}, b = {} }
    for i = 1, 400 do
      grid.a[i], grid.b[i] = i, i
    end
    assert.same({ "grid: 160000 trials, over the limit of 100000" },
      errors({ base = BASE, metric = "test_loss", grid = grid }))
  end)

  it("refuses names that are no directory inside sweeps/", function()
    for _, name in ipairs({ ".", ".." }) do
      assert.same({ "name: '" .. name .. "' cannot name a directory in sweeps/ (it would be "
        .. "sweeps/ or its parent)" },
        errors({ name = name, base = BASE, metric = "test_loss", grid = { seed = { 1 } } }))
    end
    assert.same({ "name: may contain only letters, digits, '_', '-' and '.'" },
      errors({ name = "../x", base = BASE, metric = "test_loss", grid = { seed = { 1 } } }))
    local _, errs = sweep.resolve({ base = BASE, metric = "test_loss", grid = { seed = { 1 } } },
      { name = "." })
    assert.same({ { path = "name", message = "the file's name gives '.', which cannot name a "
      .. "directory in sweeps/ (give name:)" } }, errs)
    assert.equals("..x", assert(sweep.resolve({ name = "..x", base = BASE, metric = "test_loss",
      grid = { seed = { 1 } } })).name)
  end)
end)

describe("sweep.expand", function()
  it("gives the grid's cartesian product, the first key slowest, then random trials", function()
    local s = assert(sweep.resolve({ base = BASE, metric = "test_loss",
      grid = { ["optimizer.lr"] = { 0.1, 0.2, 0.3 }, ["train.batch_size"] = { 2, 4 } },
      random = { trials = 2, params = { seed = { choice = { 7 } } } } },
      { position = function(p) return p == "grid.optimizer.lr" and 1 or 2, 1 end }))
    local got = {}
    for i, t in ipairs(sweep.expand(s)) do
      assert.equals(i, t.id)
      local parts = {}
      for j, p in ipairs(t.params) do
        parts[j] = p.path .. "=" .. tostring(p.value)
      end
      got[i] = table.concat(parts, " ")
    end
    assert.same({ "optimizer.lr=0.1 train.batch_size=2", "optimizer.lr=0.1 train.batch_size=4",
      "optimizer.lr=0.2 train.batch_size=2", "optimizer.lr=0.2 train.batch_size=4",
      "optimizer.lr=0.3 train.batch_size=2", "optimizer.lr=0.3 train.batch_size=4",
      "seed=7", "seed=7" }, got)
  end)

  it("draws random trials reproducibly from the seed, within their ranges", function()
    local function draws(seed, n)
      local s = assert(sweep.resolve({ base = BASE, metric = "test_loss", random = {
        trials = n, seed = seed, params = {
          a = { uniform = { -1, 2 } }, b = { log_uniform = { 0.001, 0.3 } },
          c = { int_uniform = { 3, 5 } }, d = { choice = { "x", "y" } } } } }))
      local out = {}
      for _, t in ipairs(sweep.expand(s)) do
        local v = {}
        for _, p in ipairs(t.params) do
          v[p.path] = p.value
        end
        out[#out + 1] = v
      end
      return out
    end
    local a, b = draws(1, 200), draws(1, 200)
    assert.same(a, b)
    assert.are_not.same(a, draws(2, 200))
    assert.same({ a[1], a[2], a[3] }, draws(1, 3)) -- more trials keep the first ones
    local seen = {}
    for _, v in ipairs(a) do
      assert.is_true(v.a >= -1 and v.a < 2)
      assert.is_true(v.b >= 0.001 and v.b <= 0.3)
      assert.equals("integer", math.type(v.c))
      assert.is_true(v.c >= 3 and v.c <= 5)
      seen[v.c], seen[v.d] = true, true
    end
    assert.same({ [3] = true, [4] = true, [5] = true, x = true, y = true }, seen)
  end)
end)

describe("sweep.prepare", function()
  it("resolves every trial's experiment, named after the sweep", function()
    local s = assert(sweep.resolve({ name = "sw", base = BASE, metric = "test_loss",
      set = { ["train.epochs"] = 2 }, grid = { ["optimizer.lr"] = { 0.1, 0.2 } } }))
    local exps = assert(sweep.prepare(s, BASE, sweep.expand(s)))
    assert.equals("sw-0002", exps[2].name)
    assert.equals(0.2, exps[2].optimizer.lr)
    assert.equals(2, exps[1].train.epochs)
    assert.equals(0.5, BASE.optimizer.lr) -- the base is left as it was
  end)

  it("names the trial and the parameter of a value that makes a bad experiment", function()
    local s = assert(sweep.resolve({ base = BASE, metric = "test_loss",
      grid = { ["optimizer.lr"] = { 0.1, -1 }, ["train.batch_size"] = { 4, 0 } } },
      { position = function(p) return p == "grid.optimizer.lr" and 1 or 2, 1 end }))
    local exps, errs = sweep.prepare(s, BASE, sweep.expand(s))
    assert.is_nil(exps)
    assert.same({
      { path = "grid.train.batch_size[2]", message = "trial 2: train.batch_size: must be >= 1, got 0" },
      { path = "grid.optimizer.lr[2]", message = "trial 3: optimizer.lr: must be > 0, got -1" },
    }, errs)
  end)
end)

describe("sweep.check", function()
  -- Counts the experiments resolved (each costs about 0.1 ms: a sweep of
  -- 100,000 trials took 11 s to refuse its last value).
  local config = require "nnrun.config"
  local function counting(f)
    local n, resolve = 0, config.resolve
    config.resolve = function(...)
      n = n + 1
      return resolve(...)
    end
    local ok, a, b, c = pcall(f)
    config.resolve = resolve
    assert(ok, a)
    return n, a, b, c
  end

  it("probes each key's extreme and other values before the whole grid", function()
    local s = assert(sweep.resolve({ base = BASE, metric = "test_loss", grid = {
      ["optimizer.lr"] = { 0.3, 0.1, 0.2, 2 }, seed = { 5, 1, "x", 9, 0 / 0, 7 } } },
      { position = function(p) return p == "grid.optimizer.lr" and 1 or 2, 1 end }))
    local ids = {}
    local all = sweep.expand(s)
    for i, t in ipairs(sweep.probes(s)) do
      ids[i] = t.id
      assert.equals(all[t.id].params[1].where .. " " .. all[t.id].params[2].where,
        t.params[1].where .. " " .. t.params[2].where)
    end
    -- lr: 0.1 and 0.3 (floats), 2 (the integer); seed: 1 and 9, "x", nan
    assert.same({ 1, 2, 3, 4, 5, 7, 19 }, ids)
  end)

  it("resolves every trial of a good grid, and refuses a bad last value of 100,000 at once",
    function()
    local s = assert(sweep.resolve({ base = BASE, metric = "test_loss",
      grid = { ["optimizer.lr"] = { 0.1, 0.2, 0.3 }, ["train.batch_size"] = { 4, 2 } } }))
    local n, trials, exps = counting(function() return sweep.check(s, BASE) end)
    assert.equals(6, n)
    assert.equals(6, #trials)
    for id = 1, 6 do
      assert.equals(string.format("sweep-%04d", id), exps[id].name)
    end
    local values = {}
    for i = 1, 99999 do
      values[i] = i / 1e5
    end
    values[100000] = -1
    s = assert(sweep.resolve({ base = BASE, metric = "test_loss",
      grid = { ["optimizer.lr"] = values } }))
    local errs
    n, trials, exps, errs = counting(function() return sweep.check(s, BASE) end)
    assert.is_nil(trials)
    assert.same({ { path = "grid.optimizer.lr[100000]",
      message = "trial 100000: optimizer.lr: must be > 0, got -1" } }, errs)
    assert.equals(3, n) -- 1e-05 and 0.99999, the smallest and largest float; -1
  end)
end)

describe("sweep shards and ranking", function()
  it("parses i/n and a Slurm job array's task", function()
    assert.same({ 2, 3 }, { sweep.parse_shard("2/3") })
    local env = { SLURM_ARRAY_TASK_ID = "0", SLURM_ARRAY_TASK_MIN = "0",
      SLURM_ARRAY_TASK_COUNT = "4" }
    assert.same({ 1, 4 }, { sweep.parse_shard("slurm", function(k) return env[k] end) })
    assert.same({ nil, "option --shard needs i/n with 1 <= i <= n (or slurm), got '0/2'" },
      { sweep.parse_shard("0/2") })
    assert.is_nil(sweep.parse_shard("slurm", function() return nil end))
  end)

  it("splits trials among shards, each once", function()
    local count = {}
    for id = 1, 10 do
      for i = 1, 3 do
        if sweep.in_shard(id, i, 3) then
          count[id] = (count[id] or 0) + 1
        end
      end
    end
    for id = 1, 10 do
      assert.equals(1, count[id])
    end
    assert.is_true(sweep.in_shard(4, 1, 3) and sweep.in_shard(5, 2, 3) and sweep.in_shard(6, 3, 3))
  end)

  it("ranks finished trials by the metric, then the rest by id", function()
    local r = sweep.read_trials(table.concat({
      '{"id":1,"parameters":{"a":1},"status":"completed","metric":0.5,"seconds":1.0}',
      '{"id":2,"parameters":{"a":2},"status":"diverged","metric":null,"seconds":1.0}',
      '{"id":3,"parameters":{"a":3},"status":"stopped_early","metric":0.9,"seconds":1.0}',
      '{"id":4,"parameters":{"a":4},"status":"completed","metric":0.5,"seconds":1.0}',
      '{"id":5,"parameters":{"a":5},"sta', -- torn by a crash
    }, "\n"))
    local ids, ranks = {}, {}
    for i, t in ipairs(sweep.rank(r, "max")) do
      ids[i], ranks[i] = t.id, t.rank or "-"
    end
    assert.same({ 3, 1, 4, 2 }, ids)
    assert.same({ 1, 2, 3, "-" }, ranks)
    ids = {}
    for i, t in ipairs(sweep.rank(r, "min")) do
      ids[i] = t.id
    end
    assert.same({ 1, 4, 3, 2 }, ids)
  end)

  it("plans jobs and threads from the CPUs", function()
    assert.same({ 4, 1 }, { sweep.plan(4, nil, nil, 10) })
    assert.same({ 2, 1 }, { sweep.plan(4, nil, nil, 2) })
    assert.same({ 2, 2 }, { sweep.plan(4, nil, 2, 10) })
    assert.same({ 3, 1 }, { sweep.plan(4, 3, nil, 10) })
  end)
end)
