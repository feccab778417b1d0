-- nnrun.data: data sets read from files — the `data` section's sources
-- `idx`, `csv` and `fashion_mnist` (schema checks, called by nnrun.config)
-- and building them into train / validation / test sets (called by
-- nnrun.runner and `nnrun eval`).
--
--   data:
--     fashion_mnist: { dir: /usr/share/datasets/fashion-mnist }   # or {}
--     idx: { images: FILE, labels: FILE, classes: 10 }
--     csv: { path: FILE, label: NAME|INDEX, target: class|class_int|regression,
--            delimiter: ",", header: true,       # header: false: no names row
--            shape: [C, H, W] }                  # the features are images
--     test: { idx: {...} } | { csv: {...} }   # a separate test set (files)
--     normalize: none | scale | standardize  # statistics of the training split
--     stratify: true                          # splits keep class proportions
--     standardize_targets: false              # regression: learn (t - mean) / sd
--     test_split: 0.2                         # without a separate test set
--     seed: 1                                 # of the splits
--
-- Fashion-MNIST's test set is its t10k files.  The validation split is
-- train.validation_split, taken from what is left after the test split.
local M = {}

M.SOURCES = { "fashion_mnist", "idx", "csv" }
M.NORMALIZE = { "none", "scale", "standardize" }
M.FASHION_DIR = "/usr/share/datasets/fashion-mnist"
M.FASHION_SHAPE = { 1, 28, 28 }
M.FASHION_CLASSES = { "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
  "Sneaker", "Bag", "Ankle boot" }

-- The source key of d (a data section, or its `test`: "fashion_mnist",
-- "idx" or "csv"), the first one it has, or nil.  The resolved section
-- holds no other mark of its source, so config.yaml runs again as it is.
function M.kind(d)
  if type(d) ~= "table" then
    return nil
  end
  for _, k in ipairs(M.SOURCES) do
    if d[k] ~= nil then
      return k
    end
  end
  return nil
end

-- Is d (a data section) one that this module handles?
function M.is_file_source(d)
  return M.kind(d) ~= nil
end

