-- nnrun.plot: `nnrun plot DIR`, the figures of a run or a sweep directory.
--   run:   DIR/plots/curves.png and curves.svg (train and validation loss,
--          validation accuracy, learning rate, per epoch),
--          DIR/plots/confusion.png (the test confusion matrix, counts and
--          class names, when classifying)
--   sweep: DIR/plots/metric_<param>.png (the sweep's metric against each
--          swept parameter; log axis where it was drawn log-uniformly or
--          spans more than two decades), DIR/plots/best_curves.png (the
--          best trials' validation curves overlaid)
local nn = require "nnrun"
local options = require "nnrun.options"
local rundir = require "nnrun.rundir"
local gp = require "nnrun.gnuplot"
local util = require "nnrun.util"

local M = {}

M.usage = [[
usage: nnrun plot DIR [options]

Draws the figures of a run directory (DIR/plots/curves.png, curves.svg,
confusion.png) or of a sweep directory (DIR/plots/metric_<param>.png for
each swept parameter, best_curves.png).  Needs gnuplot (Debian gnuplot-nox).

options:
  --best N      trials drawn in a sweep's best_curves.png (default 5)
  --quiet       print nothing
  --debug       show Lua tracebacks with errors]]

local OPTIONS = {
  options.HELP, options.QUIET, options.DEBUG,
  { "--best", key = "best", value = "count", min = 1, max = 20 },
}

function M.parse(args)
  return options.parse(args, 2, OPTIONS, { command = "nnrun plot", init = { files = {} } })
end

-- The one DIR of a command's options, else a usage error.
function M.one_dir(o, cmd)
  if #o.files ~= 1 then
    options.usage_error("%s needs one DIR (see nnrun %s --help)", cmd, cmd)
  end
  return (o.files[1]:gsub("(.)/+$", "%1"))
end

-- DIR/plots, created.
function M.plots_dir(dir)
  local out = dir .. "/plots"
  local ok, err = util.mkdir_p(nn.mkdir, out)
  if not ok then
    error({ exit = 1, message = string.format("cannot create %s (%s)", out, err) }, 0)
  end
  return out
end

local function finite(v)
  return type(v) == "number" and v == v and v ~= math.huge and v ~= -math.huge
end

-- Whether values (positive numbers) span more than two decades.
local function wide(values)
  local lo, hi = math.huge, -math.huge
  for _, v in ipairs(values) do
    if not finite(v) or v <= 0 then
      return false
    end
    lo, hi = math.min(lo, v), math.max(hi, v)
  end
  return #values > 0 and hi / lo > 100
end
M.wide = wide

local STYLE = [[
set grid back lc rgb '#dddddd'
set border 3 lc rgb '#555555'
set tics nomirror
set key top right noopaque
set style line 1 lc rgb '#1f77b4' lw 2 pt 7 ps 0.6
set style line 2 lc rgb '#d62728' lw 2 pt 5 ps 0.6
set style line 3 lc rgb '#2ca02c' lw 2 pt 9 ps 0.7
set style line 4 lc rgb '#9467bd' lw 2 pt 11 ps 0.7
set style line 5 lc rgb '#ff7f0e' lw 2 pt 13 ps 0.7
]]
M.STYLE = STYLE

-- The panels of curves.png: { title, columns = { { col, label, style } }, log }.
local function curve_panels(m)
  local has = {}
  for _, r in ipairs(m) do
    for k, v in pairs(r) do
      if finite(v) then
        has[k] = true
      end
    end
  end
  local panels = {}
  local losses = {}
  for _, r in ipairs(m) do
    losses[#losses + 1] = r.train_loss
    losses[#losses + 1] = r.val_loss
  end
  local loss = { title = "loss", columns = { { 2, "train", 1 } }, log = wide(losses) }
  if has.val_loss then
    loss.columns[2] = { 3, "validation", 2 }
  end
  panels[1] = loss
  if has.val_accuracy then
    panels[#panels + 1] = { title = "validation accuracy", columns = { { 4, nil, 3 } } }
  end
  if has.lr then
    panels[#panels + 1] = { title = "learning rate", columns = { { 5, nil, 4 } } }
  end
  return panels
end

-- The gnuplot text of curves of metrics m (rows of metrics.jsonl), titled.
function M.curves_script(m, title)
  local rows = {}
  for i, r in ipairs(m) do
    rows[i] = { r.epoch, r.train_loss, r.val_loss, r.val_accuracy, r.lr }
  end
  local panels = curve_panels(m)
  local s = { gp.datablock("m", rows), STYLE,
    string.format("set multiplot layout 1,%d title %s\n", #panels, gp.quote(title)),
    "set xlabel 'epoch'\n" }
  if #m == 1 then
    s[#s + 1] = string.format("set xrange [%d:%d]\n", m[1].epoch - 1, m[1].epoch + 1)
  end
  for _, p in ipairs(panels) do
    s[#s + 1] = "set title " .. gp.quote(p.title) .. "\n"
    s[#s + 1] = p.log and "set logscale y\n" or "unset logscale y\n"
    local parts = {}
    for _, c in ipairs(p.columns) do
      parts[#parts + 1] = string.format("$m using 1:%d with linespoints ls %d %s", c[1], c[3],
        c[2] and ("title " .. gp.quote(c[2])) or "notitle")
    end
    s[#s + 1] = "plot " .. table.concat(parts, ", ") .. "\n"
  end
  s[#s + 1] = "unset multiplot\n"
  return table.concat(s), #panels
end

-- The gnuplot text of a confusion matrix c ({ names, counts }).
function M.confusion_script(c, title)
  local n = #c.counts
  local max = 1
  for _, r in ipairs(c.counts) do
    for _, v in ipairs(r) do
      max = math.max(max, v)
    end
  end
  local xt, yt, long = {}, {}, false
  for i, name in ipairs(c.names) do
    long = long or #name > 3
    xt[i] = string.format("%s %d", gp.quote(name), i - 1)
    yt[i] = xt[i]
  end
  local s = { gp.datablock("c", c.counts),
    string.format("set title %s\n", gp.quote(title)),
    "set xlabel 'predicted class'\nset ylabel 'true class'\n",
    string.format("set xrange [-0.5:%g]\nset yrange [%g:-0.5]\n", n - 0.5, n - 0.5),
    "set xtics (" .. table.concat(xt, ", ") .. ")" .. (long and " rotate by 35 right" or "")
      .. " nomirror\n",
    "set ytics (" .. table.concat(yt, ", ") .. ") nomirror\n",
    "set size ratio -1\nunset key\nset tics scale 0\n",
    "set palette defined (0 '#f7fbff', 0.5 '#6baed6', 1 '#08306b')\n",
    string.format("set cbrange [0:%d]\nset cblabel 'samples'\n", max),
    string.format("plot $c matrix with image, $c matrix using 1:2:(sprintf('%%d', $3)):"
      .. "($3 > %g ? 0xffffff : 0x222222) with labels tc rgb variable font ',%d'\n",
      max / 2, n > 12 and 7 or 10),
  }
  return table.concat(s)
end

-- Plots of a run directory; returns the files written.
function M.run_plots(dir)
  local m = rundir.metrics(dir)
  if #m == 0 then
    options.usage_error("%s/metrics.jsonl: no epochs to plot", dir)
  end
  local summary = rundir.summary(dir) or {}
  local out = M.plots_dir(dir)
  local name = summary.name or util.basename(dir)
  local title = string.format("%s: %d epoch%s", name, #m, #m == 1 and "" or "s")
  local body, panels = M.curves_script(m, title)
  local written = { out .. "/curves.png", out .. "/curves.svg" }
  local w, h = 420 * panels + 80, 400
  gp.run(gp.terminal(written[1], w, h) .. body .. gp.terminal(written[2], w, h) .. body, written)
  local c = rundir.confusion(dir)
  if c then
    local n = #c.counts
    local path = out .. "/confusion.png"
    local size = math.max(520, 56 * n + 260)
    local acc = summary.test_accuracy and string.format(" (test accuracy %.2f%%)",
      100 * summary.test_accuracy) or ""
    gp.run(gp.terminal(path, size + 60, size) .. M.confusion_script(c, "confusion matrix" .. acc),
      { path })
    written[#written + 1] = path
  end
  return written
end

local function file_key(p)
  return (p:gsub("[^%w._-]", "_"))
end

-- The points of the metric against parameter p: rows { x, metric } of the
-- ranked trials that set p (a grid parameter is absent from the random
-- trials of the same sweep, and the other way round), the gnuplot lines of
-- the x axis (a log axis when log or wide, categories for text values) and
-- the trials used.
function M.param_points(ranked, p, log)
  local values, numeric, cats, cat_list, with = {}, true, {}, {}, {}
  for _, t in ipairs(ranked) do
    local v = t.parameters[p]
    if v ~= nil then
      if type(v) ~= "number" then
        numeric = false
      end
      values[#values + 1] = v
      with[#with + 1] = t
    end
  end
  local rows, extra = {}, ""
  if numeric then
    for i, t in ipairs(with) do
      rows[i] = { values[i], t.metric }
    end
    if log or wide(values) then
      extra = "set logscale x\n"
    end
  else
    for _, v in ipairs(values) do
      local k = tostring(v)
      if not cats[k] then
        cat_list[#cat_list + 1] = k
        cats[k] = #cat_list - 1
      end
    end
    local tics = {}
    for i, k in ipairs(cat_list) do
      tics[i] = string.format("%s %d", gp.quote(k), i - 1)
    end
    for i, t in ipairs(with) do
      rows[i] = { cats[tostring(values[i])], t.metric }
    end
    extra = string.format("set xtics (%s)\nset xrange [-0.5:%g]\n", table.concat(tics, ", "),
      #cat_list - 0.5)
  end
  return rows, extra, with
end

-- Plots of a sweep directory; returns the files written.
function M.sweep_plots(dir, o)
  local s = rundir.sweep(dir)
  local ranked = {}
  for _, t in ipairs(s.trials) do
    if t.rank then
      ranked[#ranked + 1] = t
    end
  end
  if #ranked == 0 then
    options.usage_error("%s/trials.jsonl: no finished trial to plot", dir)
  end
  local out = M.plots_dir(dir)
  local written = {}
  local metric = s.metric or "metric"
  for _, p in ipairs(s.params) do
    local rows, extra, with = M.param_points(ranked, p, s.log[p])
    local path = out .. "/metric_" .. file_key(p) .. ".png"
    gp.run(gp.terminal(path, 640, 440) .. gp.datablock("t", rows) .. STYLE .. extra
      .. string.format("set title %s\nset xlabel %s\nset ylabel %s\nunset key\n",
        gp.quote(string.format("%s: %s against %s (%d trial%s)", s.doc.name or "sweep", metric,
          p, #with, #with == 1 and "" or "s")), gp.quote(p), gp.quote(metric))
      .. "set offsets graph 0.05, graph 0.05, graph 0.05, graph 0.05\n"
      .. "plot $t using 1:2 with points ls 1 ps 1.4\n", { path })
    written[#written + 1] = path
  end
  -- The best trials' curves of the metric (when metrics.jsonl has it),
  -- else of the validation loss.
  local best = math.min(o.best or 5, #ranked)
  local blocks, plots = {}, {}
  local key
  for i = 1, best do
    local t = ranked[i]
    local m = rundir.metrics(dir .. "/" .. (t.trial or string.format("trial-%04d", t.id)))
    if not key then
      local r = m[1] or {}
      key = (r[metric] ~= nil and metric) or (r.val_loss ~= nil and "val_loss") or "train_loss"
    end
    local rows = {}
    for j, r in ipairs(m) do
      rows[j] = { r.epoch, r[key] }
    end
    blocks[#blocks + 1] = gp.datablock("b" .. i, rows)
    local params = require("nnrun.sweep").params_text(t.parameters or {}, s.params)
    plots[#plots + 1] = string.format("$b%d using 1:2 with linespoints ls %d title %s", i,
      (i - 1) % 5 + 1, gp.quote(string.format("#%d %s: %s", t.rank, t.trial or t.id, params)))
  end
  local path = out .. "/best_curves.png"
  gp.run(gp.terminal(path, 900, 520) .. table.concat(blocks) .. STYLE
    .. string.format("set title %s\nset xlabel 'epoch'\nset ylabel %s\n"
      .. "set key inside right %s opaque box lc rgb '#bbbbbb'\n",
      gp.quote(string.format("%s: the best %d trial%s by %s", s.doc.name or "sweep", best,
        best == 1 and "" or "s", metric)), gp.quote(key),
      util.higher_is_better(key) and "bottom" or "top")
    .. "plot " .. table.concat(plots, ", ") .. "\n", { path })
  written[#written + 1] = path
  return written
end

-- plot.main(o) -> exit status
function M.main(o)
  local dir = M.one_dir(o, "plot")
  local kind = rundir.check(dir)
  gp.need()
  local written = kind == "sweep" and M.sweep_plots(dir, o) or M.run_plots(dir)
  if not o.quiet then
    for _, p in ipairs(written) do
      io.stdout:write(p, "\n")
    end
  end
  return 0
end

return M
