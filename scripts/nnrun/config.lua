-- nnrun.config: the experiment schema.  Checks an experiment table (from a
-- Lua script or a YAML file), fills in every default explicitly and reports
-- every problem at once as `key.path: problem`.  It builds no runtime
-- objects and trains nothing.
--
-- Paths name keys with dots and array elements with [i] (from 1):
-- `optimizer.lr`, `model.layers[2].dense`.
local schema = require "nnrun.schema"
local util = require "nnrun.util"

local M = {}

-- Layer kinds, their settings, defaults and ranges come from the runtime's
-- registry (nn.layer_kinds()): the schema of model.layers is built from it.
-- dense and activation items are flat ({dense: 8, activation: relu}); every
-- other kind is a list item of its own, its value the primary setting or a
-- mapping of settings ({dropout: 0.2}, {batchnorm: {momentum: 0.1}}).
local LAYER_KINDS, NESTED_KINDS = {}, {}
do
  local ok, nn = pcall(require, "nnrun")
  for _, k in ipairs(ok and type(nn) == "table" and nn.layer_kinds and nn.layer_kinds() or {}) do
    k.by_name = {}
    for _, p in ipairs(k.params) do
      k.by_name[p.name] = p
    end
    LAYER_KINDS[k.name] = k
    if k.name ~= "dense" and k.name ~= "activation" then
      NESTED_KINDS[#NESTED_KINDS + 1] = k.name
    end
  end
end
-- The kinds that take an image {C, H, W} (a first layer of one of them
-- gets the data's image shape as model.input by default), and the kinds
-- whose mapping may carry an activation, expanded into a layer after it
-- ({conv2d: {filters: 32, kernel: 3, activation: relu}}), as dense's.
local IMAGE_KINDS = { conv2d = true, maxpool = true, avgpool = true, global_avgpool = true }
local ACTIVATED_KINDS = { conv2d = true }
local ACTIVATION_SPEC = LAYER_KINDS.activation or { params = {}, by_name = {} }
-- padding: same of a conv2d (nn.same_padding: the rule and its messages).
local SAME_PADDING
do
  local ok, nn = pcall(require, "nnrun")
  SAME_PADDING = ok and type(nn) == "table" and nn.same_padding or nil
end
local ACTIVATIONS = ACTIVATION_SPEC.by_name.name and ACTIVATION_SPEC.by_name.name.choices or {}
local INITIALISERS = LAYER_KINDS.dense and LAYER_KINDS.dense.by_name.init.choices or {}
local LOSSES = { "mse", "cross_entropy", "bce", "bce_logits", "log_loss" }
-- The optimisers and their parameters (name, type, default, range) are the
-- runtime's registry, read through nn.optim.names / nn.optim.params: the
-- schema below is built from them.
local OPTIMIZERS, OPTIMIZER_PARAMS = {}, {}
do
  local ok, nn = pcall(require, "nnrun")
  if ok and type(nn) == "table" and type(nn.optim) == "table" and nn.optim.names then
    OPTIMIZERS = nn.optim.names()
    for _, name in ipairs(OPTIMIZERS) do
      OPTIMIZER_PARAMS[name] = nn.optim.params(name)
    end
  end
end
-- The schedules and their settings likewise (nn.schedule_names,
-- nn.schedule_params): each kind's own settings, then warmup and
-- warmup_start.
local SCHEDULES, SCHEDULE_PARAMS = {}, {}
do
  local ok, nn = pcall(require, "nnrun")
  if ok and type(nn) == "table" and nn.schedule_names then
    SCHEDULES = nn.schedule_names()
    for _, name in ipairs(SCHEDULES) do
      SCHEDULE_PARAMS[name] = nn.schedule_params(name)
    end
  end
end
-- The training settings nn.fit shares, with their one default
-- (nn.train_params): epochs, batch_size, shuffle, clip_norm, clip_value.
local TRAIN_PARAMS = {}
do
  local ok, nn = pcall(require, "nnrun")
  if ok and type(nn) == "table" and nn.train_params then
    TRAIN_PARAMS = nn.train_params()
  end
end
local METRICS = { "val_loss", "val_accuracy", "train_loss" }
local CHECKPOINT_BEST = { "none", "val_loss", "val_accuracy", "train_loss" }
local MAX_UNITS = 1000000 -- per dense layer: far beyond any use, and no size overflow below

-- The synthetic generators: what they produce (see nnrun.h), their
-- parameters, and how many samples those give.
local GENERATOR_SPECS = {
  xor = { features = 2, target_cols = 1, classes = 2, binary = true, test_split = 0,
    params = {}, samples = function() return 4 end },
  digits03 = { features = 64, shape = { 1, 8, 8 }, target_cols = 1, classes = 4, test_split = 0.2,
    params = {
      { "n_per_class", { type = "integer", min = 1, max = 1000000, default = 100 } },
      { "noise", { type = "number", min = 0, default = 0.1 } },
    },
    samples = function(o) return o.n_per_class and 4 * o.n_per_class end },
  curve = { features = 1, target_cols = 1, test_split = 0.2,
    params = {
      { "n", { type = "integer", min = 1, max = 4000000, default = 200 } },
      { "noise", { type = "number", min = 0, default = 0.1 } },
    },
    samples = function(o) return o.n end },
}
local GENERATORS = { "xor", "digits03", "curve" }
-- Every key a generator may take (the others flag the ones it does not).
local GENERATOR_PARAMS = { "n_per_class", "n", "noise" }

M.ACTIVATIONS, M.INITIALISERS, M.LOSSES, M.SCHEDULES = ACTIVATIONS, INITIALISERS, LOSSES, SCHEDULES
M.GENERATORS, M.METRICS, M.OPTIMIZERS = GENERATORS, METRICS, OPTIMIZERS
M.IMAGE_KINDS, M.ACTIVATED_KINDS = IMAGE_KINDS, ACTIVATED_KINDS

local TOP_KEYS = { "name", "seed", "threads", "data", "model", "loss", "optimizer", "schedule",
  "train", "output", "parallel" }

-- The schema engine (nnrun.schema): types, ranges, enums, unknown keys with
-- did-you-mean, located problems.  This file holds the experiment schema.
local NULL, join, contains, object_type = schema.NULL, schema.join, schema.contains,
  schema.object_type
local is_list, describe, fail, fmt_num = schema.is_list, schema.describe, schema.fail,
  schema.fmt_num
local field, section, unused, param_field = schema.field, schema.section, schema.unused,
  schema.param_field
M.join, M.object_type, M.describe = join, object_type, describe

-- A copy of an experiment with YAML nulls that stand for mapping values
-- removed (null in a list stays, to be reported).  Runtime objects are kept.
local function without_nulls(v)
  if type(v) ~= "table" then
    return v
  end
  local out = {}
  for k, x in pairs(v) do
    if not (x == NULL and type(k) == "string") then
      out[k] = without_nulls(x)
    end
  end
  return out
end

-- Other names people use for keys of the schema.
local SYNONYMS = {
  learning_rate = "lr", rate = "lr", batch = "batch_size", batchsize = "batch_size",
  epoch = "epochs", layer = "layers", units = "dense", size = "dense", generator_name = "generator",
  type = "name", kind = "name", decay = "weight_decay", init_bias = "bias_init",
  activation_function = "activation", optimiser = "optimizer", scheduler = "schedule",
  val_split = "validation_split", dir = "directory", patience_epochs = "patience",
  inputs = "input", input_size = "input", outputs = "dense", out = "dense",
}

local function suggest_key(k, allowed)
  if SYNONYMS[k] and contains(allowed, SYNONYMS[k]) then
    return SYNONYMS[k]
  end
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

-- what(k), hints: as schema.check_keys' opts (" for adam"; momentum -> beta1).
local function check_keys(c, t, path, allowed, what, hints)
  c.suggest_key = suggest_key
  schema.check_keys(c, t, path, allowed, { what = what, hints = hints })
end

-- ---- sections ----------------------------------------------------------------

-- Data sources: data.<key> chooses one, and its resolve(c, d, out, meta)
-- checks the keys it owns and fills `meta` (features, target_cols, classes,
-- binary, samples), which the model and loss are checked against.  A new
-- source (a file format, say) is a new entry here plus its keys in
-- DATA_KEYS.  Keys common to every source: seed, test_split.
local DATA_SOURCES

local function resolve_generator(c, d, out, meta)
  local gen = field(c, d, "data", "generator", { type = "string", enum = GENERATORS,
    required = true })
  out.generator = gen
  local spec = GENERATOR_SPECS[gen]
  if not spec then
    return
  end
  local own = {}
  for _, p in ipairs(spec.params) do
    own[p[1]] = true
    out[p[1]] = field(c, d, "data", p[1], p[2])
  end
  for _, k in ipairs(GENERATOR_PARAMS) do
    if d[k] ~= nil and not own[k] then
      local names = {}
      for _, p in ipairs(spec.params) do
        names[#names + 1] = "data." .. p[1]
      end
      fail(c, join("data", k), "not used by the '%s' generator%s", gen,
        #names > 0 and (" (it takes " .. table.concat(names, ", ") .. ")") or "")
    end
  end
  for _, k in ipairs({ "features", "shape", "target_cols", "classes", "binary" }) do
    meta[k] = spec[k]
  end
  meta.samples = spec.samples(out)
  meta.test_split = spec.test_split
end

-- Lua only: data.train (and data.test) given as nn.dataset objects.
local function resolve_datasets(c, d, out, meta)
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
  meta.test_split = 0
end

DATA_SOURCES = {
  { key = "generator", resolve = resolve_generator },
  { key = "train", resolve = resolve_datasets, keys = { "test" } },
}

-- Data files (nnrun.data, when present) resolve their whole section.
local FILES
do
  local ok, m = pcall(require, "nnrun.data")
  FILES = ok and type(m) == "table" and m.resolve and m.is_file_source and m or nil
end
local FILE_KEYS = FILES and { "normalize", "stratify", "standardize_targets" } or {}

local DATA_KEYS = { "seed", "test_split" }
for _, k in ipairs(FILES and FILES.SOURCES or {}) do
  DATA_KEYS[#DATA_KEYS + 1] = k
end
for _, k in ipairs(FILE_KEYS) do
  DATA_KEYS[#DATA_KEYS + 1] = k
end
for _, src in ipairs(DATA_SOURCES) do
  DATA_KEYS[#DATA_KEYS + 1] = src.key
  for _, k in ipairs(src.keys or {}) do
    DATA_KEYS[#DATA_KEYS + 1] = k
  end
end
for _, k in ipairs(GENERATOR_PARAMS) do
  DATA_KEYS[#DATA_KEYS + 1] = k
end

local function resolve_data(c, d, seed, base)
  local out, meta = {}, {}
  if d == nil then
    fail(c, "data", "missing (required: give data.generator)")
    return nil, meta
  end
  d = section(c, d, "data")
  if not d then
    return nil, meta
  end
  if FILES and FILES.is_file_source(d) then
    local fout, fmeta = FILES.resolve(c, d, seed, { field = field, fail = fail,
      check_keys = check_keys, describe = describe, base = base, resolve_shape = M.resolve_shape })
    return fout, fmeta or meta
  end
  check_keys(c, d, "data", DATA_KEYS)
  for _, k in ipairs(FILE_KEYS) do
    if d[k] ~= nil then
      fail(c, join("data", k), "only used with a data file (data.%s)",
        table.concat(FILES.SOURCES, ", data."))
    end
  end
  local chosen = {}
  for _, src in ipairs(DATA_SOURCES) do
    if d[src.key] ~= nil then
      chosen[#chosen + 1] = src
    end
  end
  if #chosen > 1 then
    fail(c, join("data", chosen[2].key), "give one data source, not both data.%s and data.%s",
      chosen[1].key, chosen[2].key)
  end
  local src = chosen[1] or DATA_SOURCES[1]
  for _, other in ipairs(DATA_SOURCES) do
    if other ~= src then
      for _, k in ipairs(other.keys or {}) do
        if d[k] ~= nil then
          fail(c, join("data", k), "only used with data.%s", other.key)
        end
      end
    end
  end
  if src ~= DATA_SOURCES[1] then
    for _, k in ipairs(GENERATOR_PARAMS) do
      if d[k] ~= nil then
        fail(c, join("data", k), "only used with data.generator")
      end
    end
  end
  src.resolve(c, d, out, meta)
  out.seed = field(c, d, "data", "seed", { type = "integer", min = 0, default = seed or 1 })
  out.test_split = field(c, d, "data", "test_split", { type = "number", min = 0, lt = 1,
    default = meta.test_split or 0 })
  if out.test ~= nil and out.test_split and out.test_split > 0 then
    fail(c, "data.test_split", "give either data.test or data.test_split, not both")
  end
  return out, meta
end

local LAYER_EXAMPLE = "{dense: 32, activation: relu}"

-- The settings of one activation function (leaky_relu's slope, elu's
-- alpha) from t into out, for out.activation; a setting of another
-- function is flagged.
local function activation_settings(c, t, path, out)
  for _, p in ipairs(ACTIVATION_SPEC.params) do
    if p.applies_to and out.activation == p.applies_to then
      out[p.name] = field(c, t, path, p.name, param_field(p))
    elseif p.applies_to and t[p.name] ~= nil then
      fail(c, join(path, p.name), "only used with activation: %s", p.applies_to)
    end
  end
end

-- The keys of the activation functions' own settings (slope, alpha).
local function activation_keys()
  local keys = {}
  for _, p in ipairs(ACTIVATION_SPEC.params) do
    if p.applies_to then
      keys[#keys + 1] = p.name
    end
  end
  return keys
end

-- A layer kind's setting p read from t (t[p.name]) at path: the runtime's
-- spec, required when it has no default.
local function kind_setting(c, t, path, p)
  local f = param_field(p)
  f.required = p.default == nil
  return field(c, t, path, p.name, f)
end

-- An item of a kind beyond dense and activation: { kind = settings }.  A
-- kind of ACTIVATED_KINDS may carry activation: (and its slope or alpha)
-- among its settings.
local function resolve_nested(c, l, path, kind)
  local spec = LAYER_KINDS[kind]
  local kp = join(path, kind)
  for _, other in ipairs({ "dense", "activation", table.unpack(NESTED_KINDS) }) do
    if other ~= kind and l[other] ~= nil then
      fail(c, path, "one layer per list item: '%s' and '%s'", kind, other)
      return nil
    end
  end
  check_keys(c, l, path, { kind })
  local v, settings = l[kind], {}
  if type(v) == "table" and not object_type(v) then
    if is_list(v) then
      fail(c, kp, "expected a mapping of settings, got a list")
      return nil
    end
    local names = {}
    for _, p in ipairs(spec.params) do
      names[#names + 1] = p.name
    end
    if ACTIVATED_KINDS[kind] then
      names[#names + 1] = "activation"
      for _, k in ipairs(activation_keys()) do
        names[#names + 1] = k
      end
    end
    check_keys(c, v, kp, names)
    for _, p in ipairs(spec.params) do
      if p.name == "padding" and spec.by_name.kernel and type(v.padding) == "string" then
        if v.padding == "same" then
          settings.padding = "same" -- checked below, once kernel, dilation and stride are read
        else
          fail(c, join(kp, "padding"), "expected an integer or 'same', got %s", describe(v.padding))
        end
      else
        settings[p.name] = kind_setting(c, v, kp, p)
      end
    end
    if settings.padding == "same" and settings.kernel and settings.dilation and settings.stride
      and SAME_PADDING then
      local pad, why = SAME_PADDING(settings.kernel, settings.dilation, settings.stride)
      if not pad then
        fail(c, join(kp, "padding"), "%s", why)
      end
    end
    if ACTIVATED_KINDS[kind] then
      settings.activation = field(c, v, kp, "activation", { type = "string", enum = ACTIVATIONS })
      activation_settings(c, v, kp, settings)
    end
  else
    local primary, needs = nil, {}
    for _, p in ipairs(spec.params) do
      primary = primary or (p.primary and p)
    end
    for _, p in ipairs(spec.params) do
      if p ~= primary and p.default == nil then
        needs[#needs + 1] = p.name
      end
    end
    if not primary then
      fail(c, kp, "expected a mapping of settings (%s: {}), got %s", kind, describe(v))
      return nil
    elseif #needs > 0 then
      fail(c, kp, "expected a mapping of settings such as {%s: %s, %s: ...} (%s %s required), "
        .. "got %s", primary.name, describe(v), table.concat(needs, ": ..., "),
        table.concat(needs, " and "), #needs == 1 and "is" or "are", describe(v))
      return nil
    end
    for _, p in ipairs(spec.params) do
      if p == primary then
        settings[p.name] = field(c, l, path, kind, param_field(p))
      else
        settings[p.name] = p.default
      end
    end
  end
  return { [kind] = settings }
end

local function resolve_layer(c, l, path)
  if type(l) == "string" and LAYER_KINDS[l] and l ~= "dense" and l ~= "activation" then
    l = { [l] = {} } -- `- batchnorm`: every setting at its default
  end
  if type(l) ~= "table" or is_list(l) then
    fail(c, path, "expected a layer such as %s, got %s", LAYER_EXAMPLE, describe(l))
    return nil
  end
  for _, kind in ipairs(NESTED_KINDS) do
    if l[kind] ~= nil then
      return resolve_nested(c, l, path, kind)
    end
  end
  local flat = { "dense", "in", "activation", "init", "bias_init", table.unpack(activation_keys()) }
  for _, kind in ipairs(NESTED_KINDS) do
    flat[#flat + 1] = kind
  end
  check_keys(c, l, path, flat)
  local out = {}
  out.dense = field(c, l, path, "dense", { type = "integer", min = 1, max = MAX_UNITS })
  out["in"] = field(c, l, path, "in", { type = "integer", min = 1, max = MAX_UNITS })
  out.activation = field(c, l, path, "activation", { type = "string", enum = ACTIVATIONS })
  if l.dense == nil then
    if l.activation == nil then
      fail(c, path, "needs 'dense' (units) or 'activation'")
    end
    unused(c, l, path, { "in", "init", "bias_init" }, "an activation layer")
  else
    out.init = field(c, l, path, "init", { type = "string", enum = INITIALISERS,
      default = "xavier_uniform" })
    out.bias_init = field(c, l, path, "bias_init", { type = "string", enum = INITIALISERS,
      default = "zeros" })
  end
  activation_settings(c, l, path, out)
  return out
end

-- The kind of a resolved layer beyond dense and activation, and its settings.
function M.nested_kind(l)
  for _, kind in ipairs(NESTED_KINDS) do
    if type(l) == "table" and l[kind] ~= nil then
      return kind, l[kind]
    end
  end
  return nil
end

-- "[1, 28, 28]"
function M.shape_text(shape)
  local parts = {}
  for i, n in ipairs(shape) do
    parts[i] = tostring(n)
  end
  return "[" .. table.concat(parts, ", ") .. "]"
end

-- The features of model.input: a width, or C * H * W of a shape.
function M.input_width(input)
  if type(input) == "table" then
    return input[1] * input[2] * input[3]
  end
  return input
end

-- An image shape [C, H, W] read from v at path (model.input, data.csv.shape):
-- a list of 3 positive integers, a fresh copy; nil after recording a
-- problem.  what: what else v could have been ("an integer (the input
-- width) or "), for the message.
local MAX_FEATURES = 1 << 24 -- as many as a data file may have
function M.resolve_shape(c, v, path, what)
  if type(v) ~= "table" or object_type(v) or not (is_list(v) or next(v) == nil) then
    fail(c, path, "expected %s[C, H, W], got %s", what or "", describe(v))
    return nil
  end
  if #v ~= 3 then
    fail(c, path, "needs 3 positive integers [C, H, W], got %d", #v)
    return nil
  end
  local shape, ok = {}, true
  for i = 1, 3 do
    shape[i] = field(c, v, path, i, { type = "integer", min = 1, max = MAX_FEATURES })
    ok = ok and shape[i] ~= nil
  end
  if ok and shape[1] * shape[2] * shape[3] > MAX_FEATURES then
    fail(c, path, "%s is %d features, more than %d", M.shape_text(shape),
      shape[1] * shape[2] * shape[3], MAX_FEATURES)
    return nil
  end
  return ok and shape or nil
end

-- The kind of a raw layer item (before it is resolved), or nil.
local function raw_kind(l)
  if type(l) == "string" then
    return l
  elseif type(l) ~= "table" then
    return nil
  end
  for _, kind in ipairs(NESTED_KINDS) do
    if l[kind] ~= nil then
      return kind
    end
  end
  return l.dense ~= nil and "dense" or nil
end

-- model.input: given (a width or [C, H, W]), else the data's: its image
-- shape (meta.shape) when the first layer takes an image, else its
-- features.  Absent when only the data as read can tell (meta.features_later,
-- meta.shape_later: config.complete fills it in).
local function resolve_input(c, m, meta, layers)
  local first = type(layers) == "table" and raw_kind(layers[1])
  local image = first and IMAGE_KINDS[first]
  local input
  if m.input ~= nil then
    if type(m.input) == "number" then
      input = field(c, m, "model", "input", { type = "integer", min = 1, max = MAX_UNITS })
    else
      input = M.resolve_shape(c, m.input, "model.input", "an integer (the input width) or ")
    end
    if input == nil then
      return nil
    end
    if image and type(input) ~= "table" then
      fail(c, "model.input", "the first layer (%s) takes an image: give model.input as "
        .. "[C, H, W], got %d", first, input)
    elseif meta.features and M.input_width(input) ~= meta.features then
      if type(input) == "table" then
        fail(c, "model.input", "is %s (%d features), but the data has %d features",
          M.shape_text(input), M.input_width(input), meta.features)
      else
        fail(c, "model.input", "is %d, but the data has %d features", input, meta.features)
      end
    end
    return input
  end
  if image then
    if meta.shape then
      return { table.unpack(meta.shape) }
    elseif not meta.broken and not meta.shape_later then
      fail(c, "model.input", "missing: the first layer (%s) takes an image [C, H, W], and the "
        .. "data gives no shape (give model.input%s)", first, meta.shape_key
        and (" or " .. meta.shape_key) or "")
    end
    return nil
  end
  local first_in = type(layers) == "table" and type(layers[1]) == "table"
    and math.tointeger(layers[1]["in"]) or nil
  input = meta.features or first_in
  if input == nil and not meta.broken and not meta.features_later then
    fail(c, "model.input", "missing (the input width cannot be taken from the data)")
  end
  return input
end

-- info: input, output (widths), output_path (of the last dense), and
-- last_activation and its path.
local function resolve_model(c, m, meta)
  local out, info = {}, {}
  if m == nil then
    fail(c, "model", "missing (required: give model.layers)")
    return nil, info
  end
  if object_type(m) == "nnrun.Net" then
    info.input, info.output = m:input_size(), m:output_size()
    return m, info
  end
  m = section(c, m, "model", "nnrun.Net")
  if not m then
    return nil, info
  end
  check_keys(c, m, "model", { "input", "layers" })
  local layers = m.layers
  out.input = resolve_input(c, m, meta, layers)
  info.input = out.input and M.input_width(out.input)
  if layers == nil then
    fail(c, "model.layers", "missing (a list such as [%s, {dense: 1}])", LAYER_EXAMPLE)
    return out, info
  end
  if type(layers) ~= "table" or not is_list(layers) then
    fail(c, "model.layers", "expected a non-empty list of layers, got %s", describe(layers))
    return out, info
  end
  for k in pairs(layers) do
    if k < 1 or k > #layers then
      fail(c, "model.layers", "expected a list, got the key %s", describe(k))
      return out, info
    end
  end
  out.layers = {}
  local ok = true
  local width, width_from = info.input, (m.input ~= nil or not meta.features) and "model.input"
    or "the data"
  for i, l in ipairs(layers) do
    local p = join("model.layers", i)
    local r = resolve_layer(c, l, p)
    out.layers[i] = r
    if r and r["in"] and width and r["in"] ~= width then
      fail(c, join(p, "in"), "is %d, but %s gives %d", r["in"], width_from, width)
    end
    local kind, settings = M.nested_kind(r)
    if r and r.dense then
      info.output, info.output_path = r.dense, join(p, "dense")
      width, width_from = r.dense, p
      info.last_activation, info.last_activation_path = nil, nil
    elseif kind then
      -- The runtime infers the shapes after a layer that changes them.
      if IMAGE_KINDS[kind] then
        info.output, width = nil, nil
      end
      info.last_activation = settings.activation
      info.last_activation_path = settings.activation and join(join(p, kind), "activation")
    elseif not r or not r.activation then
      ok = false
      width = nil
    end
    if r and r.activation then
      info.last_activation, info.last_activation_path = r.activation, join(p, "activation")
    end
  end
  if not ok then
    info.output = nil
  end
  return out, info
end

-- A key of another optimiser, and the one that plays its part here.
local OPTIMIZER_HINTS = {
  adam = { momentum = "beta1", rho = "beta2" },
  adamw = { momentum = "beta1", rho = "beta2" },
  rmsprop = { beta1 = "momentum", beta2 = "rho" },
  sgd = { beta1 = "momentum" },
}

local function resolve_optimizer(c, o)
  if object_type(o) == "nnrun.Optimizer" then
    return o
  end
  o = section(c, o, "optimizer", "nnrun.Optimizer", true)
  if not o then
    return nil
  end
  local out = {}
  out.name = field(c, o, "optimizer", "name", { type = "string", enum = OPTIMIZERS,
    default = "sgd" })
  local params = OPTIMIZER_PARAMS[out.name]
  if not params then
    return out
  end
  local keys = { "name" }
  for _, p in ipairs(params) do
    keys[#keys + 1] = p.name
  end
  -- A key of another optimiser is "unknown for adam"; a typo is unknown.
  local function other_kind(k)
    for _, kind in ipairs(OPTIMIZERS) do
      for _, p in ipairs(OPTIMIZER_PARAMS[kind]) do
        if p.name == k then
          return " for " .. out.name
        end
      end
    end
    return nil
  end
  check_keys(c, o, "optimizer", keys, other_kind, OPTIMIZER_HINTS[out.name])
  for _, p in ipairs(params) do
    out[p.name] = field(c, o, "optimizer", p.name, param_field(p, true))
  end
  if out.nesterov and out.momentum == 0 then
    fail(c, "optimizer.nesterov", "needs optimizer.momentum > 0")
  end
  return out
end

local function resolve_schedule(c, s, train)
  if object_type(s) == "nnrun.Schedule" then
    return s
  end
  s = section(c, s, "schedule", "nnrun.Schedule", true)
  if not s then
    return nil
  end
  -- Every key some schedule takes: a key of another kind is "not used by"
  -- this one, a typo is unknown.
  local keys, own = { "name", "per_batch" }, {}
  for _, kind in ipairs(SCHEDULES) do
    for _, p in ipairs(SCHEDULE_PARAMS[kind]) do
      if not contains(keys, p.name) then
        keys[#keys + 1] = p.name
      end
    end
  end
  check_keys(c, s, "schedule", keys)
  local out = {}
  out.name = field(c, s, "schedule", "name", { type = "string", enum = SCHEDULES,
    default = "constant" })
  out.per_batch = field(c, s, "schedule", "per_batch", { type = "boolean", default = false })
  local params = out.name and SCHEDULE_PARAMS[out.name]
  if not params then
    return out
  end
  for _, p in ipairs(params) do
    own[p.name] = true
  end
  local others = {}
  for _, k in ipairs(keys) do
    if k ~= "name" and k ~= "per_batch" and not own[k] then
      others[#others + 1] = k
    end
  end
  unused(c, s, "schedule", others, string.format("the '%s' schedule", out.name))
  for _, p in ipairs(params) do
    local f = param_field(p, true)
    if p.name == "total" then
      -- No default in the runtime: it follows train.epochs.  Per batch it
      -- needs the training set's size: it is filled in once the data is
      -- read (config.complete).
      f.default = (not out.per_batch and train) and train.epochs or nil
    elseif p.default == nil then
      f.required = true
    end
    out[p.name] = field(c, s, "schedule", p.name, f)
  end
  return out
end

local function resolve_train(c, t)
  t = section(c, t, "train")
  if not t then
    return nil
  end
  local keys = { "validation_split", "early_stopping" }
  for _, p in ipairs(TRAIN_PARAMS) do
    keys[#keys + 1] = p.name
  end
  check_keys(c, t, "train", keys)
  local out = {}
  for _, p in ipairs(TRAIN_PARAMS) do
    out[p.name] = field(c, t, "train", p.name, param_field(p))
  end
  out.validation_split = field(c, t, "train", "validation_split", { type = "number", min = 0,
    lt = 1, default = 0 })
  local es = t.early_stopping
  if es == nil or es == false then
    out.early_stopping = false
  else
    if es == true then
      es = {}
    end
    local p = "train.early_stopping"
    if type(es) ~= "table" or is_list(es) then
      fail(c, p, "expected a mapping or a boolean, got %s", describe(es))
      return out
    end
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

-- parallel: { shards }: every batch in that many micro-shards, combined
-- exactly (nn.fit's parallel option), so that mpirun -np N gives the same
-- bits for any N <= shards.  ranks: the processes of an mpirun job (nil
-- alone); the default is 0 (off) alone and DEFAULT_SHARDS under mpirun,
-- -np 1 included, so that every -np up to it gives the same bits.
local DEFAULT_SHARDS, MAX_SHARDS = 8, 1024
local function resolve_parallel(c, p, ranks)
  p = section(c, p, "parallel")
  local out = { shards = ranks and DEFAULT_SHARDS or 0 }
  ranks = ranks or 1
  if p then
    check_keys(c, p, "parallel", { "shards" })
    out.shards = field(c, p, "parallel", "shards", { type = "integer", min = 0, max = MAX_SHARDS,
      default = out.shards })
  end
  if ranks > 1 and out.shards and ranks > out.shards then
    fail(c, "parallel.shards", "%d ranks (mpirun -np %d) need at least %d shards, got %d", ranks,
      ranks, ranks, out.shards)
  end
  return out
end

local function resolve_output(c, o)
  o = section(c, o, "output")
  if not o then
    return nil
  end
  check_keys(c, o, "output", { "directory", "checkpoint_every", "checkpoint_best", "keep_epochs" })
  local out = {
    directory = field(c, o, "output", "directory", { type = "string", default = "runs" }),
    checkpoint_every = field(c, o, "output", "checkpoint_every", { type = "integer", min = 0,
      default = 1 }),
    checkpoint_best = field(c, o, "output", "checkpoint_best", { type = "string",
      enum = CHECKPOINT_BEST, default = "none" }),
    keep_epochs = field(c, o, "output", "keep_epochs", { type = "boolean", default = false }),
  }
  if out.directory == "" then
    fail(c, "output.directory", "must not be empty")
  end
  return out
end

-- Rows left after taking round(n * f) out; nil when a part would be empty.
local function split_ok(n, f)
  if not n or not f or f == 0 then
    return true
  end
  local k = math.floor(n * f + 0.5)
  return k >= 1 and k < n, n - k
end

local CLASSIFYING = { cross_entropy = true, log_loss = true, bce = true, bce_logits = true }

-- What each loss expects of the last activation (a table model only).
local function check_output_activation(c, loss, model)
  local act, where = model.last_activation, model.last_activation_path
  if loss == "cross_entropy" and act == "softmax" then
    fail(c, where, "softmax before cross_entropy, which applies softmax itself (remove it, "
      .. "or use loss: log_loss, which takes probabilities)")
  elseif loss == "bce_logits" and act == "sigmoid" then
    fail(c, where, "sigmoid before bce_logits, which applies sigmoid itself (remove it, "
      .. "or use loss: bce, which takes probabilities)")
  elseif loss == "log_loss" and act ~= "softmax" then
    fail(c, "loss", "log_loss takes probabilities: end the model with activation: softmax "
      .. "(or use cross_entropy, which applies softmax itself)")
  elseif loss == "bce" and act ~= "sigmoid" then
    fail(c, "loss", "bce takes probabilities: end the model with activation: sigmoid "
      .. "(or use bce_logits, which applies sigmoid itself)")
  end
end

local function combinations(c, r, meta, model)
  local loss = r.loss
  local out = model.output
  if loss and out then
    if (loss == "cross_entropy" or loss == "log_loss") and out < 2 then
      fail(c, "loss", "%s needs a network with 2 or more outputs, the model has %d%s", loss, out,
        loss == "cross_entropy" and " (for one output use bce_logits)" or "")
    elseif (loss == "cross_entropy" or loss == "log_loss") and meta.classes
      and meta.target_cols == 1 and out < meta.classes then
      fail(c, model.output_path or "model", "the network has %d outputs, the data has %d classes",
        out, meta.classes)
    elseif (loss == "mse" or loss == "bce" or loss == "bce_logits") and meta.target_cols
      and meta.target_cols ~= out then
      fail(c, "loss", "%s compares %d outputs with %d target column%s%s", loss, out,
        meta.target_cols, meta.target_cols == 1 and "" or "s",
        (meta.classes and meta.target_cols == 1 and not meta.binary)
          and " (class labels need cross_entropy or log_loss)" or "")
    end
  end
  if loss and type(r.model) == "table" and r.model.layers and out then
    check_output_activation(c, loss, model)
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
  local es = train and train.early_stopping
  if es and es.metric and es.metric:sub(1, 4) == "val_" and train.validation_split == 0 then
    fail(c, "train.early_stopping.metric", "'%s' needs train.validation_split > 0", es.metric)
  elseif es and es.metric == "val_accuracy" and loss and not CLASSIFYING[loss] then
    fail(c, "train.early_stopping.metric", "'val_accuracy' needs a classifying loss, not %s",
      loss)
  end
  local best = r.output and r.output.checkpoint_best
  if best and best:sub(1, 4) == "val_" and train and train.validation_split == 0 then
    fail(c, "output.checkpoint_best", "'%s' needs train.validation_split > 0", best)
  end
  local s, o = r.schedule, r.optimizer
  if type(s) == "table" and type(o) == "table" and s.min_lr and o.lr and s.min_lr > o.lr then
    fail(c, "schedule.min_lr", "must be <= optimizer.lr (%s), got %s", fmt_num(o.lr),
      fmt_num(s.min_lr))
  end
  if type(s) == "table" and type(o) == "table" and s.max_lr and o.lr and s.max_lr < o.lr then
    fail(c, "schedule.max_lr", "must be >= optimizer.lr (%s), got %s", fmt_num(o.lr),
      fmt_num(s.max_lr))
  end
  if type(s) == "table" and s.name == "plateau" and s.metric and s.metric:sub(1, 4) == "val_"
    and train and train.validation_split == 0 then
    fail(c, "schedule.metric", "'%s' needs train.validation_split > 0", s.metric)
  end
end

-- ---- public ------------------------------------------------------------------

-- config.resolve(exp [, opts]) -> resolved | nil, errors
--   opts.name: the default experiment name (e.g. the file's stem).
--   opts.file: the experiment's file: relative data paths that do not exist
--              from the current directory are taken relative to its
--              directory (nnrun.data.locate); the resolved table holds the
--              paths as opened.
-- errors: array of { path =, message = }.  The resolved table holds every
-- setting with its default written in; runtime objects given in a Lua
-- experiment (nn.dataset, nn.sequential, ...) are kept as they are.  YAML
-- nulls (yaml.null) as mapping values count as not given.
function M.resolve(exp, opts)
  opts = opts or {}
  local c = { errors = {} }
  if type(exp) ~= "table" or is_list(exp) then
    fail(c, "", "expected a mapping of experiment settings, got %s", describe(exp))
    return nil, c.errors
  end
  exp = without_nulls(exp)
  check_keys(c, exp, "", TOP_KEYS)
  local r = {}
  r.name = field(c, exp, "", "name", { type = "string", default = opts.name or "experiment",
    pattern = "^[%w_.-]+$",
    pattern_message = "may contain only letters, digits, '_', '-' and '.'" })
  r.seed = field(c, exp, "", "seed", { type = "integer", min = 0, default = 1 })
  r.threads = field(c, exp, "", "threads", { type = "integer", min = 0, max = 4096,
    default = 0 })
  local meta
  local before = #c.errors
  r.data, meta = resolve_data(c, exp.data, r.seed, opts.file and opts.file:match("^(.*)/[^/]*$"))
  meta.broken = #c.errors > before -- do not report what follows from it
  r.train = resolve_train(c, exp.train)
  local model
  r.model, model = resolve_model(c, exp.model, meta)
  r.loss = field(c, exp, "", "loss", { type = "string", enum = LOSSES, default = "mse" })
  r.optimizer = resolve_optimizer(c, exp.optimizer)
  r.schedule = resolve_schedule(c, exp.schedule, r.train)
  r.output = resolve_output(c, exp.output)
  r.parallel = resolve_parallel(c, exp.parallel, opts.ranks)
  combinations(c, r, meta, model)
  if #c.errors > 0 then
    return nil, c.errors
  end
  return r
end

-- config.complete(resolved, built) -> warning | nil
-- Fills in the defaults that need the data as read (built: { train, shape,
-- ... } of runner.build_data): model.input, when not given, the image shape
-- of the data (an IDX file's dimensions) when the first layer takes an
-- image, else the training set's features; a per-batch schedule's length
-- (config.schedule_length).
function M.complete(r, built)
  local m = r.model
  if type(m) == "table" and m.input == nil then
    local first = m.layers and M.nested_kind(m.layers[1])
    if first and IMAGE_KINDS[first] then
      m.input = built.shape and { table.unpack(built.shape) } -- nil: data.check_input says so
    else
      m.input = built.train:features()
    end
  end
  return M.schedule_length(r, (built.train:size() + r.train.batch_size - 1) // r.train.batch_size)
end

-- config.schedule_length(resolved, batches) -> warning | nil
-- Once the training set is read (batches: per epoch), a per-batch cosine
-- schedule without schedule.total gets the batches after its warm-up,
-- train.epochs * batches - warmup, so its length follows train.epochs.
-- The warning says when the learning rate reaches 0 before the last epoch.
function M.schedule_length(r, batches)
  local s = r.schedule
  if type(s) ~= "table" or (s.name ~= "cosine" and s.name ~= "one_cycle") then
    return nil
  end
  local per = s.per_batch and batches or 1
  if s.total == nil then
    s.total = math.max(1, r.train.epochs * per - s.warmup)
  end
  if s.name ~= "cosine" then
    return nil
  end
  local epoch = (s.warmup + s.total) // per + 1 -- of the first step at min_lr
  if s.min_lr == 0 and epoch < r.train.epochs then
    return string.format("the learning rate reaches 0 in epoch %d of %d (schedule.warmup %d + "
      .. "schedule.total %d %s); leave schedule.total out to follow train.epochs", epoch,
      r.train.epochs, s.warmup, s.total, s.per_batch and "batches" or "epochs")
  end
  return nil
end

-- config.object_note(resolved, file) -> nil, or why the config.yaml of the
-- resolved experiment cannot run again: the runtime objects a Lua
-- experiment passed (nn.dataset, nn.sequential, ...) are only written as
-- their descriptions.  "data.train, model and optimizer are Lua objects of
-- FILE (run that script instead)".
function M.object_note(r, file)
  local paths = {}
  local d = type(r.data) == "table" and r.data or {}
  for _, p in ipairs({ { d.train, "data.train" }, { d.test, "data.test" }, { r.model, "model" },
    { r.optimizer, "optimizer" }, { r.schedule, "schedule" } }) do
    if object_type(p[1]) then
      paths[#paths + 1] = p[2]
    end
  end
  if #paths == 0 then
    return nil
  end
  local list = #paths == 1 and paths[1]
    or (table.concat(paths, ", ", 1, #paths - 1) .. " and " .. paths[#paths])
  return string.format("%s %s Lua object%s of %s (run that script instead)", list,
    #paths == 1 and "is a" or "are", #paths == 1 and "" or "s", file or "the script")
end

-- One line for an error: "<where>: key.path: problem".  where is
-- opts.locate(path) -> "file:line:col" when it knows the key, else
-- opts.source (the file name).  The root's path "" is left out.
function M.format_error(e, opts)
  opts = opts or {}
  local where = opts.locate and opts.locate(e.path) or opts.source
  local s = e.path == "" and e.message or (e.path .. ": " .. e.message)
  if where then
    s = where .. ": " .. s
  end
  return s
end

-- config.locator(file, positions) -> locate(path) -> "file:line:col"
-- From the positions table of yaml.load: the key of path, else its value,
-- else the nearest located parent, else the document itself.
function M.locator(file, positions)
  return function(path)
    local p = path
    while p do
      local pos = positions[p .. "#key"] or positions[p]
      if pos then
        return string.format("%s:%d:%d", file, pos.line, pos.col)
      end
      p = p ~= "" and (p:match("^(.*)[.%[]") or "") or nil -- drop the last component
    end
    return nil
  end
end

-- config.load(path) -> experiment table, locate
-- Reads a YAML experiment (raising the reader's "file:line:col: message"
-- on bad YAML); locate(path) places config errors in the file.  The table
-- can be changed and then resolved, or returned from a Lua script:
--   local exp = config.load("experiments/digits03.yaml")
--   exp.optimizer.lr = 0.05
--   return exp
function M.load(path)
  local yaml = require("nnrun").yaml
  local doc, positions = yaml.load(path)
  return doc, M.locator(path, positions or {})
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

-- The canonical form of a key path: "model.layers.2.dense" gives
-- "model.layers[2].dense"; nil, message if malformed.
function M.canonical_path(path)
  local parts, err = M.split_path(path)
  if not parts then
    return nil, err
  end
  local p = ""
  for _, k in ipairs(parts) do
    p = join(p, k)
  end
  return p
end

-- config.set(exp, "optimizer.lr", 0.05) -> true, created | nil, message
-- Sets a value in an experiment table, creating missing mappings on the
-- way (created: the path of the first one, or nil).  A list index may be
-- at most one past the end (to append).  nil as value removes the key.
function M.set(exp, path, value)
  local parts, perr = M.split_path(path)
  if not parts then
    return nil, perr
  end
  local cur, done, created = exp, "", nil
  for i = 1, #parts do
    local k = parts[i]
    local here = done == "" and "the experiment" or done
    if math.type(k) == "integer" then
      if next(cur) ~= nil and not is_list(cur) then
        return nil, string.format("%s is a mapping, not a list", here)
      elseif k < 1 or k > #cur + 1 then
        return nil, string.format("%s has %d item%s (give an index from 1 to %d)", here, #cur,
          #cur == 1 and "" or "s", #cur + 1)
      end
    elseif is_list(cur) then
      return nil, string.format("%s is a list, not a mapping", here)
    end
    if i == #parts then
      break
    end
    done = join(done, k)
    local nxt = cur[k]
    if nxt == nil or nxt == NULL then
      nxt = {}
      cur[k] = nxt
      created = created or done
    elseif type(nxt) ~= "table" then
      return nil, string.format("cannot set a key inside %s (it is %s)", done, describe(nxt))
    end
    cur = nxt
  end
  cur[parts[#parts]] = value
  return true, created
end

-- config.parse_value(text, yaml) -> value | nil, message
-- The value of --set, read as one YAML scalar (yaml: the nnrun.yaml
-- module): 0.05, 3, true, relu, "3" (a string).  An empty value or null
-- gives nil: the key is removed and its default applies.  Without a
-- YAML module: true/false, null/~, numbers, quoted or bare strings.
function M.parse_value(s, yaml)
  if yaml and yaml.parse then
    local ok, v = pcall(yaml.parse, s)
    if not ok then
      local msg = tostring(v):match("^[^\n]-:%d+:%d+: ([^\n]*)") or tostring(v)
      return nil, string.format("cannot read the value '%s' (%s)", s, msg)
    elseif v == yaml.null then
      return nil
    elseif type(v) == "table" then
      return nil, string.format("the value '%s' is %s; give one scalar (set the keys one by "
        .. "one)", s, describe(v))
    end
    return v
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
