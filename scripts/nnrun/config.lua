-- nnrun.config: the experiment schema.  Checks an experiment table (from a
-- Lua script or, later, a YAML file), fills in every default explicitly and
-- reports every problem at once as `key.path: problem`.  It builds no
-- runtime objects and trains nothing.
--
-- Paths name keys with dots and array elements with [i] (from 1):
-- `optimizer.lr`, `model.layers[2].dense`.
local util = require "nnrun.util"

local M = {}

local ACTIVATIONS = { "identity", "sigmoid", "tanh", "relu", "leaky_relu", "softmax" }
local INITIALISERS = { "zeros", "constant", "uniform", "normal", "xavier_uniform",
  "xavier_normal", "he_uniform", "he_normal" }
local LOSSES = { "mse", "cross_entropy", "bce", "bce_logits", "log_loss" }
local SCHEDULES = { "constant", "step", "exponential", "inverse_time", "cosine" }
local GENERATORS = { "xor", "digits03", "curve" }
local METRICS = { "val_loss", "val_accuracy", "train_loss" }
M.ACTIVATIONS, M.INITIALISERS, M.LOSSES, M.SCHEDULES = ACTIVATIONS, INITIALISERS, LOSSES, SCHEDULES
M.GENERATORS, M.METRICS = GENERATORS, METRICS

-- What the synthetic generators produce (see nnrun.h).
local GENERATED = {
  xor = { features = 2, target_cols = 1, classes = 2, binary = true },
  digits03 = { features = 64, target_cols = 1, classes = 4 },
  curve = { features = 1, target_cols = 1 },
}

local TOP_KEYS = { "name", "seed", "threads", "data", "model", "loss", "optimizer", "schedule",
  "train", "output" }

-- ---- helpers ---------------------------------------------------------------

local function join(path, key)
  if math.type(key) == "integer" then
    return path .. "[" .. key .. "]"
  end
  return path == "" and key or (path .. "." .. key)
end

local function contains(list, v)
  for _, x in ipairs(list) do
    if x == v then
      return true
    end
  end
  return false
end

-- The metatable name of a runtime object ("nnrun.Net"), or nil.
local function object_type(v)
  if type(v) ~= "userdata" then
    return nil
  end
  local mt = getmetatable(v)
  return type(mt) == "table" and mt.__name or nil
end
M.object_type = object_type

local function describe(v)
  local ty = object_type(v)
  if ty then
    return ty
  elseif type(v) == "string" then
    return string.format("string %q", v)
  elseif type(v) == "number" or type(v) == "boolean" then
    return tostring(v)
  end
  return type(v)
end

