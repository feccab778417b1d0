-- nnrun.eval: the figures of a trained model on a data set — the summary
-- fields of a run's test set, the confusion matrix as a table and as CSV —
-- and the `nnrun eval MODEL DATA` command.
--
--   nnrun eval MODEL DATA [--top-k K] [--quiet]
--     MODEL  a checkpoint (a run's model.nnrun or best.nnrun, or net:save)
--     DATA   an experiment (.yaml/.yml/.lua) whose data section gives the
--            test set (as in training), or a CSV file (.csv/.csv.gz; the
--            last column is the class), or IMAGES LABELS, two IDX files.
-- The inputs are normalised with the statistics stored in the checkpoint;
-- the loss is read from the checkpoint's config (cross_entropy for a
-- classifier without one, mse otherwise).
local nn = require "nnrun"
local options = require "nnrun.options"
local util = require "nnrun.util"

local M = {}

-- The summary.json fields of metrics m (prefix "test_").
function M.summary_fields(m, prefix)
  prefix = prefix or "test_"
  local f = {}
  f[prefix .. "loss"] = m.loss
  if m.classification then
    f[prefix .. "accuracy"] = m.accuracy
    if m.classes > m.top_k then
      f[prefix .. "top" .. m.top_k .. "_accuracy"] = m.top_k_accuracy
    end
    f[prefix .. "macro_f1"] = m.macro_f1
  else
    f[prefix .. "mse"], f[prefix .. "mae"], f[prefix .. "r2"] = m.mse, m.mae, m.r2
  end
  return f
end

local function name_of(names, i)
  return names and names[i] or tostring(i - 1)
end

