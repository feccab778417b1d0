-- nnrun.sweep: hyperparameter sweeps (`nnrun sweep FILE`).
--
-- A sweep file names a base experiment and the values to try (a grid, random
-- draws, or both); every trial is that experiment with some key paths set
-- (config.set) and is checked by the experiment schema (config.resolve)
-- before anything runs.  Trials run as child processes of the nnrun
-- executable, each in a run directory of the sweep directory:
--
--   <out>/sweep.yaml           the resolved sweep (base experiment inlined)
--   <out>/trial-0001/          experiment.yaml, log.txt, and the run files
--   <out>/trials.jsonl         one line per finished trial, appended
--   <out>/best.yaml            the best trial's experiment (nnrun best.yaml)
--
-- The schema, expansion, ranking and sharding below build no runtime objects
-- and start no process (tests/spec/sweep_spec.lua); M.run does the rest.
local nn = require "nnrun"
local config = require "nnrun.config"
local halving = require "nnrun.halving"
local json = require "nnrun.json"
local schema = require "nnrun.schema"
local util = require "nnrun.util"

local M = {}

local TOP_KEYS = { "name", "experiment", "base", "metric", "mode", "set", "grid", "random",
  "halving" }
local RANDOM_KEYS = { "trials", "seed", "params" }
local DISTRIBUTIONS = { "uniform", "log_uniform", "int_uniform", "choice" }
-- Keys of summary.json (or of the last metrics.jsonl line) a sweep can rank by.
M.METRICS = { "val_accuracy", "val_loss", "train_loss", "test_accuracy", "test_loss",
  "test_top5_accuracy", "test_macro_f1", "test_mse", "test_mae", "test_r2", "lr", "epochs",
  "wall_seconds", "samples_per_second" }
M.MAX_TRIALS = 100000
-- Statuses of summary.json that count as a finished trial.
local DONE = { completed = true, stopped_early = true }

local NULL = nn.yaml and nn.yaml.null

-- ---- schema -----------------------------------------------------------------

-- Whether name can be the sweep's directory in sweeps/: not "." or ".."
-- (which would be sweeps/ itself or the current directory), no "/".
function M.valid_name(name)
  return type(name) == "string" and name:match("^[^/]+$") ~= nil and name ~= "." and name ~= ".."
end

-- The one schema engine (nnrun.schema): the sweep's keys, types and
-- located problems are checked as the experiment's are.
local join, contains, is_list, is_mapping = schema.join, schema.contains, schema.is_list,
  schema.is_mapping
local fail, check_keys, describe = schema.fail, schema.check_keys, schema.describe

local function is_scalar(v)
  local t = type(v)
  return t == "number" or t == "string" or t == "boolean"
end

local function finite(v)
  return type(v) == "number" and v == v and v ~= math.huge and v ~= -math.huge
end

-- The keys of mapping t in the order they are written (by pos(key) ->
-- line, col, when known), else sorted.
local function ordered_keys(t, pos)
  local keys = util.sorted_keys(t)
  local at = {}
  for i, k in ipairs(keys) do
    local line, col = pos(k)
    at[k] = { line or math.huge, col or 0, i }
  end
  table.sort(keys, function(a, b)
    local x, y = at[a], at[b]
    if x[1] ~= y[1] then return x[1] < y[1] end
    if x[2] ~= y[2] then return x[2] < y[2] end
    return x[3] < y[3]
  end)
  return keys
end

-- A key path of the experiment (grid., set. or random.params. key): its
-- canonical form, or nil after an error; seen: canonical -> where.
local function param_path(c, key, where, seen)
  local p, err = config.canonical_path(key)
  if not p then
    fail(c, where, "%s", err)
    return nil
  end
  if seen[p] then
    fail(c, where, "the same key as %s", seen[p])
    return nil
  end
  seen[p] = where
  return p
end

