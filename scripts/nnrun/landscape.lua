-- nnrun.landscape: `nnrun landscape DIR`, the training loss over a plane
-- through a run's final weights, with the path training took drawn on it
-- (the per-epoch checkpoints of output.keep_epochs, projected onto the
-- plane): DIR/plots/landscape.png (contours and path), landscape_3d.png
-- (surface) and landscape.json (the grid and the path, as numbers).  The
-- grid is evaluated by the runtime (nn.loss_surface) on a subset of the
-- training data.
local nn = require "nnrun"
local options = require "nnrun.options"
local rundir = require "nnrun.rundir"
local gp = require "nnrun.gnuplot"
local json = require "nnrun.json"
local util = require "nnrun.util"

local M = {}

M.usage = [[
usage: nnrun landscape DIR [options]

The training loss of the run in DIR over a plane through its final weights
(DIR/model.nnrun), with the path of its per-epoch checkpoints (kept when the
experiment sets output.keep_epochs: true) projected onto it.  Writes
DIR/plots/landscape.png, landscape_3d.png and landscape.json.  Needs
gnuplot (Debian gnuplot-nox).

options:
  --directions D   random (default): two random directions, each layer's
                   part scaled to that layer's weights; weights: along two
                   single parameters (--weights)
  --weights I,J    the parameters of --directions weights (1-based indices
                   into the parameter vector; default: the two that moved
                   most in training, else the two largest)
  --span S         the plane's half width, in units of the directions
                   (default 1)
  --steps N        grid points per side (default 21, 3..201)
  --samples N      training samples the loss is measured on (default 512)
  --seed N         seed of the random directions and of the sample
                   (default: the experiment's)
  --threads N      threads of the numerical kernels
  --quiet          print nothing
  --debug          show Lua tracebacks with errors]]

local OPTIONS = {
  options.HELP, options.QUIET, options.DEBUG, options.THREADS, options.SEED,
  { "--directions", key = "directions", value = { "random", "weights" } },
  { "--weights", key = "weights", value = "string" },
  { "--span", key = "span", value = "number", min = 0 },
  { "--steps", key = "steps", value = "count", min = 3, max = 201 },
  { "--samples", key = "samples", value = "count", min = 1 },
}

function M.parse(args)
  return options.parse(args, 2, OPTIONS, { command = "nnrun landscape", init = { files = {} } })
end

-- The epoch-NNN.nnrun files of dir: { { epoch =, path = } }, by epoch.
function M.epoch_files(dir)
  local out = {}
  for _, name in ipairs(nn.listdir(dir) or {}) do
    local e = name:match("^epoch%-(%d+)%.nnrun$")
    if e then
      out[#out + 1] = { epoch = tonumber(e), path = dir .. "/" .. name }
    end
  end
  table.sort(out, function(a, b) return a.epoch < b.epoch end)
  return out
end

-- The resolved experiment of a run directory (its config.yaml).
local function run_config(dir)
  local cli = require "nnrun.cli"
  local file = dir .. "/config.yaml"
  if not rundir.exists(file) then
    options.usage_error("%s: no config.yaml", dir)
  end
  local chunk, locate = cli.load_file(file)
  local r = cli.resolve_experiment(chunk(), { set = {} }, file, locate)
  if not r then
    error({ exit = 2, message = file .. ": the run's configuration does not resolve" }, 0)
  end
  return r
end

-- A unit vector along parameter i (1-based) of P.
local function unit(center, i)
  local d = center:clone()
  d:fill(0)
  d:set(i, 1)
  return d
end

-- The two parameters of --directions weights: given, else the two that
-- moved most from the first kept epoch, else the two largest in size.
local function pick_weights(o, center, first)
  local P = center:size()
  if o.weights then
    local i, j = o.weights:match("^(%d+),(%d+)$")
    i, j = tonumber(i), tonumber(j)
    if not i or i < 1 or j < 1 or i > P or j > P or i == j then
      options.usage_error("option --weights needs I,J: two different parameters in 1..%d, got '%s'",
        P, o.weights)
    end
    return i, j
  end
  local best = { { v = -1 }, { v = -1 } }
  for k = 1, P do
    local v = math.abs(center:get(k) - (first and first:get(k) or 0))
    if v > best[1].v then
      best[2], best[1] = best[1], { k = k, v = v }
    elseif v > best[2].v then
      best[2] = { k = k, v = v }
    end
  end
  return best[1].k, best[2].k
end

-- n points from -span to span, the middle one exactly 0 (n odd).
local function symmetric(span, n)
  local out = {}
  for i = 1, n do
    out[i] = span * (2 * (i - 1) - (n - 1)) / (n - 1)
  end
  return out
end

-- The landscape's figures: { alphas, betas, loss = rows[j][i], path =
-- { { epoch, a, b, loss } }, lowest = { i, j, a, b, loss }, ... }.
function M.compute(dir, o)
  local r = run_config(dir)
  local model = dir .. "/model.nnrun"
  if not rundir.exists(model) then
    options.usage_error("%s: no model.nnrun (the run saved no checkpoint)", dir)
  end
  if o.threads then
    nn.set_threads(o.threads)
  end
  local net = nn.load(model)
  local seed = o.seed or r.seed or 1
  local train = require("nnrun.runner").build_data(r).train
  local samples = math.min(o.samples or 512, train:size())
  local sub = train
  if samples < train:size() then
    local _
    _, sub = train:split(samples / train:size(), seed)
  end
  local center = nn.param_vector(net)
  local epochs = M.epoch_files(dir)
  local mode = o.directions or "random"
  local d1, d2, names
  if mode == "weights" then
    local first = epochs[1] and nn.param_vector(nn.load(epochs[1].path))
    local i, j = pick_weights(o, center, first)
    d1, d2 = unit(center, i), unit(center, j)
    names = { string.format("parameter %d", i), string.format("parameter %d", j) }
  else
    d1, d2 = nn.random_direction(net, seed), nn.random_direction(net, seed + 1)
    names = { "direction 1", "direction 2" }
  end
  local path, extent = {}, 0
  for _, e in ipairs(epochs) do
    local p = nn.param_vector(nn.load(e.path))
    local a, b = nn.plane_project(center, d1, d2, p)
    -- The loss at the projection (on the plane, as the surface shows it).
    local l = nn.loss_surface(net, sub, r.loss, center, d1, d2, { a }, { b })[1][1]
    path[#path + 1] = { epoch = e.epoch, a = a, b = b, loss = l }
    extent = math.max(extent, math.abs(a), math.abs(b))
  end
  -- Along single weights the default span takes in the whole path.
  local span = o.span or (mode == "weights" and extent > 0 and 1.15 * extent) or 1
  local steps = o.steps or 21
  local alphas = symmetric(span, steps)
  local grid = nn.loss_surface(net, sub, r.loss, center, d1, d2, alphas, alphas)
  local lowest = { loss = math.huge }
  for j, row in ipairs(grid) do
    for i, v in ipairs(row) do
      if v < lowest.loss then
        lowest = { i = i, j = j, a = alphas[i], b = alphas[j], loss = v }
      end
    end
  end
  local final = nn.loss_surface(net, sub, r.loss, center, d1, d2, { 0 }, { 0 })[1][1]
  return { name = r.name, loss_name = r.loss, directions = mode, axes = names, span = span,
    steps = steps, samples = samples, seed = seed, alphas = alphas, loss = grid, path = path,
    lowest = lowest, final = final, step = 2 * span / (steps - 1), kept_epochs = #epochs }
end

local function finite(v)
  return v == v and v ~= math.huge and v ~= -math.huge
end

-- The figures' gnuplot text: contours (2-D) or surface (3-D).
function M.script(f, three_d)
  local lo, hi = math.huge, -math.huge
  for _, row in ipairs(f.loss) do
    for _, v in ipairs(row) do
      if finite(v) then
        lo, hi = math.min(lo, v), math.max(hi, v)
      end
    end
  end
  -- Log colours when the loss spans more than two decades.
  local log = lo > 0 and hi / lo > 100
  local z = log and "(log10($3))" or "($3)"
  local zlabel = log and ("log10 " .. f.loss_name) or f.loss_name
  local rows = {}
  for j, row in ipairs(f.loss) do
    for i, v in ipairs(row) do
      rows[#rows + 1] = { f.alphas[i], f.alphas[j], finite(v) and v or nil }
    end
    rows[#rows + 1] = { "" }
  end
  local prow = {}
  for k, p in ipairs(f.path) do
    prow[k] = { p.epoch, p.a, p.b, p.loss }
  end
  local s = { gp.datablock("g", rows), gp.datablock("p", prow),
    gp.datablock("f", { { 0, 0, f.final } }),
    "set palette defined (0 '#0d0887', 0.25 '#6a00a8', 0.5 '#b12a90', 0.75 '#e16462', "
      .. "1 '#fcce25')\n",
    string.format("set xlabel %s\nset ylabel %s\nset cblabel %s\n", gp.quote(f.axes[1]),
      gp.quote(f.axes[2]), gp.quote(zlabel)),
    string.format("set xrange [%.17g:%.17g]\nset yrange [%.17g:%.17g]\n", -f.span, f.span,
      -f.span, f.span) }
  local title = string.format("%s: training %s around the final weights (%s, %d samples)",
    f.name, f.loss_name, f.directions == "weights" and "along two weights"
      or "two random directions", f.samples)
  local pz = log and "(log10($4))" or "($4)"
  local fz = log and "(log10($3))" or "($3)"
  local has_path = #f.path > 0
  if three_d then
    -- The path and the final point are drawn a little above the surface
    -- (by 1% of its height) so that the surface does not hide them.
    local zlo, zhi = log and math.log(lo, 10) or lo, log and math.log(hi, 10) or hi
    local lift = 0.01 * (zhi - zlo)
    s[#s + 1] = string.format("set title %s\nset view 58, 35\nset ticslevel 0\n"
      .. "set zlabel %s rotate parallel\nset pm3d border lc rgb '#00000022'\n"
      .. "set key top left\n", gp.quote(title), gp.quote(zlabel))
    s[#s + 1] = string.format("splot $g using 1:2:%s with pm3d notitle", z)
    if has_path then
      s[#s + 1] = string.format(", $p using 2:3:(%s + %.17g) with linespoints lc rgb '#00e5ff' "
        .. "lw 2 pt 7 ps 0.7 title 'training path (epochs)'", pz, lift)
    end
    s[#s + 1] = string.format(", $f using 1:2:(%s + %.17g) with points lc rgb '#00ff66' pt 7 "
      .. "ps 1.6 title 'final weights'\n", fz, lift)
  else
    s[#s + 1] = string.format("set table $c\nset contour base\nset cntrparam levels 14\n"
      .. "unset surface\nsplot $g using 1:2:%s\nunset table\nunset contour\nset surface\n", z)
    -- A finer grid for the colours (gnuplot's spline interpolation of the
    -- evaluated points), so that the picture is not 21 x 21 squares.
    local fine = math.max(f.steps, 4 * (f.steps - 1) + 1)
    s[#s + 1] = string.format("set table $fine\nset dgrid3d %d,%d splines\nsplot $g using 1:2:%s\n"
      .. "unset table\nunset dgrid3d\n", fine, fine, z)
    s[#s + 1] = string.format("set title %s\nset size ratio -1\nset key top right box opaque\n",
      gp.quote(title))
    s[#s + 1] = "plot $fine using 1:2:3 with image notitle, "
      .. "$c using 1:2 with lines lc rgb '#ffffff' lw 0.8 notitle"
    if has_path then
      local last = f.path[#f.path]
      s[#s + 1] = string.format(", $p using 2:3 with linespoints lc rgb '#00e5ff' lw 2 pt 7 "
        .. "ps 0.8 title 'training path (epochs %d-%d)', $p using 2:3:(($1 == %d || $1 == %d) "
        .. "? sprintf('%%d', $1) : '') with labels offset 1.2, 0.8 tc rgb '#ffffff' font ',9' "
        .. "notitle", f.path[1].epoch, last.epoch, f.path[1].epoch, last.epoch)
    end
    s[#s + 1] = ", $f using 1:2 with points lc rgb '#00ff66' pt 7 ps 1.8 title 'final weights'\n"
  end
  return table.concat(s)
end

function M.main(o)
  local dir = require("nnrun.plot").one_dir(o, "landscape")
  local kind = rundir.check(dir)
  if kind ~= "run" then
    options.usage_error("%s is a sweep directory; nnrun landscape draws one run (a trial's "
      .. "directory)", dir)
  end
  gp.need()
  if o.weights and o.directions ~= "weights" then
    options.usage_error("option --weights is for --directions weights")
  end
  local f = M.compute(dir, o)
  local out = require("nnrun.plot").plots_dir(dir)
  local png, png3 = out .. "/landscape.png", out .. "/landscape_3d.png"
  gp.run(gp.terminal(png, 760, 680) .. M.script(f, false), { png })
  gp.run(gp.terminal(png3, 900, 700) .. M.script(f, true), { png3 })
  local ok, err = util.write_file(out .. "/landscape.json", json.encode({
    directions = f.directions, axes = f.axes, span = f.span, steps = f.steps,
    samples = f.samples, seed = f.seed, loss_name = f.loss_name, coordinates = f.alphas,
    loss = f.loss, path = json.array(f.path), final = { a = 0, b = 0, loss = f.final },
    lowest = f.lowest,
  }, { indent = "  " }) .. "\n")
  if not ok then
    error({ exit = 1, message = err }, 0)
  end
  if not o.quiet then
    local w = function(...) io.stdout:write(...) end
    if f.kept_epochs == 0 then
      w(string.format("%s has no epoch-NNN.nnrun checkpoints (set output.keep_epochs: true to "
        .. "keep them): the final point only, no path\n", dir))
    end
    w(string.format("final weights (0, 0): %s %.6g; lowest on the %dx%d grid: %.6g at (%.4g, "
      .. "%.4g)\n", f.loss_name, f.final, f.steps, f.steps, f.lowest.loss, f.lowest.a,
      f.lowest.b))
    w(png, "\n", png3, "\n", out, "/landscape.json\n")
  end
  return 0
end

return M