-- The confusion matrix and per-class figures as a text table:
-- rows are the true classes, columns the predicted ones (by number).
function M.confusion_table(m, names)
  local c = m.classes
  local lines = {}
  local label_w = 5
  for i = 1, c do
    label_w = math.max(label_w, #name_of(names, i) + #tostring(i - 1) + 1)
  end
  local cell_w = 4
  for i = 1, c do
    for j = 1, c do
      cell_w = math.max(cell_w, #tostring(m.confusion[i][j]))
    end
  end
  local head = { string.format("%-" .. label_w .. "s", "true\\pred") }
  for j = 1, c do
    head[#head + 1] = string.format("%" .. cell_w .. "d", j - 1)
  end
  head[#head + 1] = "  precision recall     f1"
  lines[1] = "confusion matrix (rows: true class, columns: predicted class)"
  lines[2] = table.concat(head, " ")
  for i = 1, c do
    local row = { string.format("%-" .. label_w .. "s",
      names and string.format("%d %s", i - 1, names[i]) or tostring(i - 1)) }
    for j = 1, c do
      row[#row + 1] = string.format("%" .. cell_w .. "d", m.confusion[i][j])
    end
    row[#row + 1] = string.format("  %9.3f %6.3f %6.3f", m.precision[i], m.recall[i], m.f1[i])
    lines[#lines + 1] = table.concat(row, " ")
  end
  return table.concat(lines, "\n") .. "\n"
end

-- A CSV field: quoted when it holds a comma, a quote or a line end.
local function csv_field(s)
  s = tostring(s)
  if s:find('[,"\n\r]') then
    return '"' .. s:gsub('"', '""') .. '"'
  end
  return s
end
M.csv_field = csv_field

-- confusion.csv: a header of the predicted class names, then one row per
-- true class: its name and its counts.
function M.confusion_csv(m, names)
  local lines = {}
  local head = { "true\\predicted" }
  for j = 1, m.classes do
    head[#head + 1] = csv_field(name_of(names, j))
  end
  lines[1] = table.concat(head, ",")
  for i = 1, m.classes do
    local row = { csv_field(name_of(names, i)) }
    for j = 1, m.classes do
      row[#row + 1] = tostring(m.confusion[i][j])
    end
    lines[#lines + 1] = table.concat(row, ",")
  end
  return table.concat(lines, "\n") .. "\n"
end

-- One line of the main figures.
function M.figures_line(m)
  if m.classification then
    local s = string.format("loss %.4f, accuracy %.2f%%", m.loss, 100 * m.accuracy)
    if m.classes > m.top_k then
      s = s .. string.format(", top-%d accuracy %.2f%%", m.top_k, 100 * m.top_k_accuracy)
    end
    return s .. string.format(", macro F1 %.4f (%d samples)", m.macro_f1, m.samples)
  end
  return string.format("loss %.6g, MSE %.6g, MAE %.6g, R² %.4f (%d samples)", m.loss, m.mse,
    m.mae, m.r2, m.samples)
end

-- ---- nnrun eval ----------------------------------------------------------------

local usage_error = options.usage_error
local csv_data

M.usage = [[
usage: nnrun eval MODEL DATA [options]
       nnrun eval MODEL IMAGES LABELS [options]

MODEL is a checkpoint (model.nnrun, best.nnrun).  DATA is an experiment
(.yaml, .yml, .lua) whose test set is used, or a CSV file (read with the
data.csv options the model was trained with, text classes numbered by the
model's class names); IMAGES LABELS are two IDX files.

options:
  --label COL   the CSV's label column, a name or an index from 1 (-1: the
                last; default: the training's, else the last)
  --target T    class, class_int or regression (default: the training's)
  --delimiter C the CSV's field delimiter (default: the training's, else ,)
  --header B    true: the first line names the columns; false: it is data
                (default: the training's, else true)
  --top-k K     k of the top-k accuracy (default 5)
  --loss NAME   the loss to report (default: the checkpoint's)
  --threads N   threads of the numerical kernels
  --quiet       print only the figures line]]

local OPTIONS = {
  options.THREADS, options.QUIET, options.DEBUG, options.HELP,
  { "--top-k", key = "top_k", value = "count", min = 1 },
  { "--loss", key = "loss", value = "string" },
  { "--label", key = "label", value = "string" },
  { "--target", key = "target", value = { "class", "class_int", "regression" } },
  { "--delimiter", key = "delimiter", value = "string" },
  { "--header", key = "header", value = { "true", "false" } },
}

-- eval.parse(args) -> options; args[1] == "eval".
function M.parse(args)
  return options.parse(args, 2, OPTIONS, { command = "nnrun eval",
    init = { files = {}, top_k = 5 } })
end

-- The loss and the data section from the config text of a checkpoint.
local function from_config(text)
  if not text then
    return nil
  end
  local loss = text:match("\nloss: *\"?([%w_]+)") or text:match("^loss: *\"?([%w_]+)")
  return loss
end

local function strip_nulls(v, null)
  if v == null then
    return nil
  end
  if type(v) == "table" then
    for k, x in pairs(v) do
      v[k] = strip_nulls(x, null)
    end
  end
  return v
end

-- The experiment table of a .lua or .yaml file.
local function load_experiment(file)
  if util.extension(file) == "lua" then
    local chunk, err = loadfile(file, "t")
    if not chunk then
      usage_error("%s", err)
    end
    local exp = chunk({ file = file, quiet = true, debug = false })
    if type(exp) ~= "table" then
      usage_error("%s: the script returns no experiment table", file)
    end
    return exp
  end
  if not (nn.yaml and nn.yaml.load) then
    usage_error("%s: this nnrun was built without YAML support", file)
  end
  local ok, doc = pcall(nn.yaml.load, file)
  if not ok then
    usage_error("%s", (tostring(doc):match("^[^\n]*")))
  end
  doc = strip_nulls(doc, nn.yaml.null)
  if type(doc) ~= "table" then
    usage_error("%s: a YAML file holds an experiment mapping", file)
  end
  return doc
end

-- The test set of an experiment file, built as its run builds it.
local function experiment_test(file)
  local exp = load_experiment(file)
  local config = require "nnrun.config"
  local r, errs = config.resolve(exp, { name = util.stem(file), file = file })
  if not r then
    usage_error("%s", config.format_error(errs[1], { source = file }))
  end
  local d = r.data
  local data = require "nnrun.data"
  local kind = data.kind(d)
  if kind then
    local full = data.load_source(nn, kind, d[kind], "train")
    local names = full:class_names()
    local test = data.load_test(nn, d, names)
    if not test and d.test_split > 0 then
      local _
      _, test = full:split(d.test_split, d.seed, { stratify = d.stratify })
    end
    test = test or full -- the run measured its test figures on the training data
    return test, names, r.loss
  end
  local runner = require "nnrun.runner"
  local built = runner.build_data(r)
  return built.test, nil, r.loss
end

-- fn(...), with a failure (a bad file) raised as a usage error: one line
-- without the Lua position.
local function try(fn, ...)
  local r = table.pack(pcall(fn, ...))
  if not r[1] then
    local e = r[2]
    if type(e) == "table" then
      error(e, 0)
    end
    usage_error("%s", (tostring(e):gsub("^[^\n]-%.lua:%d+: ", ""):match("^[^\n]*")))
  end
  return table.unpack(r, 2, r.n)
end

-- The data.csv section of a checkpoint's config text, or {}.
local function trained_csv(text)
  local ok, t = pcall(function() return nn.yaml.parse(text) end)
  local d = ok and type(t) == "table" and type(t.data) == "table" and t.data or {}
  return type(d.csv) == "table" and d.csv or {}
end

-- A CSV file as the model was trained on (its data.csv options, unless
-- given) -> data set, class names, unlabelled.  Text classes are numbered
-- by the checkpoint's class names.  With no_label, a file whose columns
-- are exactly the model's inputs is read without a label column.
csv_data = function(o, file, net, info, no_label)
  local data = require "nnrun.data"
  local trained = info.config and trained_csv(info.config) or {}
  local names = data.from_checkpoint(info)
  local label = o.label and (math.tointeger(tonumber(o.label)) or o.label) or trained.label
  if math.type(label) == "integer" and not (label >= 1 or label == -1) then
    usage_error("option --label needs a column name or an index from 1 (-1: the last), got '%s'",
      o.label)
  end
  if o.delimiter and #o.delimiter ~= 1 then
    usage_error("option --delimiter needs one character, got '%s'", o.delimiter)
  end
  local target = o.target or trained.target or (names and "class")
    or (net:output_size() >= 2 and "class_int" or "regression")
  if target == "class" and not names and net:output_size() >= 2 then
    usage_error("%s: the model has no class names to number text classes by (use --target "
      .. "class_int for integer classes)", file)
  end
  local header = trained.header ~= false
  if o.header then
    header = o.header == "true"
  end
  local spec = { path = file, label = label or -1, target = target,
    delimiter = o.delimiter or trained.delimiter or ",", header = header }
  if not no_label then
    return data.load_source(nn, "csv", spec, "test", names), names
  end
  -- Inputs only when every column is one; else the labelled reading.  When
  -- both fail, the labelled reading's message, unless the file has no
  -- such label column (then the other's: a bad value, the wrong width).
  local bare = util.copy(spec)
  bare.label = false
  local bok, set = pcall(data.load_source, nn, "csv", bare, "test")
  if bok and set:features() == net:input_size() then
    return set, names, true
  end
  local lok, lset = pcall(data.load_source, nn, "csv", spec, "test", names)
  if lok then
    return lset, names
  end
  local lmsg = type(lset) == "table" and lset.message or tostring(lset)
  if lmsg:find(": no column named '", 1, true) or lmsg:find(") is out of range (the file has", 1, true) then
    if bok then
      usage_error("%s: the data has %d features, the model takes %d", file, set:features(),
        net:input_size())
    end
    error(set, 0)
  end
  error(lset, 0)
end

local function check_file(path)
  local f, err = io.open(path, "rb")
  if not f then
    usage_error("%s", err)
  end
  f:close()
end

-- eval.main(o) -> exit status, o from eval.parse.  Usage errors are
-- raised as { exit = 2, message = }.
function M.main(o)
  if #o.files < 2 or #o.files > 3 then
    usage_error("eval needs MODEL and DATA (see nnrun eval --help)")
  end
  if o.threads then
    nn.set_threads(o.threads)
  end
  local model = o.files[1]
  check_file(model)
  local net, info = try(nn.load, model)
  local data, names, loss = M.load_data(o, net, info)
  loss = o.loss or from_config(info.config) or loss
    or (net:output_size() >= 2 and "cross_entropy" or "mse")
  if info.norm then
    data:normalize_like(info.norm)
  end
  local _, targets = require("nnrun.data").from_checkpoint(info)
  if targets and data:target_cols() == #targets.scale then
    data:scale_targets(targets.shift, targets.scale) -- as the model learnt them
  end
  local m = require("nnrun.data").destandardize(try(nn.metrics, net, data, loss,
    { top_k = o.top_k }), targets)
  io.stdout:write(string.format("%s on %s: %s\n", model, table.concat(o.files, " ", 2),
    M.figures_line(m)))
  if m.classification and not o.quiet then
    io.stdout:write(M.confusion_table(m, names or data:class_names()))
  end
  return 0
end

-- Whether path names an IDX file ("...-ubyte", ".idx", with or without
-- ".gz"), the way MNIST and Fashion-MNIST name theirs.
local function is_idx(path)
  local base = util.basename(path):lower():gsub("%.gz$", "")
  return base:match("ubyte$") ~= nil or base:match("%.idx[0-9]?$") ~= nil
end

-- eval.load_data(o, net, info [, no_label]) -> data set (not normalised),
-- class names, the experiment's loss, unlabelled: DATA of o.files[2..] for
-- the model net (nn.load's info) as nnrun eval and nnrun predict read it.
-- Usage errors raised.
function M.load_data(o, net, info, no_label)
  local data, names, loss, unlabelled
  if #o.files == 3 then
    check_file(o.files[2])
    check_file(o.files[3])
    data = try(nn.datasets.idx, { images = o.files[2], labels = o.files[3] })
  else
    local file = o.files[2]
    check_file(file)
    local ext = util.extension(file)
    if ext == "gz" then
      ext = util.extension(file:sub(1, -4))
    end
    if ext == "csv" then
      data, names, unlabelled = csv_data(o, file, net, info, no_label)
    elseif ext == "yaml" or ext == "yml" or ext == "lua" then
      data, names, loss = try(experiment_test, file)
    elseif no_label and is_idx(file) then
      data, unlabelled = try(nn.datasets.idx, { images = file, labels = false }), true
    elseif is_idx(file) then
      usage_error("%s: IDX images need their labels file too (nnrun eval MODEL IMAGES LABELS)",
        file)
    else
      usage_error("%s: unsupported data file (expected an experiment .yaml/.yml/.lua, a .csv, "
        .. "or IDX images%s)", file, no_label and " (and labels)" or " and labels")
    end
  end
  if data:features() ~= net:input_size() then
    usage_error("%s: the data has %d features, the model takes %d", o.files[2], data:features(),
      net:input_size())
  end
  return data, names, loss, unlabelled
end
M.from_config, M.try, M.check_file = from_config, try, check_file

return M