local function check_range(c, name, v, path)
  if not (is_list(v) and #v == 2 and finite(v[1]) and finite(v[2])) then
    fail(c, path, "expected [low, high] (two numbers), got %s", describe(v))
    return nil
  end
  local lo, hi = v[1], v[2]
  if name == "int_uniform" and not (math.tointeger(lo) and math.tointeger(hi)) then
    fail(c, path, "expected two integers, got [%s, %s]", lo, hi)
    return nil
  end
  if lo > hi then
    fail(c, path, "low must be <= high, got [%s, %s]", lo, hi)
    return nil
  end
  if name == "log_uniform" and lo <= 0 then
    fail(c, path, "bounds must be > 0, got [%s, %s]", lo, hi)
    return nil
  end
  if name == "int_uniform" then
    return { math.tointeger(lo), math.tointeger(hi) }
  end
  return { lo + 0.0, hi + 0.0 }
end

local function check_values(c, v, path, what)
  if not is_list(v) then
    fail(c, path, "expected a list of %s, got %s", what, describe(v))
    return nil
  end
  local ok = true
  for i, x in ipairs(v) do
    if not is_scalar(x) then
      fail(c, path .. "[" .. i .. "]", "expected a number, string or boolean, got %s",
        describe(x))
      ok = false
    end
  end
  return ok and v or nil
end

local function resolve_distribution(c, d, path)
  if not is_mapping(d) or next(d) == nil then
    fail(c, path, "expected a mapping such as { uniform: [0, 1] }, got %s", describe(d))
    return nil
  end
  check_keys(c, d, path, DISTRIBUTIONS)
  local names = {}
  for _, n in ipairs(DISTRIBUTIONS) do
    if d[n] ~= nil then
      names[#names + 1] = n
    end
  end
  if #names > 1 then
    fail(c, path, "give one distribution, got %s", table.concat(names, " and "))
    return nil
  elseif #names == 0 then
    return nil -- its unknown key is reported
  end
  local name = names[1]
  local p = join(path, name)
  if name == "choice" then
    local v = check_values(c, d.choice, p, "choices")
    return v and { choice = v }
  end
  local r = check_range(c, name, d[name], p)
  return r and { [name] = r }
end

local function resolve_random(c, r, pos)
  if not is_mapping(r) then
    fail(c, "random", "expected a mapping (trials, seed, params), got %s", describe(r))
    return nil
  end
  check_keys(c, r, "random", RANDOM_KEYS)
  local out = {}
  local t = r.trials
  if t == nil then
    fail(c, "random.trials", "missing (required)")
  elseif math.type(t) ~= "integer" and not (finite(t) and math.tointeger(t)) then
    fail(c, "random.trials", "expected an integer, got %s", describe(t))
  elseif t < 1 or t > M.MAX_TRIALS then
    fail(c, "random.trials", "must be from 1 to %d, got %d", M.MAX_TRIALS, math.tointeger(t))
  else
    out.trials = math.tointeger(t)
  end
  local seed = r.seed == nil and 1 or r.seed
  if math.type(seed) ~= "integer" or seed < 0 then
    fail(c, "random.seed", "expected an integer >= 0, got %s", describe(seed))
  end
  out.seed = seed
  out.params = {}
  if r.params == nil then
    fail(c, "random.params", "missing (required)")
  elseif not is_mapping(r.params) or next(r.params) == nil then
    fail(c, "random.params", "expected a mapping of key paths to distributions, got %s",
      describe(r.params))
  else
    local seen = {}
    for _, k in ipairs(ordered_keys(r.params, function(k) return pos("random.params." .. k) end)) do
      local where = "random.params." .. k
      local p = param_path(c, k, where, seen)
      local d = resolve_distribution(c, r.params[k], where)
      if p and d then
        d.path, d.where = p, where
        out.params[#out.params + 1] = d
      end
    end
  end
  return out
end

-- sweep.resolve(doc [, opts]) -> sweep | nil, errors ({ path =, message = })
-- Checks a sweep document (schema only: the base experiment is checked by
-- M.prepare).  opts.name: the default name; opts.position(path) -> line,
-- col orders grid and random parameters as written (else sorted by path).
-- The sweep: name, experiment (file) or base (table), metric, mode, set
-- ({ path, value }...), grid ({ path, values, where }...), random ({ trials,
-- seed, params = { { path, where, uniform|log_uniform|int_uniform|choice } } }),
-- halving (nnrun.halving.resolve: min_epochs, max_epochs, eta, metric, mode,
-- rungs).
function M.resolve(doc, opts)
  opts = opts or {}
  local pos = opts.position or function() return nil end
  local c = { errors = {} }
  if not is_mapping(doc) then
    fail(c, "", "expected a mapping of sweep settings, got %s", describe(doc))
    return nil, c.errors
  end
  check_keys(c, doc, "", TOP_KEYS)
  local s = { set = {}, grid = {} }
  local name = doc.name
  if name == nil then
    name = opts.name or "sweep"
    if not M.valid_name(name) then
      fail(c, "name", "the file's name gives '%s', which cannot name a directory in sweeps/ "
        .. "(give name:)", name)
    end
  elseif type(name) ~= "string" then
    fail(c, "name", "expected a string, got %s", describe(name))
  elseif not name:match("^[%w_.-]+$") then
    fail(c, "name", "may contain only letters, digits, '_', '-' and '.'")
  elseif not M.valid_name(name) then
    fail(c, "name", "'%s' cannot name a directory in sweeps/ (it would be sweeps/ or its parent)",
      name)
  end
  s.name = name
  if doc.experiment ~= nil and doc.base ~= nil then
    fail(c, "base", "give experiment (a file) or base (a mapping), not both")
  elseif doc.experiment ~= nil then
    if type(doc.experiment) ~= "string" or doc.experiment == "" then
      fail(c, "experiment", "expected a file name, got %s", describe(doc.experiment))
    elseif not contains({ "yaml", "yml", "lua" }, util.extension(doc.experiment)) then
      fail(c, "experiment", "expected a .yaml, .yml or .lua file, got '%s'", doc.experiment)
    else
      s.experiment = doc.experiment
    end
  elseif doc.base ~= nil then
    if not is_mapping(doc.base) then
      fail(c, "base", "expected a mapping of experiment settings, got %s",
        describe(doc.base))
    else
      s.base = doc.base
    end
  else
    fail(c, "experiment", "missing (give experiment: FILE, or base: an experiment mapping)")
  end
  local metric = doc.metric
  if metric == nil then
    fail(c, "metric", "missing (required: %s, ...)", table.concat(M.METRICS, ", ", 1, 4))
  elseif type(metric) ~= "string" then
    fail(c, "metric", "expected a string, got %s", describe(metric))
  elseif not contains(M.METRICS, metric) then
    fail(c, "metric", "unknown metric '%s'%s (expected one of: %s)", metric,
      schema.suggest_value(metric, M.METRICS), table.concat(M.METRICS, ", "))
  else
    s.metric = metric
  end
  local mode = doc.mode
  if mode == nil then
    s.mode = util.higher_is_better(metric) and "max" or "min"
  elseif mode ~= "max" and mode ~= "min" then
    fail(c, "mode", "expected max or min, got %s", describe(mode))
  else
    s.mode = mode
  end
  local seen = {}
  if doc.set ~= nil then
    if not is_mapping(doc.set) then
      fail(c, "set", "expected a mapping of key paths to values, got %s", describe(doc.set))
    else
      for _, k in ipairs(ordered_keys(doc.set, function(k) return pos("set." .. k) end)) do
        local where = "set." .. k
        local p = param_path(c, k, where, seen)
        local v = doc.set[k]
        if p and not is_scalar(v) then
          fail(c, where, "expected a number, string or boolean, got %s", describe(v))
        elseif p then
          s.set[#s.set + 1] = { path = p, value = v, where = where }
        end
      end
    end
  end
  local gseen = {}
  for p, w in pairs(seen) do
    gseen[p] = w
  end
  -- The grid's size, as a float: 63 keys of 2 values make 2^63 trials,
  -- which integers would wrap to a negative count.
  local size = 1.0
  if doc.grid ~= nil then
    if not is_mapping(doc.grid) or next(doc.grid) == nil then
      fail(c, "grid", "expected a mapping of key paths to lists of values, got %s",
        describe(doc.grid))
    else
      for _, k in ipairs(ordered_keys(doc.grid, function(k) return pos("grid." .. k) end)) do
        local where = "grid." .. k
        local p = param_path(c, k, where, gseen)
        local v = check_values(c, doc.grid[k], where, "values")
        if p and v then
          s.grid[#s.grid + 1] = { path = p, values = v, where = where }
          size = size * #v
        end
      end
      if size > M.MAX_TRIALS then
        fail(c, "grid", "%s trials, over the limit of %d", size < 2 ^ 53 and
          string.format("%d", math.tointeger(size)) or string.format("%.3g", size), M.MAX_TRIALS)
      end
    end
  end
  if doc.random ~= nil then
    local rseen = {}
    for p, w in pairs(seen) do
      rseen[p] = w
    end
    local r = resolve_random(c, doc.random, pos)
    if r then
      for _, d in ipairs(r.params) do
        if rseen[d.path] then
          fail(c, d.where, "the same key as %s", rseen[d.path])
        end
      end
      s.random = r
    end
  elseif doc.grid == nil then
    fail(c, "grid", "missing (give grid, random or both)")
  end
  if doc.halving ~= nil then
    s.halving = halving.resolve(c, doc.halving, M.METRICS, s.metric, s.mode)
    -- Halving sets each rung's train.epochs itself.
    local params = {}
    for _, list in ipairs({ s.set, s.grid, s.random and s.random.params or {} }) do
      for _, a in ipairs(list) do
        params[#params + 1] = a
      end
    end
    for _, a in ipairs(params) do
      if a.path == "train.epochs" then
        fail(c, a.where, "halving sets train.epochs (halving.min_epochs to max_epochs)")
      end
    end
  end
  if #c.errors > 0 then
    return nil, c.errors
  end
  return s
end

-- ---- trials -----------------------------------------------------------------

-- A small seeded generator (splitmix64), so that draws depend on the seed
-- only (not on Lua's global math.random).  Returns next() -> [0, 1).
function M.rng(seed)
  local state = seed
  return function()
    state = state + 0x9E3779B97F4A7C15
    local z = state
    z = (z ~ (z >> 30)) * 0xBF58476D1CE4E5B9
    z = (z ~ (z >> 27)) * 0x94D049BB133111EB
    z = z ~ (z >> 31)
    return (z >> 11) * 2.0 ^ -53
  end
end

local function draw(d, u)
  if d.uniform then
    local lo, hi = d.uniform[1], d.uniform[2]
    return lo + u * (hi - lo)
  elseif d.log_uniform then
    local lo, hi = math.log(d.log_uniform[1]), math.log(d.log_uniform[2])
    return math.exp(lo + u * (hi - lo))
  elseif d.int_uniform then
    local lo, hi = d.int_uniform[1], d.int_uniform[2]
    return math.min(hi, lo + math.floor(u * (hi - lo + 1)))
  end
  return d.choice[math.min(#d.choice, 1 + math.floor(u * #d.choice))]
end

-- sweep.expand(sweep) -> trials: { id =, params = { { path, value, where } } }
-- The grid's cartesian product first (its first key varies slowest), then
-- the random trials: one draw per parameter, in order, from one stream
-- seeded by random.seed (so more trials keep the first ones as they were).
local function grid_trial(s, idx, id)
  local params = {}
  for i, g in ipairs(s.grid) do
    params[i] = { path = g.path, value = g.values[idx[i]], where = g.where .. "[" .. idx[i] .. "]" }
  end
  return { id = id, params = params }
end

function M.expand(s)
  local trials = {}
  if #s.grid > 0 then
    local idx = {}
    for i = 1, #s.grid do
      idx[i] = 1
    end
    while true do
      trials[#trials + 1] = grid_trial(s, idx, #trials + 1)
      local i = #s.grid
      while i >= 1 and idx[i] == #s.grid[i].values do
        idx[i] = 1
        i = i - 1
      end
      if i < 1 then
        break
      end
      idx[i] = idx[i] + 1
    end
  end
  if s.random then
    local next_u = M.rng(s.random.seed)
    for _ = 1, s.random.trials do
      local params = {}
      for i, d in ipairs(s.random.params) do
        params[i] = { path = d.path, value = draw(d, next_u()), where = d.where }
      end
      trials[#trials + 1] = { id = #trials + 1, params = params }
    end
  end
  return trials
end

-- sweep.probes(sweep) -> trials: the grid trials that give one key a value
-- and every other key its first: for each key, its smallest and largest
-- integer, its smallest and largest other finite number, and each of its
-- other values (strings, booleans, nan, inf) once.  The schema's checks of a
-- number are ranges, so these find a bad value of any grid in a few
-- resolves (a grid of 100,000 values has about 100,000 trials to resolve).
function M.probes(s)
  local out, seen = {}, {}
  local stride = 1
  for k = #s.grid, 1, -1 do
    local values = s.grid[k].values
    local pick, lo, hi, other = {}, {}, {}, {}
    for j, v in ipairs(values) do
      local class = math.type(v) == "integer" and "integer"
        or (math.type(v) == "float" and v == v and v ~= math.huge and v ~= -math.huge and "float")
      if class then
        if not lo[class] or v < values[lo[class]] then lo[class] = j end
        if not hi[class] or v > values[hi[class]] then hi[class] = j end
      else
        local key = v ~= v and "nan" or (type(v) .. ":" .. tostring(v))
        if not other[key] then
          other[key] = true
          pick[#pick + 1] = j
        end
      end
    end
    for _, class in ipairs({ "integer", "float" }) do
      pick[#pick + 1] = lo[class]
      pick[#pick + 1] = hi[class]
    end
    for _, j in ipairs(pick) do
      local id = 1 + (j - 1) * stride
      if not seen[id] then
        seen[id] = true
        local idx = {}
        for i = 1, #s.grid do
          idx[i] = i == k and j or 1
        end
        out[#out + 1] = grid_trial(s, idx, id)
      end
    end
    stride = stride * #values
  end
  table.sort(out, function(a, b) return a.id < b.id end)
  return out
end

-- The experiment path p lies within q, or q within p.
local function related(p, q)
  local function within(a, b)
    local head = a:sub(1, #b + 1)
    return a == b or head == b .. "." or head == b .. "["
  end
  return within(p, q) or within(q, p)
end

-- sweep.prepare(sweep, base, trials [, opts]) -> experiments | nil, errors
-- Applies set and each trial's parameters to a copy of the base experiment
-- (config.set) and resolves it (config.resolve).  experiments[id]: the
-- resolved experiment of trial id, named <sweep>-<id>.  errors: { path =
-- (of the sweep file), message = "trial N: key.path: problem" }, one per
-- distinct problem (the first trial that has it).
function M.prepare(s, base, trials)
  local out, errs, said = {}, {}, {}
  for _, t in ipairs(trials) do
    local exp = util.copy(base)
    local applied = {}
    for _, a in ipairs(s.set) do
      applied[#applied + 1] = a
    end
    for _, a in ipairs(t.params) do
      applied[#applied + 1] = a
    end
    local problems = {}
    for _, a in ipairs(applied) do
      local ok, err = config.set(exp, a.path, a.value)
      if not ok then
        problems[#problems + 1] = { where = a.where, text = a.path .. ": " .. err }
      end
    end
    config.set(exp, "name", string.format("%s-%04d", s.name, t.id))
    if #problems == 0 then
      local r, rerrs = config.resolve(exp, { file = s.experiment_file })
      if r then
        out[t.id] = r
      end
      for _, e in ipairs(rerrs or {}) do
        local where = applied[#applied] and applied[#applied].where or ""
        for i = #applied, 1, -1 do
          if related(e.path, applied[i].path) then
            where = applied[i].where
            break
          end
        end
        problems[#problems + 1] = { where = where, text = config.format_error(e) }
      end
    end
    for _, p in ipairs(problems) do
      local key = p.where .. "\0" .. p.text
      if not said[key] then
        said[key] = true
        errs[#errs + 1] = { path = p.where, message = string.format("trial %d: %s", t.id, p.text) }
      end
    end
  end
  if #errs > 0 then
    return nil, errs
  end
  return out
end

-- sweep.check(sweep, base) -> trials, experiments | nil, nil, errors
-- The trials (M.expand) and their resolved experiments (M.prepare); the
-- probes (M.probes) first, so that a bad value is refused before the rest
-- of a large grid is expanded and resolved.
function M.check(s, base)
  local probes = M.probes(s)
  local known, errs = M.prepare(s, base, probes)
  if not known then
    return nil, nil, errs
  end
  local trials, rest = M.expand(s), {}
  for _, t in ipairs(trials) do
    if not known[t.id] then
      rest[#rest + 1] = t
    end
  end
  local exps
  exps, errs = M.prepare(s, base, rest)
  if not exps then
    return nil, nil, errs
  end
  for id, r in pairs(known) do
    exps[id] = r
  end
  return trials, exps
end

-- ---- shards, results and ranking -------------------------------------------------

-- sweep.parse_shard(text [, env]) -> i, n | nil, message
-- "i/n" with 1 <= i <= n, or "slurm": the task of a Slurm job array, from
-- SLURM_ARRAY_TASK_ID, _MIN and _COUNT (any first index).  env(name) reads
-- the environment (default os.getenv).
function M.parse_shard(text, env)
  env = env or os.getenv
  if text == "slurm" then
    local id = math.tointeger(tonumber(env("SLURM_ARRAY_TASK_ID") or ""))
    local min = math.tointeger(tonumber(env("SLURM_ARRAY_TASK_MIN") or ""))
    local count = math.tointeger(tonumber(env("SLURM_ARRAY_TASK_COUNT") or ""))
    if not (id and min and count) then
      return nil, "option --shard slurm needs SLURM_ARRAY_TASK_ID, SLURM_ARRAY_TASK_MIN and "
        .. "SLURM_ARRAY_TASK_COUNT (run it in a Slurm job array)"
    end
    text = string.format("%d/%d", id - min + 1, count)
  end
  local i, n = text:match("^(%d+)/(%d+)$")
  i, n = math.tointeger(tonumber(i)), math.tointeger(tonumber(n))
  if not (i and n and n >= 1 and i >= 1 and i <= n) then
    return nil, string.format("option --shard needs i/n with 1 <= i <= n (or slurm), got '%s'",
      text)
  end
  return i, n
end

-- Whether trial id belongs to shard i of n.
function M.in_shard(id, i, n)
  return (id - 1) % n == i - 1
end

-- sweep.read_lines(text) -> the lines of trials.jsonl in order, as tables
-- (a line that does not read, e.g. torn by a crash, is skipped).
function M.read_lines(text)
  local out = {}
  for line in (text or ""):gmatch("[^\n]+") do
    local ok, t = pcall(nn.yaml.parse, line)
    if ok and type(t) == "table" and math.type(t.id) == "integer" then
      if t.metric == NULL then
        t.metric = nil
      end
      out[#out + 1] = t
    end
  end
  return out
end

-- sweep.read_trials(text) -> { [id] = line } of trials.jsonl: the last
-- result of each trial (a later line of an id wins; a halving sweep's
-- promotion lines are no results).
function M.read_trials(text)
  local out = {}
  for _, t in ipairs(M.read_lines(text)) do
    if t.status ~= "promoted" then
      out[t.id] = t
    end
  end
  return out
end

-- sweep.rank(results, mode) -> list of results, best first; each gets rank
-- (nil for the unranked: not completed, or without the metric).  The
-- results of a halving sweep rank by rung first: the best trial is the
-- best of the highest rung reached.
function M.rank(results, mode)
  local list = {}
  for _, t in pairs(results) do
    list[#list + 1] = t
  end
  table.sort(list, halving.before(mode))
  for i, t in ipairs(list) do
    t.rank = halving.ranked(t) and i or nil
  end
  return list
end

local function fmt_value(v)
  if math.type(v) == "float" then
    return string.format("%.6g", v)
  end
  return tostring(v)
end

-- "optimizer.lr=0.05 train.batch_size=16", in the order of params.
function M.params_text(params, order)
  local parts = {}
  for _, p in ipairs(order) do
    if params[p] ~= nil then
      parts[#parts + 1] = p .. "=" .. fmt_value(params[p])
    end
  end
  return table.concat(parts, " ")
end

-- The order of the parameter paths of a sweep (set first, then grid, random).
function M.param_order(s)
  local order, seen = {}, {}
  local function add(p)
    if not seen[p] then
      seen[p] = true
      order[#order + 1] = p
    end
  end
  for _, g in ipairs(s.grid) do
    add(g.path)
  end
  for _, d in ipairs(s.random and s.random.params or {}) do
    add(d.path)
  end
  return order
end

-- sweep.table(ranked, sweep) -> the ranked table as text.
-- A halving sweep's table has the epochs of each trial's last rung.
function M.table(list, s)
  local order = M.param_order(s)
  local rows = { { "rank", "trial", s.metric, "status", "parameters" } }
  if s.halving then
    table.insert(rows[1], 3, "epochs")
  end
  for _, t in ipairs(list) do
    local row = { t.rank and tostring(t.rank) or "-", string.format("%04d", t.id),
      type(t.metric) == "number" and string.format("%.6g", t.metric) or "-", t.status,
      M.params_text(t.parameters or {}, order) }
    if s.halving then
      table.insert(row, 3, tostring(t.epochs or "-"))
    end
    rows[#rows + 1] = row
  end
  local width = {}
  for _, r in ipairs(rows) do
    for i = 1, #r - 1 do
      width[i] = math.max(width[i] or 0, #r[i])
    end
  end
  local lines = {}
  for _, r in ipairs(rows) do
    local cells = {}
    for i = 1, #r - 1 do
      -- the status column (second to last) is left-aligned
      cells[i] = string.format("%" .. (i == #r - 1 and "-" or "") .. width[i] .. "s", r[i])
    end
    cells[#r] = r[#r]
    lines[#lines + 1] = table.concat(cells, "  "):gsub("%s+$", "")
  end
  return table.concat(lines, "\n") .. "\n"
end

-- The figure of a finished trial: summary.json's metric, else the last
-- metrics.jsonl line's; its status ("failed" without a summary); and the
-- summary's error (why a run failed), if any.
function M.trial_result(dir, metric)
  local summary
  local f = io.open(dir .. "/summary.json", "r")
  if f then
    local ok, t = pcall(nn.yaml.parse, f:read("a"))
    f:close()
    summary = ok and type(t) == "table" and t or nil
  end
  if not summary then
    return "failed", nil
  end
  local v = summary[metric]
  if type(v) ~= "number" then
    v = nil
    local m = io.open(dir .. "/metrics.jsonl", "r")
    local last
    for line in m and m:lines() or function() end do
      last = line
    end
    if m then
      m:close()
    end
    local ok, t = pcall(nn.yaml.parse, last or "")
    if ok and type(t) == "table" and type(t[metric]) == "number" then
      v = t[metric]
    end
  end
  return type(summary.status) == "string" and summary.status or "failed", v,
    type(summary.error) == "string" and summary.error or nil
end

-- Why a trial did not finish, in one line: its summary's error, else the
-- first "nnrun: " line of its log (a refused experiment, say), else its
-- last line, else how the process ended.
function M.failure_reason(dir, how, code, summary_error)
  if summary_error then
    return summary_error
  end
  local first, last
  local f = io.open(dir .. "/log.txt", "r")
  for line in f and f:lines() or function() end do
    first = first or line:match("^nnrun: (.*%S)")
    last = line:match("%S") and line or last
  end
  if f then
    f:close()
  end
  if first or last then
    return first or last
  end
  return how == "exit" and string.format("exit status %d", code) or ("killed by SIG" .. code)
end

-- ---- running -----------------------------------------------------------------

local function usage_error(fmt, ...)
  error({ exit = 2, message = string.format(fmt, ...) }, 0)
end

local function io_error(fmt, ...)
  error({ exit = 1, message = string.format(fmt, ...) }, 0)
end

local function read_file(path)
  local f = io.open(path, "r")
  if not f then
    return nil
  end
  local s = f:read("a")
  f:close()
  return s
end

-- Prints config errors (already formatted) and raises exit status 2.
local function config_errors(lines)
  local keyed = {}
  for i, l in ipairs(lines) do
    local line, col = l:match("^[^\n]-:(%d+):(%d+): ")
    keyed[i] = { text = l, line = tonumber(line) or 0, col = tonumber(col) or 0, i = i }
  end
  table.sort(keyed, function(a, b)
    if a.line ~= b.line then return a.line < b.line end
    if a.col ~= b.col then return a.col < b.col end
    return a.i < b.i
  end)
  for i, k in ipairs(keyed) do
    lines[i] = k.text
  end
  -- All but the last line are printed by whoever reports the error (under
  -- MPI, rank 0 alone): error.before.
  error({ exit = 2, message = lines[#lines], before = { table.unpack(lines, 1, #lines - 1) } }, 0)
end

-- Loads and checks a sweep file and its base experiment: the sweep, its
-- trials and their resolved experiments, the resolved base.  Raises exit
-- status 2 with every problem (file:line:col: key.path: message).
function M.load(file)
  local ok, doc, positions = pcall(nn.yaml.load, file)
  if not ok then
    usage_error("%s", tostring(doc):match("^[^\n]*"))
  end
  positions = positions or {}
  if doc == NULL and positions[""] == nil then
    usage_error("%s: empty file (expected a mapping of sweep settings)", file)
  end
  local locate = config.locator(file, positions)
  local function position(path)
    local p = positions[path .. "#key"] or positions[path]
    if p then
      return p.line, p.col
    end
  end
  local function fmt(errs, prefix, loc)
    local lines = {}
    for i, e in ipairs(errs) do
      local path = prefix and (e.path == "" and prefix or (prefix .. "." .. e.path)) or e.path
      lines[i] = config.format_error({ path = path, message = e.message },
        { source = file, locate = loc or locate })
    end
    return lines
  end
  local s, errs = M.resolve(doc, { name = util.stem(file), position = position })
  if not s then
    config_errors(fmt(errs))
  end
  local base, base_lines
  if s.experiment then
    local path = s.experiment
    if path:sub(1, 1) ~= "/" then
      path = (file:match("^(.*/)") or "") .. path
    end
    local f = io.open(path, "r")
    if not f then
      local _, err = io.open(path, "r")
      config_errors(fmt({ { path = "experiment", message = "cannot open " .. tostring(err) } }))
    end
    f:close()
    -- a Lua base runs in the sandbox, always (nnrun.sandbox): its table comes back as data
    local lok, edoc, elocate = pcall(util.extension(path) == "lua"
      and require("nnrun.sandbox").experiment or config.load, path)
    if not lok then
      usage_error("%s", tostring(edoc):match("^[^\n]*"))
    end
    base = edoc
    s.experiment_file = path -- its data paths are relative to it
    local r, rerrs = config.resolve(base, { name = util.stem(path), file = path })
    if not r then
      base_lines = {}
      for i, e in ipairs(rerrs) do
        base_lines[i] = config.format_error(e, { source = path, locate = elocate })
      end
    end
    s.resolved_base = r
  else
    base = s.base
    s.experiment_file = file
    local r, rerrs = config.resolve(base, { name = s.name, file = file })
    if not r then
      base_lines = fmt(rerrs, "base")
    end
    s.resolved_base = r
  end
  if base_lines then
    config_errors(base_lines)
  end
  if s.halving then
    -- Every trial is resolved as it runs at the last rung: the schedule's
    -- length (schedule.total, which follows train.epochs) is that of
    -- max_epochs at every rung, so a trial promoted to a rung has the
    -- figures of a trial trained for that many epochs at once.
    base = util.copy(base)
    config.set(base, "train.epochs", s.halving.max_epochs)
  end
  local trials, exps, perrs = M.check(s, base)
  if not trials then
    config_errors(fmt(perrs))
  end
  for _, m in ipairs({ { s.metric, "metric" }, { s.halving and s.halving.metric, "halving.metric" } }) do
    if m[1] and m[1]:match("^val_") then
      for _, t in ipairs(trials) do
        if exps[t.id].train.validation_split == 0 then
          config_errors(fmt({ { path = m[2], message = string.format("%s needs a validation "
            .. "set, and trial %d has train.validation_split 0", m[1], t.id) } }))
        end
      end
    end
  end
  for _, t in ipairs(s.halving and trials or {}) do
    local sc = exps[t.id].schedule
    if type(sc) == "table" and sc.per_batch and sc.total == nil
        and (sc.name == "cosine" or sc.name == "one_cycle") then
      config_errors(fmt({ { path = "halving", message = string.format("trial %d: a per-batch %s "
        .. "schedule needs schedule.total under halving (its length would change with each "
        .. "rung's epochs)", t.id, sc.name) } }))
    end
  end
  return s, trials, exps
end

-- The resolved sweep as a document for sweep.yaml (the base inlined).
local function resolved_doc(s)
  local doc = { name = s.name, metric = s.metric, mode = s.mode, base = s.resolved_base }
  local order = { "name", "metric", "mode", "halving", "min_epochs", "max_epochs", "eta", "set",
    "grid", "random", "trials", "seed", "params" }
  if s.halving then
    local h = s.halving
    doc.halving = { min_epochs = h.min_epochs, max_epochs = h.max_epochs, eta = h.eta,
      metric = h.metric, mode = h.mode }
    order[#order + 1] = "metric"
    order[#order + 1] = "mode"
  end
  if #s.set > 0 then
    doc.set = {}
    for _, a in ipairs(s.set) do
      doc.set[a.path] = a.value
      order[#order + 1] = a.path
    end
  end
  if #s.grid > 0 then
    doc.grid = {}
    for _, g in ipairs(s.grid) do
      doc.grid[g.path] = g.values
      order[#order + 1] = g.path
    end
  end
  if s.random then
    local params = {}
    for _, d in ipairs(s.random.params) do
      params[d.path] = { uniform = d.uniform, log_uniform = d.log_uniform,
        int_uniform = d.int_uniform, choice = d.choice }
      order[#order + 1] = d.path
    end
    doc.random = { trials = s.random.trials, seed = s.random.seed, params = params }
  end
  order[#order + 1] = "base"
  local once, seen = {}, {}
  for _, k in ipairs(order) do
    if not seen[k] then
      seen[k] = true
      once[#once + 1] = k
    end
  end
  local ok, text = pcall(nn.yaml.dump, doc, { key_order = once })
  if not ok then
    return json.encode(doc, { indent = "  " }) .. "\n"
  end
  return text
end

-- Appends one line to path in one write (O_APPEND), so that concurrent
-- shards on one file system do not interleave lines.
local function append_line(path, line)
  local f, err = io.open(path, "a")
  if not f then
    io_error("%s", err)
  end
  f:setvbuf("full", #line + 2)
  local ok, werr = f:write(line, "\n")
  local cok, cerr = f:close()
  if not ok or not cok then
    io_error("%s: %s", path, tostring(werr or cerr))
  end
end

local function trial_dir(out, id)
  return string.format("%s/trial-%04d", out, id)
end

-- Stops the running trials: SIGTERM, then SIGKILL after a few seconds.
local function stop_children(running)
  for pid in pairs(running) do
    nn.kill(pid, "TERM")
  end
  local deadline = nn.now() + 5
  while next(running) do
    local pid, how = nn.wait(math.max(0, deadline - nn.now()))
    if pid then
      running[pid] = nil
    elseif how == "timeout" then
      for p in pairs(running) do
        nn.kill(p, "KILL")
      end
      deadline = nn.now() + 5
    elseif how == "none" then
      break
    end
  end
end

-- How many trials at once and threads each: --jobs and --threads as given;
-- by default one single-threaded trial per CPU.
function M.plan(cpus, jobs, threads, pending)
  if not jobs and not threads then
    jobs, threads = cpus, 1
  elseif not jobs then
    jobs = math.max(1, cpus // threads)
  elseif not threads then
    threads = math.max(1, cpus // jobs)
  end
  return math.max(1, math.min(jobs, pending)), threads
end

-- ---- the sweep's run: local processes and MPI ranks -------------------------
--
-- A job is one run of a trial: { id } of a plain sweep, { id, rung, epochs,
-- from } of a halving sweep (from: the rung a promotion leaves; the trial
-- then continues from its checkpoint with more epochs).  One scheduler
-- hands jobs out and takes their results, in one process: rank 0 under
-- MPI, where every rank (rank 0 too) runs the jobs it is handed as child
-- processes, as `nnrun sweep` does on one machine.

-- Messages between ranks (JSON text; tags of nnrun.mpi.send).
local TAG_SETUP, TAG_ASK, TAG_JOBS = 1, 2, 3

-- A JSON message or trials.jsonl line read back (null -> nil).
local function decode(text)
  local t = nn.yaml.parse(text)
  local function clean(v)
    if v == NULL then
      return nil
    elseif type(v) == "table" then
      for k, x in pairs(v) do
        v[k] = clean(x)
      end
    end
    return v
  end
  return clean(t)
end

-- The experiment a job runs: its trial's, for a halving job with the
-- rung's epochs.
local function job_experiment(ctx, job)
  local r = ctx.exps[job.id]
  if job.epochs then
    r = util.copy(r)
    r.train.epochs = job.epochs
  end
  return r
end

local function params_of(t)
  local params = {}
  for _, p in ipairs(t.params) do
    params[p.path] = p.value
  end
  return params
end

-- The sweep of o loaded (every rank) and its directory made ready (writer:
-- rank 0 alone).  Raises usage errors (exit status 2) and I/O errors (1).
local function setup(o, writer)
  if not o.file then
    usage_error("sweep: no FILE given (see nnrun --help)")
  end
  local ext = util.extension(o.file)
  if ext ~= "yaml" and ext ~= "yml" then
    usage_error("%s: a sweep is a .yaml or .yml file", o.file)
  end
  local shard_i, shard_n = 1, 1
  if o.shard then
    local i, n = M.parse_shard(o.shard)
    if not i then
      usage_error("%s", n)
    end
    shard_i, shard_n = i, n
  end
  local s, trials, exps = M.load(o.file)
  local ctx = { s = s, trials = trials, exps = exps, shard_i = shard_i, shard_n = shard_n,
    out = o.resume_dir or o.out or ("sweeps/" .. s.name), byid = {} }
  for _, t in ipairs(trials) do
    ctx.byid[t.id] = t
  end
  ctx.trials_path = ctx.out .. "/trials.jsonl"
  if not writer then
    return ctx
  end
  local out = ctx.out
  local text = resolved_doc(s)
  local old = read_file(out .. "/sweep.yaml")
  if old and old ~= text then
    usage_error("%s holds another sweep (its sweep.yaml differs); give another --out", out)
  elseif o.resume and not old then
    usage_error("--resume: %s holds no sweep to resume", out)
  end
  local ok, err = util.mkdir_p(nn.mkdir, out)
  if not ok then
    io_error("cannot create the sweep directory %s (%s)", out, err)
  end
  if not old then
    ok, err = util.write_file(out .. "/sweep.yaml", text)
    if not ok then
      io_error("%s", err)
    end
  end
  return ctx
end

-- The scheduler of this shard's trials (rank 0): sched.next() -> job | nil
-- (nil: nothing to start now), sched.done(result), sched.finished(),
-- sched.todo (jobs known to be left, for the progress line) and
-- sched.ndone (trials with a result already).  A halving sweep's state is
-- read back from trials.jsonl; a promotion handed out is recorded at once.
local function scheduler(ctx, promote)
  local s = ctx.s
  local lines = M.read_lines(read_file(ctx.trials_path))
  local mine = {}
  for _, t in ipairs(ctx.trials) do
    if M.in_shard(t.id, ctx.shard_i, ctx.shard_n) then
      mine[#mine + 1] = t.id
    end
  end
  local sched = { ndone = 0 }
  if s.halving then
    local st = halving.new(s.halving, mine)
    local inshard, seen = {}, {}
    -- figures["id@rung"]: the result's metric and halving metric (hmetric)
    local figures = {}
    local function keep(id, rung, metric, hmetric)
      figures[id .. "@" .. tostring(rung)] = { metric = metric, hmetric = hmetric }
    end
    for _, id in ipairs(mine) do
      inshard[id] = true
    end
    for _, l in ipairs(lines) do
      if inshard[l.id] then
        local hmetric = s.halving.metric == s.metric and l.metric or l.halving_metric
        if l.status ~= "promoted" then
          keep(l.id, l.rung, l.metric, hmetric)
        end
        halving.record(st, { id = l.id, rung = l.rung, status = l.status, metric = hmetric })
        if not seen[l.id] then
          seen[l.id] = true
          sched.ndone = sched.ndone + 1
        end
      end
    end
    sched.todo = #mine - sched.ndone + #st.redo
    function sched.next()
      local job = halving.next(st)
      if job and job.from and not job.again then
        promote(job, figures[job.id .. "@" .. job.from] or {})
      end
      return job
    end
    function sched.done(r)
      keep(r.id, r.rung, r.metric, r.hmetric)
      halving.done(st, r.id, r.rung, r.status, r.hmetric)
    end
    function sched.finished()
      return halving.finished(st)
    end
    return sched
  end
  local done = {}
  for _, l in ipairs(lines) do
    done[l.id] = true
  end
  local pending = {}
  for _, id in ipairs(mine) do
    if done[id] then
      sched.ndone = sched.ndone + 1
    else
      pending[#pending + 1] = id
    end
  end
  sched.todo = #pending
  local next_i, running = 1, 0
  function sched.next()
    local id = pending[next_i]
    if id then
      next_i, running = next_i + 1, running + 1
      return { id = id }
    end
  end
  function sched.done()
    running = running - 1
  end
  function sched.finished()
    return next_i > #pending and running == 0
  end
  return sched
end

-- The jobs of one rank as child processes of exe, threads each:
-- L.start(job); L.reap([timeout]) -> result | nil, "signal", name | nil
-- (timeout or no child); L.n (running); L.stop().  A result: { id, rung,
-- epochs, from, trial, status, metric, hmetric (the halving metric),
-- reason (why it failed), seconds }.
local function launcher(ctx, exe, threads)
  local s = ctx.s
  local L = { n = 0 }
  local running = {}
  function L.start(job)
    local dir = trial_dir(ctx.out, job.id)
    local mok, merr = nn.mkdir(dir)
    if not mok then
      io_error("cannot create %s", merr)
    end
    os.remove(dir .. "/summary.json")
    local text = require("nnrun.record").config_text(job_experiment(ctx, job))
    -- A trial left unfinished (an interrupted sweep: its trials stop at a
    -- batch and keep their last checkpoint) continues from that checkpoint
    -- when it is the same experiment; resuming is exact, so its figures are
    -- those of an uninterrupted trial.  Otherwise it runs from scratch.  A
    -- promotion always continues the trial's checkpoint, with more epochs.
    local resume = job.from ~= nil
    local f = io.open(dir .. "/experiment.yaml", "rb")
    if f then
      resume = resume or f:read("a") == text
      f:close()
      local ck = io.open(dir .. "/model.nnrun", "rb")
      resume = resume and ck ~= nil
      if ck then
        ck:close()
      end
    end
    if job.from and not resume then
      io_error("%s: no checkpoint to promote trial %04d from", dir, job.id)
    end
    local wok, werr = util.write_file(dir .. "/experiment.yaml", text)
    if not wok then
      io_error("%s", werr)
    end
    local argv = { exe, dir .. "/experiment.yaml", resume and "--resume" or "--out", dir,
      "--quiet", "--threads", tostring(threads) }
    if not resume then
      argv[#argv + 1] = "--force" -- a trial run from scratch replaces what its directory holds
    end
    local pid, serr = nn.spawn(argv, dir .. "/log.txt")
    if not pid then
      io_error("%s", serr)
    end
    running[pid] = { job = job, start = nn.now(), dir = dir }
    L.n = L.n + 1
  end
  local function collect(run, how, code)
    local job = run.job
    local status, metric, why = M.trial_result(run.dir, s.metric)
    if how ~= "exit" then
      status = "failed"
    elseif code ~= 0 and DONE[status] then
      status = "failed"
    end
    local r = { id = job.id, rung = job.rung, epochs = job.epochs, from = job.from,
      trial = util.basename(run.dir), status = status, seconds = nn.now() - run.start }
    if DONE[status] then
      -- (the figures of a run that did not finish rank nothing)
      r.metric = metric
      r.hmetric = metric
      if s.halving and s.halving.metric ~= s.metric then
        local _, hm = M.trial_result(run.dir, s.halving.metric)
        r.hmetric = hm
      end
    else
      r.reason = M.failure_reason(run.dir, how, code, why)
    end
    return r
  end
  function L.reap(timeout)
    local pid, how, code = nn.wait(timeout)
    if how == "signal" and not pid then
      return nil, "signal", code
    end
    local run = pid and running[pid]
    if run then
      running[pid] = nil
      L.n = L.n - 1
      return collect(run, how, code)
    end
    return nil
  end
  function L.stop()
    stop_children(running)
    L.n = 0
  end
  return L
end

-- The writer of trials.jsonl and of the progress lines (rank 0):
-- rec.result(result), rec.promotion(job, metric).
local function recorder(ctx, say)
  local s = ctx.s
  local order = M.param_order(s)
  local rec = { finished = 0 }
  local told -- the first failure was reported on stderr
  local function params(id)
    return params_of(ctx.byid[id])
  end
  function rec.result(r)
    if not DONE[r.status] and not told then
      told = true
      local dir = trial_dir(ctx.out, r.id)
      io.stderr:write(string.format("nnrun: trial %04d %s: %s (see %s/log.txt)\n", r.id, r.status,
        r.reason or "?", dir))
      io.stderr:flush()
    end
    local p = params(r.id)
    -- (NaN is written as null: "no figure", and reads back as nil.)
    local line = { id = r.id, trial = r.trial, parameters = p, status = r.status,
      metric = r.metric or 0 / 0, seconds = r.seconds }
    local keys = { "id", "trial", "parameters", "status", "metric", "seconds" }
    if s.halving then
      line.rung, line.epochs, line.promoted_from = r.rung, r.epochs, r.from
      keys = { "id", "trial", "rung", "epochs", "parameters", "status", "metric",
        "halving_metric", "promoted_from", "seconds" }
      if s.halving.metric ~= s.metric then
        line.halving_metric = r.hmetric or 0 / 0
      end
    end
    append_line(ctx.trials_path, json.encode(line, { order = keys }))
    rec.finished = rec.finished + 1
    local figure = type(r.metric) == "number" and string.format("%.6g", r.metric) or "-"
    if s.halving then
      say("[%d] trial %04d rung %d (%d epoch%s) %s %s %s in %.1f s  %s", rec.finished, r.id,
        r.rung, r.epochs, r.epochs == 1 and "" or "s", r.status, s.metric, figure, r.seconds,
        M.params_text(p, order))
    else
      say("[%d/%d] trial %04d %s %s %s in %.1f s  %s", rec.finished, ctx.todo, r.id, r.status,
        s.metric, figure, r.seconds, M.params_text(p, order))
    end
  end
  -- fig: the figures of the result promoted ({ metric, hmetric }).
  function rec.promotion(job, fig)
    local h = s.halving
    local line = { id = job.id, trial = util.basename(trial_dir(ctx.out, job.id)), rung = job.from,
      epochs = h.rungs[job.from + 1], parameters = params(job.id), status = "promoted",
      metric = fig.metric or 0 / 0, promoted_to = job.rung }
    if h.metric ~= s.metric then
      line.halving_metric = fig.hmetric or 0 / 0
    end
    append_line(ctx.trials_path, json.encode(line, { order = { "id", "trial", "rung", "epochs",
      "parameters", "status", "metric", "halving_metric", "promoted_to" } }))
    say("trial %04d promoted from rung %d to rung %d (%d epochs)", job.id, job.from, job.rung,
      job.epochs)
  end
  return rec
end

-- The ranked table and best.yaml (rank 0): exit status 0, or 1 when no
-- trial completed.
local function conclude(ctx)
  local s = ctx.s
  local results = M.read_trials(read_file(ctx.trials_path))
  local list = M.rank(results, s.mode)
  if #list > 0 then
    io.stdout:write(M.table(list, s))
  end
  local best = list[1]
  if best and best.rank then
    local job = { id = best.id, epochs = s.halving and math.tointeger(best.epochs) or nil }
    local wok, werr = util.write_file(ctx.out .. "/best.yaml",
      require("nnrun.record").config_text(job_experiment(ctx, job)))
    if not wok then
      io_error("%s", werr)
    end
    io.stdout:write(string.format("best: trial %04d, %s %.6g%s -> %s/best.yaml\n", best.id,
      s.metric, best.metric, job.epochs and string.format(" after %d epochs", job.epochs) or "",
      ctx.out))
    return 0
  end
  io.stdout:write(string.format("no trial of %s completed with a %s\n", s.name, s.metric))
  return 1
end

local function intro(ctx, say, jobs, threads, ranks)
  local s, n = ctx.s, #ctx.trials
  local where = ranks and string.format("%d rank%s, %d at a time each", ranks,
    ranks == 1 and "" or "s", jobs) or string.format("%d at a time", jobs)
  local h = s.halving
  say("sweep %s: %d trial%s%s%s, %d done, %d to run (%s, %d thread%s each) -> %s", s.name, n,
    n == 1 and "" or "s", ctx.shard_n > 1 and string.format(", shard %d/%d", ctx.shard_i,
    ctx.shard_n) or "", h and string.format(", halving over %s epochs (eta %d)",
    table.concat(h.rungs, "/"), h.eta) or "", ctx.sched.ndone, ctx.todo, where, threads,
    threads == 1 and "" or "s", ctx.out)
end

local function interrupted_message(signal, finished)
  io.stderr:write(string.format("nnrun: sweep interrupted (SIG%s): %d trial%s finished here; "
    .. "run the same command again to resume\n", signal, finished, finished == 1 and "" or "s"))
  return signal == "INT" and 130 or 143
end

-- Starts sched's jobs on L until it has jobs running or sched none to give.
local function fill(L, sched, jobs)
  while L.n < jobs do
    local job = sched.next()
    if not job then
      return
    end
    L.start(job)
  end
end

-- One process: jobs at a time as child processes.
local function run_local(o, exe)
  local ctx = setup(o, true)
  local say = o.quiet and function() end or function(fmt, ...)
    io.stdout:write(string.format(fmt, ...), "\n")
    io.stdout:flush()
  end
  local rec = recorder(ctx, say)
  local sched = scheduler(ctx, rec.promotion)
  ctx.sched, ctx.todo = sched, sched.todo
  local jobs, threads = M.plan(nn.cpu_count(), o.jobs, o.threads, math.max(1, sched.todo))
  intro(ctx, say, jobs, threads)
  local L = launcher(ctx, exe or nn.exe_path(), threads)
  if sched.todo > 0 then
    nn.trap_signals()
  end
  while true do
    fill(L, sched, jobs)
    if L.n == 0 then
      break
    end
    local r, how, signal = L.reap()
    if how == "signal" then
      L.stop()
      return interrupted_message(signal, rec.finished)
    elseif r then
      sched.done(r)
      rec.result(r)
    end
  end
  return conclude(ctx)
end

local function mpi_send(mpi, dest, tag, t)
  mpi.send(dest, tag, json.encode(t))
end

-- Rank 0 under MPI: the scheduler, the record, and jobs of its own.  A
-- worker asks for jobs with { free, running, results }; it is answered at
-- once with { jobs } (maybe none, when it still runs some), or, when it
-- runs none and there is nothing to hand out yet, once there is; { stop =
-- true } when the sweep is over.  Rank 0 polls its children and the
-- workers' messages in turn (nn.wait's tick).
local function coordinate(ctx, exe, mpi, say, jobs, threads)
  local rec = recorder(ctx, say)
  local sched = scheduler(ctx, rec.promotion)
  ctx.sched, ctx.todo = sched, sched.todo
  intro(ctx, say, jobs, threads, mpi.size())
  local L = launcher(ctx, exe, threads)
  local waiting, stopped = {}, 0
  local function result(r)
    sched.done(r)
    rec.result(r)
  end
  -- Answers rank src asking for free jobs (running: how many it runs);
  -- false when its answer must wait.
  local function answer(src, free, running)
    local list = {}
    while #list < free do
      local job = sched.next()
      if not job then
        break
      end
      list[#list + 1] = job
    end
    if #list > 0 or running > 0 then
      mpi_send(mpi, src, TAG_JOBS, { jobs = list })
    elseif sched.finished() and L.n == 0 then
      mpi_send(mpi, src, TAG_JOBS, { stop = true })
      stopped = stopped + 1
    else
      return false
    end
    return true
  end
  nn.trap_signals()
  while stopped < mpi.size() - 1 or L.n > 0 do
    fill(L, sched, jobs)
    for src, free in pairs(waiting) do
      if answer(src, free, 0) then
        waiting[src] = nil
      end
    end
    if stopped == mpi.size() - 1 and L.n == 0 then
      break
    end
    local src = L.n == 0 and true or mpi.poll(-1, TAG_ASK)
    if src then
      -- (with no job of its own, rank 0 blocks on the next message)
      local text, from = mpi.recv(-1, TAG_ASK)
      local m = decode(text)
      for _, r in ipairs(m.results or {}) do
        result(r)
      end
      if not answer(from, m.free, m.running) then
        waiting[from] = m.free
      end
    elseif L.n > 0 then
      local r, how, signal = L.reap(0.01)
      if how == "signal" then
        L.stop()
        interrupted_message(signal, rec.finished)
        mpi.abort(signal == "INT" and 130 or 143)
      elseif r then
        result(r)
      end
    end
  end
  return conclude(ctx)
end

-- A rank other than 0: runs the jobs rank 0 hands it, jobs at a time, and
-- reports their results.
local function work(ctx, exe, mpi, jobs, threads)
  local L = launcher(ctx, exe, threads)
  local results = {}
  nn.trap_signals()
  while true do
    if L.n < jobs or #results > 0 then
      mpi_send(mpi, 0, TAG_ASK, { free = jobs - L.n, running = L.n, results = results })
      results = {}
      local m = decode((mpi.recv(0, TAG_JOBS)))
      if m.stop then
        return 0
      end
      for _, job in ipairs(m.jobs or {}) do
        L.start(job)
      end
    end
    if L.n > 0 then
      local r, how, signal = L.reap()
      if how == "signal" then
        L.stop()
        mpi.abort(signal == "INT" and 130 or 143)
      elseif r then
        results[#results + 1] = r
      end
    end
  end
end

-- The error e raised by this rank, printed (with the lines before it).
local function print_error(e, prefix)
  for _, l in ipairs(type(e) == "table" and e.before or {}) do
    io.stderr:write("nnrun: ", prefix, l, "\n")
  end
  io.stderr:write("nnrun: ", prefix, type(e) == "table" and tostring(e.message) or tostring(e),
    "\n")
  io.stderr:flush()
end

-- Under MPI (nnrun.mpi.size() > 1): every rank loads the sweep, and they
-- agree on whether it can run before any trial starts, so that a refused
-- sweep (exit status 2) stops every rank with one message from rank 0.
-- A failure later on (I/O) prints its rank's message and aborts every rank.
local function run_mpi(o, exe, mpi)
  local me, size = mpi.rank(), mpi.size()
  local ok, ctx = pcall(setup, o, me == 0)
  local failure -- rank 0: the first refusal, { exit, message, before }
  if me == 0 then
    failure = not ok and ctx or nil
    for r = 1, size - 1 do
      local m = decode((mpi.recv(r, TAG_SETUP)))
      if m.exit and not failure then
        failure = { exit = m.exit, message = string.format("rank %d: %s", r, m.message) }
      end
    end
  else
    mpi_send(mpi, 0, TAG_SETUP, ok and { ok = true } or {
      exit = type(ctx) == "table" and ctx.exit or 1,
      message = type(ctx) == "table" and ctx.message or tostring(ctx) })
  end
  local verdict = decode(mpi.bcast(me == 0 and json.encode({ exit = failure and
    (failure.exit or 1) or 0 }) or nil, 0))
  if verdict.exit ~= 0 then
    if me == 0 then
      error(type(failure) == "table" and failure or { exit = 1, message = tostring(failure) }, 0)
    end
    return verdict.exit
  end
  exe = exe or nn.exe_path()
  -- One single-threaded trial per rank unless --jobs or --threads say.
  local jobs, threads = o.jobs or 1, o.threads or 1
  local say = (o.quiet or me ~= 0) and function() end or function(fmt, ...)
    io.stdout:write(string.format(fmt, ...), "\n")
    io.stdout:flush()
  end
  local rok, res = pcall(function()
    if me == 0 then
      return coordinate(ctx, exe, mpi, say, jobs, threads)
    end
    return work(ctx, exe, mpi, jobs, threads)
  end)
  if not rok then
    print_error(res, me == 0 and "" or string.format("rank %d: ", me))
    mpi.abort(type(res) == "table" and math.tointeger(res.exit) or 1)
  end
  return res
end

-- sweep.main(o, exe) -> exit status.  o: the CLI options (file, out, jobs,
-- threads, shard, resume, resume_dir, quiet); exe: the nnrun executable.
-- Under mpirun (nnrun.mpi), the trials are spread over the ranks.
function M.main(o, exe)
  local mpi = nn.mpi
  if mpi and mpi.size() > 1 then
    return run_mpi(o, exe, mpi)
  end
  return run_local(o, exe)
end

return M
