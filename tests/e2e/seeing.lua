-- End-to-end cases of the commands that show a run: nnrun plot, landscape,
-- explain and report, through the nnrun executable:
--   lua5.4 seeing.lua NNRUN_EXE SOURCE_DIR WORK_DIR CASE
-- Like driver.lua it loads no nnrun code.  Exits 77 (ctest: skipped) when
-- a tool the case needs (gnuplot, chromium) is missing.
local exe, src, work, case = ...
assert(case, "usage: seeing.lua NNRUN_EXE SOURCE_DIR WORK_DIR CASE")

local h = dofile((arg[0]:match("^(.*)/") or ".") .. "/harness.lua").new(exe,
  work .. "/seeing_" .. case)
local q, read, write, dir = h.q, h.read, h.write, h.dir
local nnrun, check, expect_exit = h.nnrun, h.check, h.expect_exit

local function have(tool)
  return os.execute("command -v " .. tool .. " >/dev/null 2>&1") == true
end

local function lines(s)
  local t = {}
  for l in (s or ""):gmatch("[^\n]+") do
    t[#t + 1] = l
  end
  return t
end

-- A number field of a JSON line.
local function field(line, key)
  return tonumber((line or ""):match('"' .. key .. '": *([-%d.eE+]+)'))
end

-- The width and height of a PNG file, or nil and why not.
local function png_size(path)
  local s = read(path)
  if not s then
    return nil, "missing"
  end
  if s:sub(1, 8) ~= "\137PNG\r\n\26\n" or s:sub(13, 16) ~= "IHDR" then
    return nil, "not a PNG"
  end
  if s:sub(-8, -5) ~= "IEND" then
    return nil, "no IEND chunk (truncated)"
  end
  return string.unpack(">I4", s, 17), string.unpack(">I4", s, 21)
end

local function check_png(path, min_w, min_h)
  local w, hgt = png_size(dir .. "/" .. path)
  check(w and w >= min_w and hgt >= min_h and w <= 4000 and hgt <= 4000,
    "%s: %s x %s (want at least %d x %d)", path, tostring(w), tostring(hgt), min_w, min_h)
end

local function check_svg(path)
  local s = read(dir .. "/" .. path) or ""
  local w, hgt = s:match("<svg[^>]-viewBox=\"0 0 (%d+) (%d+)\"")
  check(s:match("^<%?xml") and s:match("</svg>%s*$") and tonumber(w or 0) >= 300
    and tonumber(hgt or 0) >= 200, "%s: not a whole SVG of a sensible size (%s x %s)", path,
    tostring(w), tostring(hgt))
  return s
end

local function need_gnuplot()
  if not have("gnuplot") then
    io.stderr:write("SKIP: gnuplot is not installed (Debian gnuplot-nox)\n")
    os.exit(77)
  end
end

-- A small classifier (a seeded generated data set) and a sweep over it.
local EXPERIMENT = [[
name: small
seed: 2
data: { generator: digits03, n_per_class: 60, noise: 0.3, test_split: 0.25 }
model:
  input: 64
  layers: [ { dense: 12, activation: relu, init: he_normal }, { dense: 4 } ]
loss: cross_entropy
optimizer: { lr: 0.1, momentum: 0.9 }
schedule: { name: cosine, warmup: 2, warmup_start: 0.1 }
train: { epochs: 6, batch_size: 16, validation_split: 0.2 }
]]

local SWEEP = [[
name: small_sweep
experiment: small.yaml
metric: val_loss
grid:
  optimizer.lr: [0.001, 0.01, 0.3]
  train.batch_size: [8, 32]
]]

local function small_run(extra)
  write(dir .. "/small.yaml", EXPERIMENT .. (extra or ""))
  local code, out, err = nnrun("small.yaml --out r --quiet")
  expect_exit(code, 0, out, err)
end

local cases = {}

function cases.plot_run()
  need_gnuplot()
  small_run()
  local code, out, err = nnrun("plot r")
  expect_exit(code, 0, out, err)
  check(out == "r/plots/curves.png\nr/plots/curves.svg\nr/plots/confusion.png\n", "stdout: %s", out)
  check_png("r/plots/curves.png", 900, 300)
  check_png("r/plots/confusion.png", 400, 400)
  local svg = check_svg("r/plots/curves.svg")
  -- The title counts the epochs of metrics.jsonl; the three panels.
  local epochs = #lines(read(dir .. "/r/metrics.jsonl"))
  check(epochs == 6 and svg:find("small: 6 epochs", 1, true), "title of curves.svg (%d epochs)",
    epochs)
  for _, t in ipairs({ ">loss<", ">validation accuracy<", ">learning rate<", ">train<",
    ">validation<" }) do
    check(svg:find(t, 1, true), "curves.svg has no %s", t)
  end
  -- A regression run: no accuracy panel, no confusion matrix.
  write(dir .. "/reg.yaml", [[
name: reg
data: { generator: curve, n: 64, noise: 0.05 }
model: { input: 1, layers: [ { dense: 8, activation: tanh }, { dense: 1 } ] }
loss: mse
train: { epochs: 3, batch_size: 16 }
]])
  code, out, err = nnrun("reg.yaml --out g --quiet")
  expect_exit(code, 0, out, err)
  code, out, err = nnrun("plot g/")
  expect_exit(code, 0, out, err)
  check(out == "g/plots/curves.png\ng/plots/curves.svg\n", "regression plot: %s", out)
  svg = check_svg("g/plots/curves.svg")
  check(not svg:find("validation accuracy", 1, true), "a regression has no accuracy panel")
  -- Bad usage.
  code, out, err = nnrun("plot nowhere")
  expect_exit(code, 2, out, err)
  check(err == "nnrun: nowhere: no such directory\n", "stderr: %s", err)
  os.execute("mkdir -p " .. q(dir .. "/empty"))
  code, out, err = nnrun("plot empty")
  expect_exit(code, 2, out, err)
  check(err == "nnrun: empty: neither a run directory (no metrics.jsonl) nor a sweep directory "
    .. "(no trials.jsonl)\n", "stderr: %s", err)
  code, out, err = nnrun("plot")
  check(code == 2 and err == "nnrun: plot needs one DIR (see nnrun plot --help)\n", "stderr: %s",
    err)
end

function cases.plot_sweep()
  need_gnuplot()
  write(dir .. "/small.yaml", EXPERIMENT)
  write(dir .. "/sweep.yaml", SWEEP)
  local code, out, err = nnrun("sweep sweep.yaml --out s --quiet --jobs 2")
  expect_exit(code, 0, out, err)
  code, out, err = nnrun("plot s --best 3")
  expect_exit(code, 0, out, err)
  check(out == "s/plots/metric_optimizer.lr.png\ns/plots/metric_train.batch_size.png\n"
    .. "s/plots/best_curves.png\n", "stdout: %s", out)
  check_png("s/plots/metric_optimizer.lr.png", 500, 300)
  check_png("s/plots/metric_train.batch_size.png", 500, 300)
  check_png("s/plots/best_curves.png", 700, 400)
end

-- Without gnuplot on PATH: one line naming the package, exit 2, no plots/.
function cases.no_gnuplot()
  small_run()
  os.execute("mkdir -p " .. q(dir .. "/bin"))
  for _, cmd in ipairs({ "plot r", "explain small.yaml --out x", "landscape r", "report r" }) do
    local c = string.format("cd %s && PATH=%s %s %s >out.txt 2>err.txt", q(dir), q(dir .. "/bin"),
      q(exe), cmd)
    local _, _, code = os.execute(c)
    local err = read(dir .. "/err.txt")
    check(code == 2 and err == "nnrun: gnuplot is not installed (no gnuplot on PATH): install "
      .. "the Debian package gnuplot-nox (apt-get install gnuplot-nox)\n", "%s: exit %s, stderr %s",
      cmd, tostring(code), err)
  end
  check(not read(dir .. "/r/plots/curves.png") and not read(dir .. "/x/lr.png"),
    "files were made without gnuplot")
end

-- explain: the layer table and total equal what the run reports, the
-- steps per epoch and the schedule (warm-up drawn with '/'), lr.png.
function cases.explain()
  small_run()
  local code, out, err = nnrun("explain small.yaml --quiet")
  expect_exit(code, 0, out, err)
  local summary = read(dir .. "/r/summary.json")
  local params = field(summary, "parameters")
  -- 64*12+12 = 780, 12*4+4 = 52
  check(params == 832, "summary parameters %s", tostring(params))
  check(out:find("\n1  dense  dense       (B, 12)         780\n", 1, true)
    and out:find("\n2  relu   activation  (B, 12)           0\n", 1, true)
    and out:find("\n3  dense  dense       (B, 4)           52\n", 1, true), "layer table:\n%s", out)
  check(out:find("\ntotal parameters: " .. params .. "\n", 1, true), "total:\n%s", out)
  -- 240 glyphs: 60 test, 180 left, 36 validation, 144 training: 9 batches of 16.
  check(out:find("data: 144 training, 36 validation, 60 test samples\n", 1, true), "data:\n%s", out)
  check(out:find("steps per epoch: 9 (144 samples / batch 16); 54 steps in 6 epochs\n", 1, true),
    "steps:\n%s", out)
  check(out:find("learning rate per epoch (cosine, over 6 epochs to 0, warm-up 2 epochs from "
    .. "0.1 of the rate):\n", 1, true), "schedule:\n%s", out)
  local chart = out:match("rate%):\n(.*)$") or ""
  -- 6 epochs, 10 columns each: the 2 warm-up epochs are the first 20.
  local bottom = chart:match("\n%s+0 |([^\n]*)") or ""
  check(bottom == string.rep("/", 20) .. string.rep("#", 40), "warm-up columns:\n%s", chart)
  check(not read(dir .. "/lr.png"), "lr.png without --out")
  check(out:find("  optimiser state     3.2 KiB  (1 slot per parameter)\n", 1, true),
    "SGD with momentum: one slot:\n%s", out)
  -- The resolved experiment comes first without --quiet; --set applies.
  code, out, err = nnrun("explain small.yaml --set train.batch_size=36")
  expect_exit(code, 0, out, err)
  check(out:match("^resolved experiment %(small.yaml%):\n  name: small\n")
    and out:find("    batch_size: 36\n", 1, true)
    and out:find("steps per epoch: 4 (144 samples / batch 36)", 1, true), "explain:\n%s", out)
  code, out, err = nnrun("explain small.yaml --set train.batch_size=0")
  check(code == 2 and err:find("^nnrun: %-%-set train.batch_size: "), "bad --set: %s", err)
  code, out, err = nnrun("explain")
  check(code == 2 and err == "nnrun: explain needs an experiment FILE (see nnrun explain --help)\n",
    "no FILE: %s", err)
  -- A Lua experiment: layer kinds of the registry, Adam's two state slots,
  -- batchnorm's running statistics; the parameters as the run reports them.
  local lua_experiment = [[
local nn = require "nnrun"
return {
  name = "adam_small",
  seed = 2,
  data = { generator = "digits03", n_per_class = 60, noise = 0.3, test_split = 0.25 },
  model = { input = 64, layers = { { dense = 12, activation = "relu" }, { batchnorm = {} },
    { dropout = 0.2 }, { dense = 4 } } },
  loss = "cross_entropy",
  optimizer = nn.optim.adam{ lr = 0.01 },
  train = { epochs = 2, batch_size = 16 },
}
]]
  write(dir .. "/adam.lua", lua_experiment)
  -- The same network under SGD for the run (its parameters do not depend on the optimiser).
  write(dir .. "/sgd.lua", (lua_experiment:gsub("nn%.optim%.adam", "nn.optim.sgd")))
  code, out, err = nnrun("explain adam.lua --quiet")
  expect_exit(code, 0, out, err)
  check(out:find("\n3  batchnorm  batchnorm   (B, 12)          24\n", 1, true)
    and out:find("\n4  dropout    dropout     (B, 12)           0\n", 1, true)
    and out:find("adam optimiser", 1, true)
    and out:find("  optimiser state     6.7 KiB  (2 slots per parameter)\n", 1, true)
    and out:find("  layer state            96 B  (non-trainable", 1, true), "adam.lua:\n%s", out)
  local total = tonumber(out:match("\ntotal parameters: (%d+)\n"))
  code, out, err = nnrun("sgd.lua --out a --quiet")
  expect_exit(code, 0, out, err)
  check(total == 856 and field(read(dir .. "/a/summary.json"), "parameters") == total,
    "explain's total %s, the run's %s", tostring(total), read(dir .. "/a/summary.json"))
  if have("gnuplot") then
    code, out, err = nnrun("explain small.yaml --quiet --out x")
    expect_exit(code, 0, out, err)
    check(out:match("\nx/lr.png\n$"), "stdout ends with x/lr.png:\n%s", out)
    check_png("x/lr.png", 600, 300)
  end
end

-- A JSON file through the YAML reader of nnrun itself is not available
-- here (no nnrun code); the few numbers the checks need are read by pattern.
local function json_number(text, pattern)
  return tonumber((text or ""):match(pattern))
end

-- landscape on a convex problem (least squares: one dense layer, MSE, full
-- batch): the lowest grid point is within one grid step of the final
-- weights; the path of epoch-NNN.nnrun ends there.
function cases.landscape_convex()
  need_gnuplot()
  write(dir .. "/lin.yaml", [[
name: linear
seed: 4
data: { generator: curve, n: 80, noise: 0.1 }
model: { input: 1, layers: [ { dense: 1 } ] }
loss: mse
optimizer: { lr: 0.3, momentum: 0.5 }
train: { epochs: 40, batch_size: 64, shuffle: false }
output: { keep_epochs: true }
]])
  local code, out, err = nnrun("lin.yaml --out r --quiet")
  expect_exit(code, 0, out, err)
  for e = 1, 40 do
    check(read(string.format("%s/r/epoch-%03d.nnrun", dir, e)), "epoch-%03d.nnrun kept", e)
  end
  code, out, err = nnrun("landscape r --steps 11 --span 0.5")
  expect_exit(code, 0, out, err)
  check(out:match("^final weights %(0, 0%): mse [%d.e-]+; lowest on the 11x11 grid: [%d.e-]+ at ")
    and out:find("\nr/plots/landscape.png\nr/plots/landscape_3d.png\nr/plots/landscape.json\n$"),
    "stdout: %s", out)
  check_png("r/plots/landscape.png", 600, 500)
  check_png("r/plots/landscape_3d.png", 700, 500)
  local j = read(dir .. "/r/plots/landscape.json") or ""
  local li = json_number(j, '"lowest": {[^}]-"i": (%d+)')
  local lj = json_number(j, '"lowest": {[^}]-"j": (%d+)')
  check(li and lj and math.abs(li - 6) <= 1 and math.abs(lj - 6) <= 1,
    "lowest grid point (%s, %s), training ended at (6, 6)", tostring(li), tostring(lj))
  -- 40 path points; the last is the final model itself: (0, 0).
  local epochs = {}
  for e in j:gmatch('"epoch": (%d+)') do
    epochs[#epochs + 1] = tonumber(e)
  end
  check(#epochs == 40 and epochs[40] == 40, "path epochs: %d", #epochs)
  local last = j:match('{[^{}]-"epoch": 40[^{}]-}') or ""
  check(json_number(last, '"a": ([-%d.e]+)') == 0 and json_number(last, '"b": ([-%d.e]+)') == 0,
    "the last epoch lies at (0, 0): %s", last)
  -- The final loss is the grid's centre.
  local final = json_number(j, '"final": {[^}]-"loss": ([-%d.e]+)')
  check(final and out:find(string.format("mse %.6g;", final), 1, true), "final loss %s in %s",
    tostring(final), out)
end

-- landscape without kept epochs: the final point only, said so; along two
-- weights; bad usage.
function cases.landscape_run()
  need_gnuplot()
  small_run()
  local code, out, err = nnrun("landscape r --steps 5 --samples 50")
  expect_exit(code, 0, out, err)
  check(out:match("^r has no epoch%-NNN%.nnrun checkpoints %(set output%.keep_epochs: true to "
    .. "keep them%): the final point only, no path\n"), "stdout: %s", out)
  check_png("r/plots/landscape.png", 600, 500)
  local j = read(dir .. "/r/plots/landscape.json") or ""
  check(j:find('"path": []', 1, true) and j:find('"samples": 50', 1, true), "landscape.json: %s", j)
  code, out, err = nnrun("landscape r --directions weights --weights 3,800 --steps 3 -q")
  expect_exit(code, 0, out, err)
  j = read(dir .. "/r/plots/landscape.json") or ""
  check(j:find('"parameter 3"', 1, true) and j:find('"parameter 800"', 1, true), "axes: %s", j)
  local cases_bad = {
    { "landscape r --weights 1,2", "nnrun: option --weights is for --directions weights\n" },
    { "landscape r --directions weights --weights 1,1", "nnrun: option --weights needs I,J: two "
      .. "different parameters in 1..832, got '1,1'\n" },
    { "landscape r --steps 2", "nnrun: option --steps needs an integer >= 3, got '2'\n" },
    { "landscape r --directions up", "nnrun: option --directions needs one of random, weights, "
      .. "got 'up'\n" },
  }
  for _, c in ipairs(cases_bad) do
    code, out, err = nnrun(c[1])
    check(code == 2 and err == c[2], "%s: exit %s, stderr %s", c[1], tostring(code), err)
  end
end

-- report: one self-contained page; its numbers are summary.json's.
local function check_report_numbers(html, summary_text)
  local n = 0
  for key, value in summary_text:gmatch('\n%s*"([%w_]+)": ([-%d.eE+]+)') do
    local v = tonumber(value)
    local exact = html:match('data%-key="' .. key .. '" data%-value="([^"]+)">([^<]*)<')
    local shown = select(2, html:match('data%-key="' .. key .. '" data%-value="([^"]+)">([^<]*)<'))
    check(exact and tonumber(exact) == v, "%s: report %s, summary.json %s", key, tostring(exact),
      value)
    local want = value:match("^-?%d+$") and value or string.format("%.6g", v)
    check(shown == want, "%s shown as %s, expected %s", key, tostring(shown), want)
    n = n + 1
  end
  return n
end

-- No fetch from the network: no external src/href/url/import.
local function check_self_contained(html)
  for _, bad in ipairs({ 'src="http', "src='http", 'href="http', "href='http", "url(http",
    "@import", "<script", "<link" }) do
    check(not html:find(bad, 1, true), "report.html has %s", bad)
  end
end

function cases.report_run()
  need_gnuplot()
  small_run("output: { keep_epochs: true }\n")
  local code, out, err = nnrun("landscape r --steps 5 -q")
  expect_exit(code, 0, out, err)
  code, out, err = nnrun("report r")
  expect_exit(code, 0, out, err)
  check(out == "r/report.html\n", "stdout: %s", out)
  local html = read(dir .. "/r/report.html") or ""
  check_self_contained(html)
  local n = check_report_numbers(html, read(dir .. "/r/summary.json") or "")
  check(n >= 10, "%d numbers of summary.json checked", n)
  local _, svgs = html:gsub("<svg", "")
  local _, imgs = html:gsub('<img alt="[^"]*" src="data:image/png;base64,', "")
  check(svgs == 1 and imgs == 3, "%d inline SVG (curves), %d PNG data URIs (confusion, "
    .. "landscape x2)", svgs, imgs)
  -- Every epoch of metrics.jsonl is a row of the metrics table.
  local rows = select(2, (html:match('<table class="metrics">(.-)</table>') or ""):gsub("<tr>", ""))
  check(rows == 7, "metrics table rows %d (a head and 6 epochs)", rows)
  check(html:find("<pre>name: small\n", 1, true), "config.yaml in the page")
end

function cases.report_sweep()
  need_gnuplot()
  write(dir .. "/small.yaml", EXPERIMENT)
  write(dir .. "/sweep.yaml", SWEEP)
  local code, out, err = nnrun("sweep sweep.yaml --out s --quiet --jobs 2")
  expect_exit(code, 0, out, err)
  code, out, err = nnrun("report s")
  expect_exit(code, 0, out, err)
  local html = read(dir .. "/s/report.html") or ""
  check_self_contained(html)
  -- The ranked table: rank 1 is the best metric of trials.jsonl (val_loss, min).
  local best
  for line in (read(dir .. "/s/trials.jsonl") or ""):gmatch("[^\n]+") do
    local m = tonumber(line:match('"metric":([-%d.eE+]+)'))
    if m and (not best or m < best) then
      best = m
    end
  end
  local first = html:match('<table class="trials">.-</tr>%s*<tr>(.-)</tr>') or ""
  check(first:match('^<td class="n">1</td>') and tonumber(first:match('data%-value="([^"]+)"'))
    == best, "first row %s, best metric %s", first, tostring(best))
  local _, imgs = html:gsub('<img alt="[^"]*" src="data:image/png;base64,', "")
  check(imgs == 3, "%d plots inline", imgs)
end

-- The page in headless Chromium: it renders (a screenshot of a sensible
-- size, not blank), and the rendered DOM shows summary.json's numbers.
function cases.report_chromium()
  need_gnuplot()
  local browser = have("chromium") and "chromium" or nil
  if not browser then
    io.stderr:write("SKIP: chromium is not installed (tools/deps.sh browser)\n")
    os.exit(77)
  end
  small_run()
  local code, out, err = nnrun("report r")
  expect_exit(code, 0, out, err)
  local page = "file://" .. dir .. "/r/report.html"
  local flags = "--headless --no-sandbox --disable-gpu --disable-background-networking "
    .. "--disable-component-update --disable-sync --no-first-run --user-data-dir="
    .. q(dir .. "/profile")
  local ok = os.execute(string.format("%s %s --dump-dom %s >%s 2>%s", browser, flags, q(page),
    q(dir .. "/dom.html"), q(dir .. "/chromium.err")))
  check(ok, "chromium --dump-dom failed: %s", read(dir .. "/chromium.err") or "")
  local dom = read(dir .. "/dom.html") or ""
  check(dom:find("<svg", 1, true), "no SVG in the rendered page")
  local n = check_report_numbers(dom, read(dir .. "/r/summary.json") or "")
  check(n >= 10, "%d numbers of summary.json checked in the DOM", n)
  ok = os.execute(string.format("cd %s && %s %s --window-size=1280,2400 --screenshot=shot.png %s "
    .. ">/dev/null 2>>%s", q(dir), browser, flags, q(page), q(dir .. "/chromium.err")))
  local w, hgt = png_size(dir .. "/shot.png")
  check(ok and w == 1280 and hgt == 2400, "screenshot %s x %s", tostring(w), tostring(hgt))
  check(#(read(dir .. "/shot.png") or "") > 30000, "the screenshot is (nearly) blank")
end

h.main(cases, case)