-- The source sub-tables, by kind: spec of each key (see config's field).
local SOURCE_KEYS = {
  fashion_mnist = {
    { "dir", { type = "string", default = M.FASHION_DIR } },
  },
  idx = {
    { "images", { type = "string", required = true } },
    { "labels", { type = "string", required = true } },
    { "classes", { type = "integer", min = 0, max = 256, default = 0 } },
  },
  csv = {
    { "path", { type = "string", required = true } },
    { "label", { type = "label" } },
    { "target", { type = "string", enum = { "class", "class_int", "regression" },
      default = "class" } },
    { "delimiter", { type = "string", default = "," } },
    { "header", { type = "boolean", default = true } },
    { "shape", { type = "shape" } },
  },
}

-- Keys naming files (or, for fashion_mnist, a directory).
local FILE_KEYS = { path = true, images = true, labels = true, dir = true }

-- Whether p names something that exists (unreadable counts: the loader
-- says why).
local function exists(p)
  local f, err = io.open(p, "rb")
  if f then
    f:close()
    return true
  end
  return not tostring(err):find("No such file", 1, true)
end

-- data.locate(p, base) -> the path nnrun opens for p, or nil, why not.
-- The rule for relative paths: as given when that exists from the current
-- directory (as before), else relative to base, the experiment file's
-- directory (as a sweep's experiment: is relative to the sweep file).
function M.locate(p, base)
  if p:sub(1, 1) == "/" or exists(p) then
    return p
  end
  if base then
    local joined = base .. "/" .. p
    if exists(joined) then
      return joined
    end
    return nil, string.format("no such file '%s' (looked in the current directory and in %s/)",
      p, base)
  end
  return nil, string.format("no such file '%s'", p)
end

local function key_names(list)
  local names = {}
  for i, kv in ipairs(list) do
    names[i] = kv[1]
  end
  return names
end

-- Resolves one source table (kind = "idx" ...) at path; returns it or nil.
local function resolve_source(c, h, kind, v, path)
  if kind == "fashion_mnist" and (v == true or v == nil) then
    v = {}
  end
  if type(v) ~= "table" then
    h.fail(c, path, "expected a table, got %s", h.describe(v))
    return nil
  end
  local keys = SOURCE_KEYS[kind]
  h.check_keys(c, v, path, key_names(keys))
  local out = {}
  for _, kv in ipairs(keys) do
    local k, spec = kv[1], kv[2]
    if spec.type == "shape" then
      if v[k] ~= nil then
        out[k] = h.resolve_shape(c, v[k], path .. "." .. k)
      end
    elseif spec.type == "label" then
      local l = v[k]
      if l == nil then
        out[k] = -1
      elseif math.type(l) == "integer" and (l >= 1 or l == -1) then
        out[k] = l
      elseif type(l) == "string" and l ~= "" then
        out[k] = l
      else
        h.fail(c, path .. "." .. k, "expected a column name or an index from 1 (-1: the last), "
          .. "got %s", h.describe(l))
      end
    else
      out[k] = h.field(c, v, path, k, spec)
    end
    if FILE_KEYS[k] and type(out[k]) == "string" and v[k] ~= nil then
      local found, why = M.locate(out[k], h.base)
      if found then
        out[k] = found
      elseif kind ~= "fashion_mnist" then -- its loader says what to install
        h.fail(c, path .. "." .. k, "%s", why)
      end
    end
  end
  if out.header == false and type(out.label) == "string" then
    h.fail(c, path .. ".label", "a column name needs a header row (header: false: give its "
      .. "index from 1, or -1 for the last)")
  end
  if out.delimiter and #out.delimiter ~= 1 then
    h.fail(c, path .. ".delimiter", "must be one character, got %q", out.delimiter)
  end
  return out
end

-- Which source key a table uses (exactly one), or nil after an error.
local function one_source(c, h, d, path, allowed)
  local found = {}
  for _, k in ipairs(allowed) do
    if d[k] ~= nil then
      found[#found + 1] = k
    end
  end
  if #found > 1 then
    h.fail(c, path, "give one data source, got %s", table.concat(found, " and "))
    return nil
  elseif #found == 0 then
    h.fail(c, path, "missing a source (one of: %s)", table.concat(allowed, ", "))
    return nil
  end
  return found[1]
end

-- data.resolve(c, d, seed, h) -> resolved data section, meta
-- c: config's error collector; h: config's helpers (field, fail,
-- check_keys, describe) and base (the experiment file's directory, or nil).  meta: features, classes, target_cols when known.
function M.resolve(c, d, seed, h)
  local out, meta = {}, {}
  h.check_keys(c, d, "data", { "fashion_mnist", "idx", "csv", "test", "normalize", "stratify",
    "standardize_targets", "test_split", "seed" })
  local kind = one_source(c, h, d, "data", M.SOURCES)
  if not kind then
    return nil, meta
  end
  out[kind] = resolve_source(c, h, kind, d[kind], "data." .. kind)
  if kind == "fashion_mnist" then
    meta.features, meta.classes, meta.target_cols = 784, 10, 1
    meta.shape = M.FASHION_SHAPE
    if d.test ~= nil then
      h.fail(c, "data.test", "fashion_mnist has its own test set (t10k)")
    end
  elseif kind == "idx" then
    meta.target_cols = 1
    local n = out.idx and out.idx.classes
    meta.classes = (n and n > 0) and n or nil
  else
    meta.target_cols = 1
    meta.shape = out.csv and out.csv.shape
    meta.shape_key = "data.csv.shape"
  end
  -- The input width of a CSV or IDX file, and an IDX file's image shape,
  -- are known once it is read (config.complete fills in model.input).
  meta.features_later = kind ~= "fashion_mnist"
  meta.shape_later = kind == "idx"
  local regression = kind == "csv" and out.csv and out.csv.target == "regression"
  if d.test ~= nil then
    if type(d.test) ~= "table" then
      h.fail(c, "data.test", "expected a table such as { %s: {...} }, got %s", kind,
        h.describe(d.test))
    else
      local tk = one_source(c, h, d.test, "data.test", { "idx", "csv" })
      h.check_keys(c, d.test, "data.test", { "idx", "csv" })
      if tk then
        out.test = {}
        out.test[tk] = resolve_source(c, h, tk, d.test[tk], "data.test." .. tk)
        if out.test[tk] and out.test[tk].shape then
          h.fail(c, "data.test." .. tk .. ".shape", "the test set has the shape of the "
            .. "training data (give it as data.%s.shape)", kind)
        end
      end
    end
  end
  out.normalize = h.field(c, d, "data", "normalize", { type = "string", enum = M.NORMALIZE,
    default = kind == "csv" and "standardize" or "scale" })
  out.stratify = h.field(c, d, "data", "stratify", { type = "boolean", default = not regression })
  out.standardize_targets = h.field(c, d, "data", "standardize_targets", { type = "boolean",
    default = false })
  if out.standardize_targets and not regression then
    h.fail(c, "data.standardize_targets", "needs regression targets (data.csv.target: "
      .. "regression)")
  end
  if regression and out.stratify then
    h.fail(c, "data.stratify", "needs class labels (data.csv.target is regression)")
  end
  local has_test = kind == "fashion_mnist" or d.test ~= nil
  out.test_split = h.field(c, d, "data", "test_split", { type = "number", min = 0, lt = 1,
    default = has_test and 0 or 0.2 })
  if has_test and out.test_split and out.test_split > 0 then
    h.fail(c, "data.test_split", "the data has a separate test set already")
  end
  out.seed = h.field(c, d, "data", "seed", { type = "integer", min = 0, default = seed or 1 })
  return out, meta
end

-- ---- building (needs the nnrun module) -------------------------------------

-- loader(opts), a failure raised as { exit =, message = } without the
-- position in this file: "bad.csv:3: column 2 ('b'): 'zz' is not a number"
-- (exit 1 when the file could not be read, 2 when it is malformed).
local function read(nn, loader, opts)
  local ok, v = pcall(loader, opts)
  if ok then
    return v
  end
  local class = nn.error_class(v)
  local msg = type(v) == "string" and v:gsub("^[^\n]-%.lua:%d+: ", "") or tostring(v)
  error({ exit = (class == "io" or class == "nomem") and 1 or 2, message = msg }, 0)
end

-- classes: the training set's class names, so that a CSV test file numbers
-- text classes the same way.
local function load_source(nn, kind, s, split, classes)
  if kind == "fashion_mnist" then
    return read(nn, nn.datasets.fashion_mnist, { split = split, dir = s.dir })
  elseif kind == "idx" then
    return read(nn, nn.datasets.idx, { images = s.images, labels = s.labels,
      classes = s.classes })
  end
  return read(nn, nn.datasets.csv, { path = s.path, label = s.label, target = s.target,
    delimiter = s.delimiter, header = s.header, classes = s.target == "class" and classes or nil })
end
M.load_source = load_source

-- data.load_test(d) -> the test set of a resolved file data section as
-- stored (no normalisation), or nil when it is split off the source.
function M.load_test(nn, d, classes)
  if M.kind(d) == "fashion_mnist" then
    return load_source(nn, "fashion_mnist", d.fashion_mnist, "test")
  elseif d.test then
    local tk = M.kind(d.test)
    return load_source(nn, tk, d.test[tk], "test", classes)
  end
  return nil
end

-- The name of the data a class count (labels) or the features (inputs)
-- come from: the file of its labels, resp. of its images; nil for data
-- that is not read from files.
local function source_name(d, what)
  local kind = M.kind(d)
  if kind == "csv" then
    return d.csv.path
  elseif kind == "idx" then
    return what == "labels" and d.idx.labels or d.idx.images
  end
  return kind and "Fashion-MNIST" or nil
end

-- data.check_input(r, built) -> nil | key path, message
-- The data as read (built by data.build or runner.build_data) against
-- model.input of a table model, before the network is built: data.csv.shape
-- and model.input give as many features as the data has, and a first layer
-- that takes an image has one (config.complete took the data's if any).
function M.check_input(r, built)
  local config = require "nnrun.config"
  local d, m = r.data, r.model
  local features, name = built.train:features(), (source_name(d, "inputs") or "data.train")
  local function mismatch(path, input)
    if type(input) == "table" then
      return path, string.format("is %s (%d features), but %s has %d features",
        config.shape_text(input), config.input_width(input), name, features)
    end
    return path, string.format("is %d, but %s has %d features", input, name, features)
  end
  local shape = M.kind(d) == "csv" and d.csv.shape
  if shape and config.input_width(shape) ~= features then
    return mismatch("data.csv.shape", shape)
  end
  if type(m) ~= "table" then
    return nil
  end
  if m.input == nil then
    return "model.input", string.format("missing: the first layer (%s) takes an image [C, H, W], "
      .. "and %s has no image shape (give model.input%s)", config.nested_kind(m.layers[1]), name,
      M.kind(d) == "csv" and " or data.csv.shape" or "")
  end
  if config.input_width(m.input) ~= features then
    return mismatch("model.input", m.input)
  end
  return nil
end

-- data.check(r, built, net) -> nil | key path, message
-- The data as read against the network, before a run starts: its features
-- are the inputs of a network a Lua experiment gave (a table model's are
-- checked by data.check_input), and under cross_entropy and log_loss its
-- one-column class labels are below the network's outputs.
function M.check(r, built, net)
  local d = r.data
  local features, inputs = built.train:features(), net:input_size()
  if features ~= inputs then
    return "model", string.format("the network takes %d inputs, but %s has %d features", inputs,
      (source_name(d, "inputs") or "data.train"), features)
  end
  local outputs = net:output_size()
  if r.loss ~= "cross_entropy" and r.loss ~= "log_loss" then
    return nil
  end
  local test_name = type(d.test) == "table" and source_name(d.test, "labels")
  for _, set in ipairs({ { built.train, source_name(d, "labels") or "data.train" },
    { built.val, source_name(d, "labels") or "data.train" },
    { not built.test_is_train and built.test, test_name or source_name(d, "labels") or "data.test" } }) do
    local n = set[1] and set[1]:class_count()
    if n and n > outputs then
      local path = "model"
      for i, l in ipairs(type(r.model) == "table" and r.model.layers or {}) do
        if l.dense then
          path = string.format("model.layers[%d].dense", i)
        end
      end
      return path, string.format("the network has %d outputs, %s has %d classes", outputs,
        set[2], n)
    end
  end
  return nil
end

-- data.build(r) -> { train, val, test, test_is_train, class_names }:
-- loads the source, splits off test (unless separate) and validation
-- (train.validation_split) sets, seeded and stratified as configured, and
-- normalises the training set, applying its statistics to the others.
function M.build(r)
  local nn = require "nnrun"
  local d = r.data
  local kind = M.kind(d)
  local full = load_source(nn, kind, d[kind], "train")
  local names = full:class_names()
  local opts = { stratify = d.stratify }
  local train, test = full, M.load_test(nn, d, names)
  if test == nil and d.test_split > 0 then
    train, test = full:split(d.test_split, d.seed, opts)
  end
  local val
  local vs = r.train and r.train.validation_split or 0
  if vs > 0 then
    train, val = train:split(vs, d.seed + 1, opts)
  end
  train:normalize(d.normalize)
  if val then
    val:normalize_like(train)
  end
  if test then
    test:normalize_like(train)
  end
  local targets
  if d.standardize_targets then
    -- The network learns (t - mean) / sd of the training split; the
    -- reported figures are in the data's units (data.destandardize).
    local mean, sd = train:target_stats()
    targets = { shift = mean, scale = sd }
    for _, set in ipairs({ train, val or false, test or false }) do
      if set then
        set:scale_targets(mean, sd)
      end
    end
  end
  -- The image shape of the inputs: the CSV's declared one, or what the
  -- loader knows (an IDX file's dimensions, Fashion-MNIST's 1x28x28).
  local shape = kind == "csv" and d.csv.shape or full:shape()
  return { train = train, val = val, test = test or train, test_is_train = test == nil,
    class_names = names, targets = targets, shape = shape }
end

-- data.checkpoint_meta(built) -> the checkpoint metadata that `nnrun eval`
-- needs to read data as the run did: { data = YAML text of class_names
-- (text classes) and target_shift, target_scale (standardised targets) },
-- or nil.
function M.checkpoint_meta(built)
  local nn = require "nnrun"
  local t = { class_names = built.class_names }
  if built.targets then
    t.target_shift, t.target_scale = built.targets.shift, built.targets.scale
  end
  if next(t) == nil or not (nn.yaml and nn.yaml.dump) then
    return nil
  end
  return { data = nn.yaml.dump(t) }
end

-- data.from_checkpoint(info) -> class_names, targets ({ shift, scale } or nil),
-- from the metadata of nn.load.
function M.from_checkpoint(info)
  local nn = require "nnrun"
  local text = info and info.meta and info.meta.data
  if not text or not (nn.yaml and nn.yaml.parse) then
    return nil, nil
  end
  local ok, t = pcall(nn.yaml.parse, text)
  if not ok or type(t) ~= "table" then
    return nil, nil
  end
  local targets = type(t.target_shift) == "table" and type(t.target_scale) == "table"
    and { shift = t.target_shift, scale = t.target_scale } or nil
  return type(t.class_names) == "table" and t.class_names or nil, targets
end

-- data.destandardize(m, targets) -> m with the regression figures of
-- nn.metrics in the data's units: the network's outputs y' are y' * scale +
-- shift, so the loss and MSE (mse) scale by scale^2, MAE by scale, and R^2
-- is unchanged (one target column).
function M.destandardize(m, targets)
  if not targets or m.classification or #targets.scale ~= 1 then
    return m
  end
  local s = targets.scale[1]
  m.loss, m.mse, m.mae = m.loss * s * s, m.mse * s * s, m.mae * s
  return m
end

return M