local function fail(c, path, fmt, ...)
  c.errors[#c.errors + 1] = { path = path, message = string.format(fmt, ...) }
end

-- Other names people use for keys of the schema.
local SYNONYMS = {
  learning_rate = "lr", rate = "lr", batch = "batch_size", batchsize = "batch_size",
  epoch = "epochs", layer = "layers", units = "dense", size = "dense", generator_name = "generator",
  type = "name", kind = "name", decay = "weight_decay", init_bias = "bias_init",
  activation_function = "activation", optimiser = "optimizer", scheduler = "schedule",
  val_split = "validation_split", dir = "directory", patience_epochs = "patience",
}

local function suggest_key(k, allowed)
  local s = util.suggest(k, allowed)
  if s then
    return s
  end
  local names = {}
  for syn, key in pairs(SYNONYMS) do
    if contains(allowed, key) then
      names[#names + 1] = syn
    end
  end
  table.sort(names)
  local syn = util.suggest(k, names)
  return syn and SYNONYMS[syn]
end

local function check_keys(c, t, path, allowed)
  for _, k in ipairs(util.sorted_keys(t)) do
    if type(k) ~= "string" then
      fail(c, path, "unexpected key %s (keys are names)", describe(k))
    elseif not contains(allowed, k) then
      local s = suggest_key(k, allowed)
      if s then
        fail(c, join(path, k), "unknown key (did you mean '%s'?)", s)
      else
        local sorted = { table.unpack(allowed) }
        table.sort(sorted)
        fail(c, join(path, k), "unknown key (expected one of: %s)", table.concat(sorted, ", "))
      end
    end
  end
end

local function fmt_num(v)
  if math.type(v) == "float" and v == math.floor(v) and math.abs(v) < 1e15 then
    return string.format("%d", math.tointeger(v))
  end
  return tostring(v)
end

-- Reads t[key] by spec: { type = "integer"|"number"|"boolean"|"string",
-- default =, required =, min =, gt =, max =, lt =, enum = }.  Returns the
-- value (the default when absent), or nil after recording a problem.
local function field(c, t, path, key, spec)
  local p = join(path, key)
  local v = t[key]
  if v == nil then
    if spec.required then
      fail(c, p, "missing (required)")
    end
    return spec.default
  end
  local ty = spec.type
  if ty == "integer" then
    if type(v) ~= "number" or math.tointeger(v) == nil then
      fail(c, p, "expected an integer, got %s", describe(v))
      return nil
    end
    v = math.tointeger(v)
  elseif ty == "number" then
    if type(v) ~= "number" then
      fail(c, p, "expected a number, got %s", describe(v))
      return nil
    end
    if v ~= v or v == math.huge or v == -math.huge then
      fail(c, p, "must be finite, got %s", v ~= v and "nan" or (v > 0 and "inf" or "-inf"))
      return nil
    end
  elseif type(v) ~= ty then
    fail(c, p, "expected a %s, got %s", ty, describe(v))
    return nil
  end
  if spec.enum and not contains(spec.enum, v) then
    local s = util.suggest(v, spec.enum)
    fail(c, p, "unknown value '%s'%s (expected one of: %s)", v,
      s and string.format(" (did you mean '%s'?)", s) or "", table.concat(spec.enum, ", "))
    return nil
  end
  if spec.pattern and not v:match(spec.pattern) then
    fail(c, p, "%s", spec.pattern_message)
    return nil
  end
  if spec.gt and not (v > spec.gt) then
    fail(c, p, "must be > %s, got %s", fmt_num(spec.gt), fmt_num(v))
    return nil
  end
  if spec.min and not (v >= spec.min) then
    fail(c, p, "must be >= %s, got %s", fmt_num(spec.min), fmt_num(v))
    return nil
  end
  if spec.lt and not (v < spec.lt) then
    fail(c, p, "must be < %s, got %s", fmt_num(spec.lt), fmt_num(v))
    return nil
  end
  if spec.max and not (v <= spec.max) then
    fail(c, p, "must be <= %s, got %s", fmt_num(spec.max), fmt_num(v))
    return nil
  end
  return v
end

-- A section that must be a table (or absent: {}).  Returns nil if not.
local function section(c, t, key, allow_object)
  local v = t[key]
  if v == nil then
    return {}
  end
  if type(v) == "table" or (allow_object and object_type(v) == allow_object) then
    return v
  end
  fail(c, key, "expected a table%s, got %s",
    allow_object and (" or " .. allow_object) or "", describe(v))
  return nil
end

-- Flags keys that belong to other variants ("not used by ...").
local function unused(c, t, path, keys, what)
  for _, k in ipairs(keys) do
    if t[k] ~= nil then
      fail(c, join(path, k), "not used by %s", what)
    end
  end
end

-- ---- sections ----------------------------------------------------------------

local function resolve_data(c, d, seed)
  local out, meta = {}, {}
  if d == nil then
    fail(c, "data", "missing (give data.generator, or data.train as an nn.dataset)")
    return nil, meta
  end
  if type(d) ~= "table" then
    fail(c, "data", "expected a table, got %s", describe(d))
    return nil, meta
  end
  check_keys(c, d, "data", { "generator", "n_per_class", "n", "noise", "seed", "train", "test",
    "test_split" })
  if d.train ~= nil then
    if d.generator ~= nil then
      fail(c, "data.generator", "give either data.generator or data.train, not both")
    end
    unused(c, d, "data", { "n_per_class", "n", "noise", "seed" }, "data.train")
    if object_type(d.train) ~= "nnrun.Dataset" then
      fail(c, "data.train", "expected an nn.dataset, got %s", describe(d.train))
    else
      out.train = d.train
      meta.features = d.train:features()
      meta.target_cols = d.train:target_cols()
      meta.samples = d.train:size()
    end
    if d.test ~= nil then
      if object_type(d.test) ~= "nnrun.Dataset" then
        fail(c, "data.test", "expected an nn.dataset, got %s", describe(d.test))
      else
        out.test = d.test
        if meta.features and d.test:features() ~= meta.features then
          fail(c, "data.test", "has %d features, data.train has %d", d.test:features(),
            meta.features)
        end
      end
    end
    out.test_split = field(c, d, "data", "test_split", { type = "number", min = 0, lt = 1,
      default = 0 })
    if out.test ~= nil and out.test_split and out.test_split > 0 then
      fail(c, "data.test_split", "give either data.test or data.test_split, not both")
    end
    return out, meta
  end
  if d.test ~= nil then
    fail(c, "data.test", "a test set needs data.train too (or use data.test_split)")
  end
  local gen = field(c, d, "data", "generator", { type = "string", enum = GENERATORS,
    required = true })
  out.generator = gen
  if gen == "xor" then
    unused(c, d, "data", { "n_per_class", "n", "noise" }, "the 'xor' generator")
    meta.samples = 4
  elseif gen == "digits03" then
    unused(c, d, "data", { "n" }, "the 'digits03' generator (use data.n_per_class)")
    out.n_per_class = field(c, d, "data", "n_per_class", { type = "integer", min = 1,
      default = 100 })
    out.noise = field(c, d, "data", "noise", { type = "number", min = 0, default = 0.1 })
    meta.samples = out.n_per_class and 4 * out.n_per_class
  elseif gen == "curve" then
    unused(c, d, "data", { "n_per_class" }, "the 'curve' generator (use data.n)")
    out.n = field(c, d, "data", "n", { type = "integer", min = 1, default = 200 })
    out.noise = field(c, d, "data", "noise", { type = "number", min = 0, default = 0.1 })
    meta.samples = out.n
  end
  out.seed = field(c, d, "data", "seed", { type = "integer", min = 0, default = seed or 1 })
  out.test_split = field(c, d, "data", "test_split", { type = "number", min = 0, lt = 1,
    default = (gen == "xor") and 0 or 0.2 })
  for k, v in pairs(GENERATED[gen] or {}) do
    meta[k] = v
  end
  return out, meta
end

local function resolve_layer(c, l, path, first)
  if type(l) ~= "table" then
    fail(c, path, "expected a table such as { dense = 32, activation = \"relu\" }, got %s",
      describe(l))
    return nil
  end
  check_keys(c, l, path, { "dense", "activation", "init", "bias_init", "slope" })
  local out = {}
  out.dense = field(c, l, path, "dense", { type = "integer", min = 1 })
  out.activation = field(c, l, path, "activation", { type = "string", enum = ACTIVATIONS })
  if l.dense == nil then
    if l.activation == nil then
      fail(c, path, "needs 'dense' (units) or 'activation'")
    elseif first then
      fail(c, path, "the first layer must be dense")
    end
    unused(c, l, path, { "init", "bias_init" }, "an activation layer")
  else
    out.init = field(c, l, path, "init", { type = "string", enum = INITIALISERS,
      default = "xavier_uniform" })
    out.bias_init = field(c, l, path, "bias_init", { type = "string", enum = INITIALISERS,
      default = "zeros" })
  end
  if out.activation == "leaky_relu" then
    out.slope = field(c, l, path, "slope", { type = "number", min = 0, default = 0.01 })
  elseif l.slope ~= nil then
    fail(c, join(path, "slope"), "only used with activation = \"leaky_relu\"")
  end
  return out
end

local function resolve_model(c, m, meta)
  local out, info = {}, {}
  if m == nil then
    fail(c, "model", "missing (give model.layers, or an nn.sequential network)")
    return nil, info
  end
  if object_type(m) == "nnrun.Net" then
    info.input, info.output = m:input_size(), m:output_size()
    return m, info
  end
  if type(m) ~= "table" then
    fail(c, "model", "expected a table or an nn.sequential network, got %s", describe(m))
    return nil, info
  end
  check_keys(c, m, "model", { "input", "layers" })
  out.input = field(c, m, "model", "input", { type = "integer", min = 1,
    default = meta.features })
  if m.input == nil and meta.features == nil then
    fail(c, "model.input", "missing (the input width cannot be taken from the data)")
  end
  if m.input ~= nil and out.input and meta.features and out.input ~= meta.features then
    fail(c, "model.input", "is %d, but the data has %d features", out.input, meta.features)
  end
  info.input = out.input
  local layers = m.layers
  if layers == nil then
    fail(c, "model.layers", "missing (a list such as { { dense = 8, activation = \"relu\" }, "
      .. "{ dense = 1 } })")
    return out, info
  end
  if type(layers) ~= "table" or #layers == 0 then
    fail(c, "model.layers", "expected a non-empty list of layers, got %s", describe(layers))
    return out, info
  end
  for k in pairs(layers) do
    if math.type(k) ~= "integer" or k < 1 or k > #layers then
      fail(c, "model.layers", "expected a list, got the key %s", describe(k))
    end
  end
  out.layers = {}
  local ok = true
  for i, l in ipairs(layers) do
    local r = resolve_layer(c, l, join("model.layers", i), i == 1)
    out.layers[i] = r
    if r and r.dense then
      info.output = r.dense
      info.last_activation = r.activation
    elseif r and r.activation then
      info.last_activation = r.activation
    else
      ok = false
    end
  end
  if not ok then
    info.output = nil
  end
  return out, info
end

local function resolve_optimizer(c, o)
  if object_type(o) == "nnrun.Optimizer" then
    return o
  end
  o = section(c, { optimizer = o }, "optimizer", "nnrun.Optimizer")
  if not o then
    return nil
  end
  check_keys(c, o, "optimizer", { "name", "lr", "momentum", "nesterov", "weight_decay" })
  local out = {}
  out.name = field(c, o, "optimizer", "name", { type = "string", enum = { "sgd" },
    default = "sgd" })
  out.lr = field(c, o, "optimizer", "lr", { type = "number", gt = 0, default = 0.01 })
  out.momentum = field(c, o, "optimizer", "momentum", { type = "number", min = 0, lt = 1,
    default = 0 })
  out.nesterov = field(c, o, "optimizer", "nesterov", { type = "boolean", default = false })
  out.weight_decay = field(c, o, "optimizer", "weight_decay", { type = "number", min = 0,
    default = 0 })
  if out.nesterov and out.momentum == 0 then
    fail(c, "optimizer.nesterov", "needs optimizer.momentum > 0")
  end
  return out
end

local SCHEDULE_KEYS = {
  constant = {},
  step = { "step_size", "gamma" },
  exponential = { "gamma" },
  inverse_time = { "gamma" },
  cosine = { "total", "min_lr" },
}

local function resolve_schedule(c, s, train)
  if object_type(s) == "nnrun.Schedule" then
    return s
  end
  s = section(c, { schedule = s }, "schedule", "nnrun.Schedule")
  if not s then
    return nil
  end
  check_keys(c, s, "schedule", { "name", "warmup", "warmup_start", "per_batch", "step_size",
    "gamma", "total", "min_lr" })
  local out = {}
  out.name = field(c, s, "schedule", "name", { type = "string", enum = SCHEDULES,
    default = "constant" })
  out.warmup = field(c, s, "schedule", "warmup", { type = "integer", min = 0, default = 0 })
  out.warmup_start = field(c, s, "schedule", "warmup_start", { type = "number", min = 0,
    max = 1, default = 0 })
  out.per_batch = field(c, s, "schedule", "per_batch", { type = "boolean", default = false })
  local name = out.name
  if not name then
    return out
  end
  local others = {}
  for _, k in ipairs({ "step_size", "gamma", "total", "min_lr" }) do
    if not contains(SCHEDULE_KEYS[name], k) then
      others[#others + 1] = k
    end
  end
  unused(c, s, "schedule", others, string.format("the '%s' schedule", name))
  if name == "step" then
    out.step_size = field(c, s, "schedule", "step_size", { type = "integer", min = 1,
      default = 10 })
    out.gamma = field(c, s, "schedule", "gamma", { type = "number", gt = 0, max = 1,
      default = 0.5 })
  elseif name == "exponential" then
    out.gamma = field(c, s, "schedule", "gamma", { type = "number", gt = 0, max = 1,
      default = 0.95 })
  elseif name == "inverse_time" then
    out.gamma = field(c, s, "schedule", "gamma", { type = "number", min = 0, default = 0.1 })
  elseif name == "cosine" then
    local default_total = nil
    if not out.per_batch and train then
      default_total = train.epochs
    end
    out.total = field(c, s, "schedule", "total", { type = "integer", min = 1,
      default = default_total })
    if s.total == nil and out.per_batch then
      fail(c, "schedule.total", "missing (required with per_batch = true: the number of "
        .. "batches)")
    end
    out.min_lr = field(c, s, "schedule", "min_lr", { type = "number", min = 0, default = 0 })
  end
  return out
end

local function resolve_train(c, t)
  t = section(c, { train = t }, "train")
  if not t then
    return nil
  end
  check_keys(c, t, "train", { "epochs", "batch_size", "shuffle", "validation_split",
    "early_stopping" })
  local out = {}
  out.epochs = field(c, t, "train", "epochs", { type = "integer", min = 1, default = 10 })
  out.batch_size = field(c, t, "train", "batch_size", { type = "integer", min = 1,
    default = 32 })
  out.shuffle = field(c, t, "train", "shuffle", { type = "boolean", default = true })
  out.validation_split = field(c, t, "train", "validation_split", { type = "number", min = 0,
    lt = 1, default = 0 })
  local es = t.early_stopping
  if es == nil or es == false then
    out.early_stopping = false
  else
    if es == true then
      es = {}
    end
    if type(es) ~= "table" then
      fail(c, "train.early_stopping", "expected a table or a boolean, got %s", describe(es))
      return out
    end
    local p = "train.early_stopping"
    check_keys(c, es, p, { "metric", "patience", "min_delta" })
    out.early_stopping = {
      metric = field(c, es, p, "metric", { type = "string", enum = METRICS,
        default = "val_loss" }),
      patience = field(c, es, p, "patience", { type = "integer", min = 1, default = 5 }),
      min_delta = field(c, es, p, "min_delta", { type = "number", min = 0, default = 0 }),
    }
  end
  return out
end

local function resolve_output(c, o)
  o = section(c, { output = o }, "output")
  if not o then
    return nil
  end
  check_keys(c, o, "output", { "directory" })
  return {
    directory = field(c, o, "output", "directory", { type = "string", default = "runs" }),
  }
end

-- Rows left after taking round(n * f) out; nil when a part would be empty.
local function split_ok(n, f)
  if not n or not f or f == 0 then
    return true
  end
  local k = math.floor(n * f + 0.5)
  return k >= 1 and k < n, n - k
end

local function combinations(c, r, meta, model)
  local loss = r.loss
  local out = model.output
  if loss and out then
    if (loss == "cross_entropy" or loss == "log_loss") and out < 2 then
      fail(c, "loss", "%s needs a network with 2 or more outputs, the model has %d", loss, out)
    elseif (loss == "cross_entropy" or loss == "log_loss") and meta.classes
      and meta.target_cols == 1 and out < meta.classes then
      fail(c, "model.layers", "the network has %d outputs, the data has %d classes", out,
        meta.classes)
    elseif (loss == "mse" or loss == "bce" or loss == "bce_logits") and meta.target_cols
      and meta.target_cols ~= out then
      fail(c, "loss", "%s compares %d outputs with %d target column%s%s", loss, out,
        meta.target_cols, meta.target_cols == 1 and "" or "s",
        (meta.classes and meta.target_cols == 1 and not meta.binary)
          and " (class labels need cross_entropy or log_loss)" or "")
    end
  end
  if object_type(r.model) == "nnrun.Net" and meta.features and model.input ~= meta.features then
    fail(c, "model", "the network takes %d inputs, the data has %d features", model.input,
      meta.features)
  end
  local n = meta.samples
  local ok, rest = true, n
  if r.data and r.data.test_split then
    ok, rest = split_ok(n, r.data.test_split)
    if not ok then
      fail(c, "data.test_split", "%s of %d samples leaves an empty part", r.data.test_split, n)
      rest = nil
    end
  end
  local train = r.train
  if train and train.validation_split and rest then
    if not split_ok(rest, train.validation_split) then
      fail(c, "train.validation_split", "%s of %d training samples leaves an empty part",
        train.validation_split, rest)
    end
  end
  if train and train.early_stopping and train.early_stopping.metric
    and train.early_stopping.metric:sub(1, 4) == "val_" and train.validation_split == 0 then
    fail(c, "train.early_stopping.metric", "'%s' needs train.validation_split > 0",
      train.early_stopping.metric)
  end
  local s, o = r.schedule, r.optimizer
  if type(s) == "table" and type(o) == "table" and s.min_lr and o.lr and s.min_lr > o.lr then
    fail(c, "schedule.min_lr", "must be <= optimizer.lr (%s), got %s", fmt_num(o.lr),
      fmt_num(s.min_lr))
  end
end

-- ---- public ------------------------------------------------------------------

-- config.resolve(exp [, opts]) -> resolved | nil, errors
--   opts.name: the default experiment name (e.g. the file's stem).
-- errors: array of { path =, message = }.  The resolved table holds every
-- setting with its default written in; runtime objects given in a Lua
-- experiment (nn.dataset, nn.sequential, ...) are kept as they are.
function M.resolve(exp, opts)
  opts = opts or {}
  local c = { errors = {} }
  if type(exp) ~= "table" then
    fail(c, "experiment", "expected a table, got %s", describe(exp))
    return nil, c.errors
  end
  check_keys(c, exp, "", TOP_KEYS)
  local r = {}
  r.name = field(c, exp, "", "name", { type = "string", default = opts.name or "experiment",
    pattern = "^[%w_.-]+$",
    pattern_message = "may contain only letters, digits, '_', '-' and '.'" })
  r.seed = field(c, exp, "", "seed", { type = "integer", min = 0, default = 1 })
  r.threads = field(c, exp, "", "threads", { type = "integer", min = 0, max = 4096,
    default = 0 })
  local meta
  r.data, meta = resolve_data(c, exp.data, r.seed)
  r.train = resolve_train(c, exp.train)
  local model
  r.model, model = resolve_model(c, exp.model, meta)
  r.loss = field(c, exp, "", "loss", { type = "string", enum = LOSSES, default = "mse" })
  r.optimizer = resolve_optimizer(c, exp.optimizer)
  r.schedule = resolve_schedule(c, exp.schedule, r.train)
  r.output = resolve_output(c, exp.output)
  combinations(c, r, meta, model)
  if #c.errors > 0 then
    return nil, c.errors
  end
  return r
end

-- One line for an error: "<where>: key.path: problem".  where is
-- opts.locate(path) -> "file:line:col" when it knows the key, else
-- opts.source (the file name).
function M.format_error(e, opts)
  opts = opts or {}
  local where = opts.locate and opts.locate(e.path) or opts.source
  local s = e.path .. ": " .. e.message
  if where then
    s = where .. ": " .. s
  end
  return s
end

-- Splits "model.layers[2].dense" (or "model.layers.2.dense") into
-- { "model", "layers", 2, "dense" }; nil, message if malformed.
function M.split_path(path)
  local parts = {}
  if type(path) ~= "string" or path == "" then
    return nil, "empty key path"
  end
  for seg in (path .. "."):gmatch("([^.]*)%.") do
    local name, rest = seg:match("^([%w_]*)(.*)$")
    if name == "" and rest == "" then
      return nil, string.format("malformed key path '%s'", path)
    end
    if name ~= "" then
      parts[#parts + 1] = math.tointeger(tonumber(name)) or name
    end
    for idx in rest:gmatch("%[(%d+)%]") do
      parts[#parts + 1] = math.tointeger(tonumber(idx))
    end
    if rest:gsub("%[%d+%]", "") ~= "" then
      return nil, string.format("malformed key path '%s'", path)
    end
  end
  return parts
end

-- config.set(exp, "optimizer.lr", 0.05): sets a value in an experiment
-- table, creating missing tables on the way.  nil, message on failure.
function M.set(exp, path, value)
  local parts, perr = M.split_path(path)
  if not parts then
    return nil, perr
  end
  local cur, done = exp, ""
  for i = 1, #parts - 1 do
    local k = parts[i]
    done = join(done, k)
    local nxt = cur[k]
    if nxt == nil then
      nxt = {}
      cur[k] = nxt
    elseif type(nxt) ~= "table" then
      return nil, string.format("%s: cannot set a key inside %s", done, describe(nxt))
    end
    cur = nxt
  end
  cur[parts[#parts]] = value
  return true
end

-- Parses the value of --set: YAML scalar rules when the YAML module is
-- there, otherwise: true/false, null/~, numbers, quoted or bare strings.
function M.parse_value(s, yaml)
  if yaml and yaml.parse then
    local ok, v = pcall(yaml.parse, s)
    if ok and v == yaml.null then
      return nil
    elseif ok and type(v) ~= "table" then
      return v
    end
  end
  if s == "true" then
    return true
  elseif s == "false" then
    return false
  elseif s == "null" or s == "~" or s == "" then
    return nil
  end
  local q = s:match('^"(.*)"$') or s:match("^'(.*)'$")
  if q then
    return q
  end
  local n = tonumber(s)
  if n and s:match("^%s*[-+]?[%d.]") then
    return math.tointeger(n) or n
  end
  return s
end

return M
