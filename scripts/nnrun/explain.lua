-- nnrun.explain: `nnrun explain FILE`, the model summary before the first
-- epoch: the resolved experiment, a layer table (kind, output shape,
-- parameters, read from the built network), the total parameters (the
-- number summary.json reports), memory for the batch size, steps per epoch
-- and the learning-rate schedule drawn in the terminal (and as lr.png with
-- --out).  Nothing is trained.
local nn = require "nnrun"
local options = require "nnrun.options"

local M = {}

M.usage = [[
usage: nnrun explain FILE [options]

The model summary of an experiment (.yaml, .yml, or a .lua returning an
experiment table), without training: the resolved experiment, the layers
with their output shapes and parameters, the total parameters, the memory a
batch needs, the steps per epoch and the learning-rate schedule.

options:
  --set KEY.PATH=VALUE override a value of the experiment (repeatable)
  --seed N             seed of the experiment
  --out DIR            also draw the schedule as DIR/lr.png (gnuplot)
  --quiet              leave out the resolved experiment
  --debug              show Lua tracebacks with errors]]

local OPTIONS = { options.SET, options.SEED, options.OUT, options.QUIET, options.DEBUG,
  options.HELP }

function M.parse(args)
  return options.parse(args, 2, OPTIONS, { command = "nnrun explain", init = { set = {} },
    positional = function(o, a)
      if o.file then
        options.usage_error("unexpected argument '%s' (one FILE only; see nnrun explain --help)", a)
      end
      o.file = a
    end })
end

-- "1.5 MiB"
function M.bytes(n)
  local units = { "B", "KiB", "MiB", "GiB", "TiB" }
  local i = 1
  while n >= 1024 and i < #units do
    n, i = n / 1024, i + 1
  end
  return i == 1 and string.format("%d B", n) or string.format("%.1f %s", n, units[i])
end

-- 1234567 -> "1,234,567"
function M.count(n)
  local s = tostring(math.tointeger(n) or n)
  local head, tail = s:match("^(%-?%d+)(.*)$")
  head = head:reverse():gsub("(%d%d%d)", "%1,"):reverse():gsub("^(%-?),", "%1")
  return head .. tail
end

-- The layers of a network as the binding describes them: { name, kind,
-- outputs, shape, params, state }, the counts and the output shape
-- {C, H, W} the runtime gives for each layer.
function M.layers(net)
  local out = {}
  for i = 1, net:layer_count() do
    local l = net:layer(i)
    out[i] = { name = l.kind == "activation" and l.activation or l.kind, kind = l.kind,
      outputs = l.outputs, inputs = l.inputs, shape = l.shape, params = l.params or 0,
      state = l.state or 0 }
  end
  return out
end

-- "(B, 32, 14, 14)" for a batch of images {C, H, W}; "(B, 128)" for
-- feature vectors ({n, 1, 1}).
function M.shape_text(shape)
  if shape[2] == 1 and shape[3] == 1 then
    return string.format("(B, %d)", shape[1])
  end
  return string.format("(B, %d, %d, %d)", shape[1], shape[2], shape[3])
end

-- Floats of optimiser state per parameter: the slots of the optimiser's
-- state block once bound to the network (nil: stateless).
local function state_slots(opt, net)
  opt:bind(net)
  local st = opt:state()
  return st and st:shape()[1] or 0
end

