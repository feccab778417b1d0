-- nnrun.predict: `nnrun predict MODEL DATA [--out FILE]`, the outputs of a
-- trained model on new data as CSV.
--
--   classification  a `prediction` column (the class name: the model's
--                   class names, else the class index from 0) and one
--                   p_<class> column per class: softmax of the outputs
--                   (cross_entropy), the outputs themselves (log_loss), or
--                   1 - p, p for one output under bce (p = sigmoid(y)
--                   under bce_logits)
--   regression      one column per target (target_1, ...; the CSV's label
--                   name for one), in the data's units (de-standardised
--                   when the model learnt standardised targets)
-- DATA is read as nnrun eval reads it (nnrun.eval.load_data); a CSV may
-- lack the label column, IDX images their labels file.  The checkpoint's normalisation is applied by
-- net:predict.  Numbers are written with %.9g (a float32 round trips).
local nn = require "nnrun"
local options = require "nnrun.options"
local util = require "nnrun.util"
local eval = require "nnrun.eval"

local M = {}

M.usage = [[
usage: nnrun predict MODEL DATA [options]
       nnrun predict MODEL IMAGES [LABELS] [options]

The model's outputs on DATA as CSV (stdout, or --out FILE written
atomically).  A classifier gives a `prediction` column (the class name)
and one p_<class> column per class; a regression model one column per
target, in the data's units.  MODEL is a checkpoint (model.nnrun,
best.nnrun).  DATA is a CSV file (read with the data.csv options the model
was trained with; the label column may be absent), an experiment (.yaml,
.yml, .lua) whose test set is used, or IMAGES, an IDX file (named
...-ubyte or .idx, plain or .gz; a LABELS file after it is allowed and
not needed).

options:
  --out FILE    write the CSV to FILE instead of stdout
  --label COL   the CSV's label column, a name or an index from 1 (-1: the
                last; default: the training's, else the last)
  --target T    class, class_int or regression (default: the training's)
  --delimiter C the CSV's field delimiter (default: the training's, else ,)
  --header B    true: the first line names the columns; false: it is data
                (default: the training's, else true)
  --loss NAME   the loss the model was trained with (default: the
                checkpoint's), which says how outputs become probabilities
  --threads N   threads of the numerical kernels]]

local OPTIONS = {
  options.THREADS, options.DEBUG, options.HELP,
  { "--out", key = "out", value = "string" },
  { "--loss", key = "loss", value = { "mse", "cross_entropy", "bce", "bce_logits", "log_loss",
    "nll" } },
  { "--label", key = "label", value = "string" },
  { "--target", key = "target", value = { "class", "class_int", "regression" } },
  { "--delimiter", key = "delimiter", value = "string" },
  { "--header", key = "header", value = { "true", "false" } },
}

-- predict.parse(args) -> options; args[1] == "predict".
function M.parse(args)
  return options.parse(args, 2, OPTIONS, { command = "nnrun predict", init = { files = {} } })
end

local csv_field = eval.csv_field

local function num(v)
  return string.format("%.9g", v)
end

-- The probabilities of one row of outputs y (a list) under loss.
local function probabilities(y, loss)
  if #y == 1 then
    local p = loss == "bce_logits" and 1 / (1 + math.exp(-y[1])) or y[1]
    return { 1 - p, p }
  elseif loss == "log_loss" or loss == "nll" then
    return y
  end
  local m = -math.huge
  for _, v in ipairs(y) do
    m = math.max(m, v)
  end
  local p, sum = {}, 0
  for j, v in ipairs(y) do
    p[j] = math.exp(v - m)
    sum = sum + p[j]
  end
  for j = 1, #p do
    p[j] = p[j] / sum
  end
  return p
end

-- predict.csv(net, info, x, opts) -> CSV text: the predictions for the raw
-- inputs x (a Tensor); opts.loss, opts.names (class names), opts.label (the
-- target's name for one regression output).
function M.csv(net, info, x, opts)
  local loss = opts.loss
  local C = net:output_size()
  local classify = C >= 2 and loss ~= "mse" or loss == "bce" or loss == "bce_logits"
  local y = net:predict(x):totable()
  local lines = {}
  if classify then
    local K = C >= 2 and C or 2
    local names = {}
    for k = 1, K do
      names[k] = opts.names and opts.names[k] or tostring(k - 1)
    end
    local head = { "prediction" }
    for k = 1, K do
      head[k + 1] = csv_field("p_" .. names[k])
    end
    lines[1] = table.concat(head, ",")
    for r, row in ipairs(y) do
      local p = probabilities(row, loss)
      local best = 1
      for k = 2, K do
        if p[k] > p[best] then
          best = k
        end
      end
      local out = { csv_field(names[best]) }
      for k = 1, K do
        out[k + 1] = num(p[k])
      end
      lines[r + 1] = table.concat(out, ",")
    end
  else
    local _, targets = require("nnrun.data").from_checkpoint(info)
    local head = {}
    for j = 1, C do
      head[j] = C == 1 and opts.label and csv_field(opts.label) or ("target_" .. j)
    end
    lines[1] = table.concat(head, ",")
    for r, row in ipairs(y) do
      local out = {}
      for j, v in ipairs(row) do
        if targets and targets.scale[j] then
          v = v * targets.scale[j] + targets.shift[j]
        end
        out[j] = num(v)
      end
      lines[r + 1] = table.concat(out, ",")
    end
  end
  return table.concat(lines, "\n") .. "\n"
end

-- The name of the label column the model was trained with, if a name.
local function label_name(o, info)
  if o.label and not tonumber(o.label) then
    return o.label
  end
  local ok, t = pcall(function() return nn.yaml.parse(info.config) end)
  local csv = ok and type(t) == "table" and type(t.data) == "table" and t.data.csv
  return type(csv) == "table" and type(csv.label) == "string" and csv.label or nil
end

-- predict.main(o) -> exit status, o from predict.parse.
function M.main(o)
  if #o.files < 2 or #o.files > 3 then
    options.usage_error("predict needs MODEL and DATA (see nnrun predict --help)")
  end
  if o.out == "" then
    options.usage_error("option --out needs a file name, got an empty string")
  end
  if o.threads then
    nn.set_threads(o.threads)
  end
  local model = o.files[1]
  eval.check_file(model)
  local net, info = eval.try(nn.load, model)
  local data, names, loss = eval.load_data(o, net, info, true)
  loss = o.loss or eval.from_config(info.config) or loss
    or (net:output_size() >= 2 and "cross_entropy" or "mse")
  names = names or data:class_names() or require("nnrun.data").from_checkpoint(info)
  if names and #names == 0 then
    names = nil
  end
  local text = M.csv(net, info, data:x(), { loss = loss, names = names,
    label = info.config and label_name(o, info) })
  if o.out then
    local ok, err = util.write_file(o.out, text)
    if not ok then
      error({ exit = 1, message = err }, 0)
    end
  else
    io.stdout:write(text)
  end
  return 0
end

return M