-- The learning rate of every step of training: { lr, ... }, the unit
-- ("batch" or "epoch") and the number of warm-up steps.
function M.schedule(r, steps_per_epoch, lr0)
  local sched = require("nnrun.runner").build_schedule(r)
  local s = r.schedule
  local n = r.train.epochs * (s.per_batch and steps_per_epoch or 1)
  local lrs = {}
  for step = 0, n - 1 do
    lrs[#lrs + 1] = sched:lr(step, lr0)
  end
  return lrs, s.per_batch and "batch" or "epoch", s.warmup or 0
end

-- The schedule lrs drawn in the terminal: rows of width columns, the
-- warm-up columns drawn with '/'.
function M.chart(lrs, warmup, unit, width, height)
  width, height = width or 60, height or 8
  local hi, lo = -math.huge, math.huge
  for _, v in ipairs(lrs) do
    hi, lo = math.max(hi, v), math.min(lo, v)
  end
  lo = math.min(lo, 0)
  local n = #lrs
  local per = math.max(1, width // n) -- columns per step of a short schedule
  width = n < width and n * per or width
  local cols = {}
  for c = 1, width do
    -- A long schedule's columns sample it, the first and last step exactly.
    local i = per > 1 and (c - 1) // per + 1
      or (width == 1 and 1 or math.floor((c - 1) * (n - 1) / (width - 1) + 0.5) + 1)
    cols[c] = { v = lrs[i], warm = i - 1 < warmup }
  end
  local label_hi, label_lo = string.format("%.3g", hi), string.format("%.3g", lo)
  local lw = math.max(#label_hi, #label_lo)
  local lines = {}
  for row = height, 1, -1 do
    local cells = {}
    for c = 1, width do
      local level = hi > lo and (cols[c].v - lo) / (hi - lo) * height or height
      local on = level >= row - 0.5 or (row == 1 and cols[c].v > lo)
      cells[c] = on and (cols[c].warm and "/" or "#") or " "
    end
    local label = row == height and label_hi or (row == 1 and label_lo or "")
    lines[#lines + 1] = string.format("%" .. lw .. "s |%s", label, table.concat(cells))
  end
  lines[#lines + 1] = string.rep(" ", lw) .. " +" .. string.rep("-", width)
  local left, right = unit .. " 1", tostring(n)
  lines[#lines + 1] = string.rep(" ", lw + 2) .. left
    .. string.rep(" ", math.max(1, width - #left - #right)) .. right
  return table.concat(lines, "\n") .. "\n"
end

local function schedule_text(r)
  local s = r.schedule
  local parts = { s.name }
  if s.name == "cosine" then
    parts[#parts + 1] = string.format("over %d %s to %.3g", s.total, s.per_batch and "batches"
      or "epochs", s.min_lr or 0)
  elseif s.name == "step" or s.name == "exponential" then
    parts[#parts + 1] = string.format("gamma %.3g", s.gamma or 0)
  end
  if (s.warmup or 0) > 0 then
    parts[#parts + 1] = string.format("warm-up %d %s%s from %.3g of the rate", s.warmup,
      s.per_batch and "batch" or "epoch", s.warmup == 1 and "" or (s.per_batch and "es" or "s"),
      s.warmup_start or 0)
  end
  return table.concat(parts, ", ")
end

-- explain.figures(r) -> the summary's figures: layers, total, memory,
-- steps and the schedule (for explain.main and the tests).
function M.figures(r, cli)
  local runner = require "nnrun.runner"
  -- model.input, a schedule's length and the checks, as a run
  local data, net = runner.prepare(r, cli or {})
  local opt = runner.build_optimizer(r)
  local layers = M.layers(net)
  local total = net:param_count()
  local batch = r.train.batch_size
  local train_n = data.train:size()
  local steps = (train_n + batch - 1) // batch
  -- Activation buffers as nn_net_prepare sizes them for the batch: every
  -- layer's output, two gradient buffers of the widest layer and a copy
  -- of the input.
  local outs, widest, state = 0, net:input_size(), 0
  for _, l in ipairs(layers) do
    outs = outs + l.outputs
    widest = math.max(widest, l.outputs)
    state = state + l.state
  end
  local slots = state_slots(opt, net)
  local mem = {
    parameters = 4 * total, gradients = 4 * total, optimizer = 4 * slots * total, state = 4 * state,
    activations = 4 * batch * (outs + 2 * widest + net:input_size()),
    workspace = 4 * net:workspace_size(batch),
  }
  mem.total = mem.parameters + mem.gradients + mem.optimizer + mem.state + mem.activations
    + mem.workspace
  -- The optimiser's configuration, from the object the run builds (a
  -- table of the experiment, or an nnrun.Optimizer a Lua experiment gave).
  local oc = opt:config()
  local lrs, unit, warmup = M.schedule(r, steps, oc.lr)
  return { layers = layers, total = total, memory = mem, batch = batch, train = train_n,
    val = data.val and data.val:size() or 0, test = data.test and data.test:size() or 0,
    steps = steps, lrs = lrs, unit = unit, warmup = warmup, slots = slots, input = net:input_size(),
    input_shape = net:input_shape(), optimizer = oc.name or "sgd" }
end

-- The layer table.
function M.layer_table(f)
  local rows = { { "#", "layer", "kind", "output", "parameters" } }
  rows[2] = { "0", "input", "input", M.shape_text(f.input_shape), "0" }
  for i, l in ipairs(f.layers) do
    rows[#rows + 1] = { tostring(i), l.name, l.kind, M.shape_text(l.shape), M.count(l.params) }
  end
  local w = {}
  for _, r in ipairs(rows) do
    for i, c in ipairs(r) do
      w[i] = math.max(w[i] or 0, #c)
    end
  end
  local lines = {}
  for _, r in ipairs(rows) do
    lines[#lines + 1] = string.format("%" .. w[1] .. "s  %-" .. w[2] .. "s  %-" .. w[3]
      .. "s  %-" .. w[4] .. "s  %" .. w[5] .. "s", r[1], r[2], r[3], r[4], r[5])
  end
  table.insert(lines, 2, string.rep("-", #lines[1]))
  return table.concat(lines, "\n") .. "\n"
end

-- Draws lrs as DIR/lr.png.
local function lr_png(dir, lrs, unit, warmup, title)
  local gp = require "nnrun.gnuplot"
  gp.need()
  local ok, err = require("nnrun.util").mkdir_p(nn.mkdir, dir)
  if not ok then
    error({ exit = 1, message = string.format("cannot create %s (%s)", dir, err) }, 0)
  end
  local rows = {}
  for i, v in ipairs(lrs) do
    rows[i] = { i, v }
  end
  local path = dir .. "/lr.png"
  local warm = ""
  if warmup > 0 then
    warm = string.format("set object 1 rect from %g, graph 0 to %g, graph 1 fc rgb '#fff3d6' "
      .. "fs solid 1.0 noborder behind\nset label 1 'warm-up' at %g, graph 0.93 left tc rgb "
      .. "'#a06000'\n", 0.5, warmup + 0.5, 1)
  end
  gp.run(gp.terminal(path, 900, 400) .. gp.datablock("lr", rows) .. require("nnrun.plot").STYLE
    .. warm .. string.format("set title %s\nset xlabel %s\nset ylabel 'learning rate'\nunset key\n",
      gp.quote(title), gp.quote(unit)) .. string.format("set xrange [1:%d]\n", math.max(2, #lrs))
    .. "plot $lr using 1:2 with lines ls 4\n", { path })
  return path
end

function M.main(o)
  if not o.file then
    options.usage_error("explain needs an experiment FILE (see nnrun explain --help)")
  end
  if o.out then
    require("nnrun.gnuplot").need() -- before anything is printed
  end
  local cli = require "nnrun.cli"
  local chunk, locate = cli.load_file(o.file)
  local exp = chunk({ file = o.file, quiet = true, debug = o.debug or false, explain = true })
  if not locate and type(exp) ~= "table" then
    options.usage_error("%s: the script returns no experiment table", o.file)
  end
  local r = cli.resolve_experiment(exp, o, o.file, locate)
  if not r then
    return 2
  end
  local f = M.figures(r, { file = o.file, locate = locate })
  local w = function(...) io.stdout:write(...) end
  if not o.quiet then
    w("resolved experiment (", o.file, "):\n")
    local text = require("nnrun.record").config_text(r)
    w((text:gsub("([^\n]*)\n", "  %1\n")), "\n")
  end
  local shape = f.input_shape
  w(string.format("%s: %d inputs%s, %s loss, %s optimiser, batch %d, %d epoch%s\n", r.name,
    f.input, (shape[2] == 1 and shape[3] == 1) and ""
      or string.format(" (images %dx%dx%d)", shape[1], shape[2], shape[3]), r.loss,
    f.optimizer, f.batch, r.train.epochs, r.train.epochs == 1 and "" or "s"))
  w(string.format("data: %s training, %s validation, %s test samples\n\n", M.count(f.train),
    M.count(f.val), M.count(f.test)))
  w(M.layer_table(f))
  w(string.format("total parameters: %s\n\n", M.count(f.total)))
  local m = f.memory
  w(string.format("memory for batch %d: %s\n", f.batch, M.bytes(m.total)))
  w(string.format("  parameters       %10s  (%s floats)\n", M.bytes(m.parameters),
    M.count(f.total)))
  w(string.format("  gradients        %10s\n", M.bytes(m.gradients)))
  w(string.format("  optimiser state  %10s  (%d slot%s per parameter)\n", M.bytes(m.optimizer),
    f.slots, f.slots == 1 and "" or "s"))
  if m.state > 0 then
    w(string.format("  layer state      %10s  (non-trainable, e.g. batchnorm statistics)\n",
      M.bytes(m.state)))
  end
  w(string.format("  activations      %10s  (layer outputs and gradient buffers of a batch)\n",
    M.bytes(m.activations)))
  if m.workspace > 0 then
    w(string.format("  workspace        %10s  (the convolutions' im2col columns for the batch)\n",
      M.bytes(m.workspace)))
  end
  w("\n")
  w(string.format("steps per epoch: %s (%s samples / batch %d); %s steps in %d epoch%s\n\n",
    M.count(f.steps), M.count(f.train), f.batch, M.count(f.steps * r.train.epochs),
    r.train.epochs, r.train.epochs == 1 and "" or "s"))
  w(string.format("learning rate per %s (%s):\n", f.unit, schedule_text(r)))
  w(M.chart(f.lrs, f.warmup, f.unit))
  if o.out then
    local path = lr_png(o.out, f.lrs, f.unit, f.warmup, string.format("%s: learning rate (%s)",
      r.name, schedule_text(r)))
    w("\n", path, "\n")
  end
  return 0
end

return M
