-- End-to-end cases: run build/nnrun as a user would and check its exit
-- status, its stderr and the run directory it leaves.
--   lua5.4 driver.lua NNRUN_EXE SOURCE_DIR WORK_DIR CASE [FILE]
-- CASE "invalid" runs FILE of tests/e2e/invalid/ (see invalid_file below).
-- The driver itself loads no nnrun code (so it works in the sanitizer
-- build, where only the nnrun executable is instrumented).
local exe, src, work, case, case_file = ...
assert(case, "usage: driver.lua NNRUN_EXE SOURCE_DIR WORK_DIR CASE")

local h = dofile((arg[0]:match("^(.*)/") or ".") .. "/harness.lua").new(exe, work .. "/" .. case .. (case_file and ("_" .. case_file) or ""))
local sh_quote, read, write, dir = h.q, h.read, h.write, h.dir
local nnrun, check, expect_exit = h.nnrun, h.check, h.expect_exit

local function expect_stderr(err, want)
  check(err == want .. "\n", "stderr is\n%s\nexpected\n%s", err, want)
end

-- A number field of a JSON file (flat pattern match is enough here).
local function field(json, key)
  local v = json and json:match('"' .. key .. '":%s*([-%d.eE+]+)')
  return v and tonumber(v)
end

local function summary(name)
  local s = read(dir .. "/" .. name .. "/summary.json")
  check(s ~= nil, "no %s/summary.json", name)
  return s or ""
end

local function example(file, name)
  local code, out, err = nnrun(string.format("%s/experiments/%s --out %s", sh_quote(src), file,
    name))
  expect_exit(code, 0, out, err)
  -- A script passing Lua objects is told its config.yaml cannot run again.
  err = err:gsub("^nnrun: [^\n]*/config%.yaml cannot be run again: [^\n]*\n$", "")
  check(err == "", "stderr not empty: %s", err)
  for _, f in ipairs({ "config.yaml", "metrics.jsonl", "summary.json" }) do
    check(read(dir .. "/" .. name .. "/" .. f) ~= nil, "missing %s", f)
  end
  return summary(name), out
end

local cases = {}

function cases.example_xor()
  local s = example("xor.lua", "xor")
  check(field(s, "test_accuracy") == 1, "xor accuracy %s", field(s, "test_accuracy"))
  check(field(s, "test_loss") < 0.05, "xor loss %s", field(s, "test_loss"))
  check(s:match('"status": "completed"'), "status: %s", s)
end

function cases.example_digits03()
  local s, out = example("digits03.lua", "d")
  check(field(s, "test_accuracy") >= 0.9, "digits03 accuracy %s", field(s, "test_accuracy"))
  check(field(s, "parameters") == 2212, "parameters %s", field(s, "parameters"))
  check(out:match("epoch  1/20  train "), "no epoch lines in\n%s", out)
  local metrics = read(dir .. "/d/metrics.jsonl")
  local n = select(2, metrics:gsub("\n", ""))
  check(n == field(s, "epochs"), "metrics lines %d, epochs %s", n, field(s, "epochs"))
  check(metrics:match('^{"epoch":1,"train_loss":[-%d.e]+,"val_loss":[-%d.e]+,"val_accuracy":'),
    "metrics line: %s", metrics)
end

function cases.example_regression()
  local s = example("regression.lua", "r")
  check(field(s, "test_loss") < 0.05, "regression loss %s", field(s, "test_loss"))
  check(not s:match('"test_accuracy"'), "regression has no accuracy: %s", s)
end

function cases.overrides()
  local code, out, err = nnrun(string.format("%s/experiments/digits03.lua --out o --quiet "
    .. "--seed 5 --threads 1 --set train.epochs=2 --set optimizer.lr=0.05 "
    .. "--set train.early_stopping=false", sh_quote(src)))
  expect_exit(code, 0, out, err)
  local s = summary("o")
  check(field(s, "epochs") == 2, "epochs %s", field(s, "epochs"))
  check(field(s, "seed") == 5, "seed %s", field(s, "seed"))
  check(field(s, "threads") == 1, "threads %s", field(s, "threads"))
  local cfg = read(dir .. "/o/config.yaml") or ""
  check(cfg:match("lr:? 0%.05") or cfg:match('"lr": 0%.05'), "config.yaml lacks lr 0.05:\n%s", cfg)
  check(select(2, out:gsub("\n", "")) == 1 and out:match("^digits03: completed after 2 epochs"),
    "--quiet prints one line, got\n%s", out)
end

function cases.plain_script()
  write(dir .. "/plain.lua", 'local nn = require "nnrun"\nlocal opts = ...\n'
    .. 'print(nn.version(), opts.quiet, opts.seed)\n')
  local code, out, err = nnrun("plain.lua --quiet --seed 4")
  expect_exit(code, 0, out, err)
  check(out:match("^%d+%.%d+%.%d+\ttrue\t4\n$"), "stdout %s", out)
end

function cases.help_version()
  local code, out = nnrun("--help")
  check(code == 0 and out:match("^usage: nnrun FILE"), "help: %s %s", code, out)
  -- --debug, --force, --help and --version are options of every command,
  -- listed before the sweep options.
  local common, sweep = out:match("\noptions:\n(.-)\nsweep options(.*)$")
  for _, opt in ipairs({ "--debug", "--force", "--help", "--version", "--quiet" }) do
    check(common and common:find("\n  " .. opt .. " ", 1, true) or (common or ""):find("^  " .. opt .. " "),
      "%s is not among the common options:\n%s", opt, out)
    check(sweep and not sweep:find("\n  " .. opt .. " ", 1, true), "%s among the sweep options", opt)
  end
  code, out = nnrun("--version")
  check(code == 0 and out:match("^nnrun %d+%.%d+%.%d+"), "version: %s %s", code, out)
end

-- One case per error class: exit status and the exact line on stderr.
function cases.error_syntax()
  write(dir .. "/syntax.lua", "local x = = 1\n")
  local code, out, err = nnrun("syntax.lua")
  expect_exit(code, 2, out, err)
  expect_stderr(err, "nnrun: syntax.lua:1: unexpected symbol near '='")
end

function cases.error_missing_file()
  local code, out, err = nnrun("nofile.lua")
  expect_exit(code, 2, out, err)
  expect_stderr(err, "nnrun: nofile.lua: No such file or directory")
end

function cases.error_file_type()
  write(dir .. "/x.txt", "")
  local code, out, err = nnrun("x.txt")
  expect_exit(code, 2, out, err)
  expect_stderr(err, "nnrun: x.txt: unsupported file type (expected .lua, .yaml or .yml)")
end

function cases.error_unknown_option()
  local code, out, err = nnrun("x.lua --lerning-rate 3")
  expect_exit(code, 2, out, err)
  expect_stderr(err, "nnrun: unknown option '--lerning-rate' (see nnrun --help)")
  code, out, err = nnrun("")
  expect_exit(code, 2, out, err)
  expect_stderr(err, "nnrun: no FILE given (see nnrun --help)")
end

function cases.error_bad_argument()
  write(dir .. "/badarg.lua", 'local nn = require "nnrun"\n\nlocal layer = nn.dense(0, 3)\n')
  local code, out, err = nnrun("badarg.lua")
  expect_exit(code, 2, out, err)
  expect_stderr(err, "nnrun: badarg.lua:3: bad argument #1 to 'dense' (input width must be >= 1)")
  write(dir .. "/badopt.lua", 'local nn = require "nnrun"\nnn.optim.sgd{ lerning_rate = 0.1 }\n')
  code, out, err = nnrun("badopt.lua")
  expect_exit(code, 2, out, err)
  expect_stderr(err, "nnrun: badopt.lua:2: bad argument #1 to 'sgd' (unknown option 'lerning_rate')")
end

function cases.error_script()
  write(dir .. "/err.lua", 'error("no data here")\n')
  local code, out, err = nnrun("err.lua")
  expect_exit(code, 2, out, err)
  expect_stderr(err, "nnrun: err.lua:1: no data here")
  -- --debug adds the traceback
  code, out, err = nnrun("err.lua --debug")
  expect_exit(code, 2, out, err)
  check(err:match("^nnrun: err.lua:1: no data here\nstack traceback:\n"), "debug: %s", err)
  -- error() without a message, or with a table: a message naming the script,
  -- and never the exit status a table asks for.
  for _, c in ipairs({
    { "error()", "nnrun: e.lua: error raised without a message" },
    { "error({ exit = 0 })", "nnrun: e.lua: error raised with a table value, not a message" },
    { "error(setmetatable({}, { __tostring = function() return 'mine' end }))", "nnrun: mine" },
  }) do
    write(dir .. "/e.lua", c[1] .. "\n")
    code, out, err = nnrun("e.lua")
    expect_exit(code, 2, out, err)
    expect_stderr(err, c[2])
  end
  -- No message shows a path inside nnrun's own scripts.
  write(dir .. "/internal.lua", 'require("nnrun.runner").run({})\n')
  code, out, err = nnrun("internal.lua")
  expect_exit(code, 2, out, err)
  check(err:match("^nnrun: [^\n]+\n$") and not err:find("nnrun/runner.lua", 1, true)
    and not err:find("scripts/", 1, true), "stderr %s", err)
end

function cases.error_config()
  write(dir .. "/cfg.lua", [[
return {
  data = { generator = "digits03" },
  model = { layers = { { dense = 3 } } },
  loss = "cross_entropy",
  optimizer = { lr = -1, lerning_rate = 2 },
}
]])
  local code, out, err = nnrun("cfg.lua --out never")
  expect_exit(code, 2, out, err)
  expect_stderr(err, table.concat({
    "nnrun: cfg.lua: optimizer.lerning_rate: unknown key (did you mean 'lr'?)",
    "nnrun: cfg.lua: optimizer.lr: must be > 0, got -1",
    "nnrun: cfg.lua: model.layers[1].dense: the network has 3 outputs, the data has 4 classes",
  }, "\n"))
  check(read(dir .. "/never/summary.json") == nil and read(dir .. "/never/config.yaml") == nil,
    "a bad configuration left a run directory")
  code, out, err = nnrun(string.format("%s/experiments/digits03.lua --set train.epoch=3",
    sh_quote(src)))
  expect_exit(code, 2, out, err)
  expect_stderr(err, "nnrun: --set train.epoch: unknown key (did you mean 'epochs'?)")
end

function cases.error_diverged()
  write(dir .. "/div.lua", [[
local nn = require "nnrun"
local net = nn.sequential{ nn.dense(2, 4), nn.relu(), nn.dense(1) }
nn.fit(net, nn.datasets.xor(), { loss = "mse", optimizer = { lr = 1e30 }, epochs = 50 })
]])
  local code, out, err = nnrun("div.lua")
  expect_exit(code, 1, out, err)
  check(err:match("^nnrun: div.lua:3: training diverged"), "stderr %s", err)
  write(dir .. "/divexp.lua", [[
return { data = { generator = "xor" }, model = { layers = { { dense = 4, activation = "relu" },
  { dense = 1 } } }, optimizer = { lr = 1e30 }, train = { epochs = 50 } }
]])
  code, out, err = nnrun("divexp.lua --out dv")
  expect_exit(code, 1, out, err)
  check(summary("dv"):match('"status": "diverged"'), "status: %s", summary("dv"))
  -- The reason goes to stderr too, not only into the summary line.
  check(err:match("^nnrun: training diverged at epoch %d+, batch %d+: [^\n]+ %(run directory dv%)\n$"),
    "stderr %s", err)
  -- bce and log_loss clamp probabilities before the log: a NaN output (the
  -- weights are NaN after the second step) must not be clamped to a finite
  -- loss.  The run stops, names epoch and batch on stderr, exits 1.
  for _, c in ipairs({ { "bce", 1, "sigmoid" }, { "log_loss", 2, "softmax" } }) do
    write(dir .. "/div_" .. c[1] .. ".yaml", string.format([[
data: { generator: xor }
model: { layers: [ { dense: 4, activation: relu }, { dense: %d, activation: %s } ] }
loss: %s
optimizer: { lr: 1.0e+30 }
train: { epochs: 50, batch_size: 4, shuffle: false }
]], c[2], c[3], c[1]))
    code, out, err = nnrun(string.format("div_%s.yaml --out dv_%s --quiet", c[1], c[1]))
    expect_exit(code, 1, out, err)
    check(err:match("^nnrun: training diverged at epoch 2, batch 1: loss is %-?nan %(run directory dv_"
      .. c[1] .. "%)\n$"),
      "%s: stderr %s", c[1], err)
    check(out:match("^div_" .. c[1] .. ": diverged after 1 epoch in "), "%s: stdout %s", c[1], out)
    check(summary("dv_" .. c[1]):match('"status": "diverged"'), "status: %s", summary("dv_" .. c[1]))
  end
end

function cases.error_io()
  local code, out, err = nnrun(string.format("%s/experiments/digits03.lua --out /dev/null/run",
    sh_quote(src)))
  expect_exit(code, 1, out, err)
  expect_stderr(err, "nnrun: cannot create the run directory /dev/null/run (/dev/null: File exists)")
end

-- An empty --out (or --resume DIR) is refused like an empty
-- output.directory, before anything else: it used to mean "/".
function cases.error_empty_out()
  for _, args in ipairs({ "x.yaml --out ''", "sweep x.yaml --out ''", "x.yaml --out=",
    "--out '' x.yaml" }) do
    local code, out, err = nnrun(args)
    expect_exit(code, 2, out, err)
    expect_stderr(err, "nnrun: option --out needs a directory, got an empty string")
  end
  local code, out, err = nnrun("x.yaml --resume ''")
  expect_exit(code, 2, out, err)
  expect_stderr(err, "nnrun: option --resume needs a directory, got an empty string")
end

function cases.leak()
  local code, out, err = nnrun(string.format("%s/tests/e2e/leak.lua", sh_quote(src)))
  expect_exit(code, 0, out, err)
end

-- On a terminal of 50 columns (a pty from script(1)), every redraw of the
-- live bar fits in 49 columns (a full line wraps, and each redraw would
-- start a new one), and the lines after it start at column 0.
function cases.tty_width()
  local cmd = string.format("cd %s && script -qec %s /dev/null >tty.txt 2>&1", sh_quote(dir),
    sh_quote(string.format("stty cols 50; %s %s/experiments/digits03.yaml --out t --threads 1 "
      .. "--set train.epochs=2", sh_quote(exe), sh_quote(src))))
  local _, _, code = os.execute(cmd)
  local text = read(dir .. "/tty.txt") or ""
  check(code == 0, "exit status %s:\n%s", tostring(code), text)
  local bars = 0
  for seg in text:gmatch("\27%[K([^\r\n]*)") do
    if seg:match("^epoch %d+/%d+ %[") then
      bars = bars + 1
      -- Columns, not bytes: the loss sparkline is UTF-8.
      local cols = utf8.len(seg) or #seg
      check(cols <= 49, "a bar of %d columns: %s", cols, seg)
    end
  end
  check(bars >= 2, "%d bars drawn:\n%s", bars, text)
  check(text:match("\ndigits03: completed after 2 epochs"), "the summary does not start a line:\n%s",
    text)
end

-- Closing what a running nn.fit uses, from its callbacks (fit_close.lua).
function cases.fit_close()
  local code, out, err = nnrun(string.format("%s/tests/e2e/fit_close.lua", sh_quote(src)))
  expect_exit(code, 0, out, err)
  check(out == "fit_close: ok\n", "stdout %s", out)
end

-- A number of a JSON file as written (the text, so that equal means bitwise).
local function raw(json, key)
  return json and json:match('"' .. key .. '":%s*([-%d.eE+]+)')
end

-- The .lua and .yaml twins of an example give the same figures, bit for bit.
local function twins(name, fields)
  local s = {}
  for _, ext in ipairs({ "lua", "yaml" }) do
    local code, out, err = nnrun(string.format("%s/experiments/%s.%s --out %s --threads 2 --quiet",
      sh_quote(src), name, ext, ext))
    expect_exit(code, 0, out, err)
    s[ext] = summary(ext)
  end
  for _, f in ipairs(fields) do
    check(raw(s.lua, f) ~= nil and raw(s.lua, f) == raw(s.yaml, f), "%s: %s %s (lua) vs %s (yaml)",
      name, f, raw(s.lua, f), raw(s.yaml, f))
  end
  return s.yaml
end

function cases.twin_xor()
  local s = twins("xor", { "test_loss", "test_accuracy", "parameters" })
  check(field(s, "test_accuracy") == 1, "xor accuracy %s", field(s, "test_accuracy"))
end

function cases.twin_digits03()
  local s = twins("digits03", { "test_loss", "test_accuracy", "train_loss", "val_loss",
    "epochs", "parameters" })
  check(field(s, "test_accuracy") >= 0.9, "digits03 accuracy %s", field(s, "test_accuracy"))
end

function cases.twin_regression()
  local s = twins("regression", { "test_loss", "train_loss", "val_loss", "parameters" })
  check(field(s, "test_loss") < 0.05, "regression loss %s", field(s, "test_loss"))
end

-- The config.yaml a run leaves behind runs again to the same figures.
function cases.roundtrip()
  local code, out, err = nnrun(string.format("%s/experiments/digits03.yaml --out a --threads 2 "
    .. "--quiet --set train.epochs=6 --set optimizer.lr=0.05", sh_quote(src)))
  expect_exit(code, 0, out, err)
  code, out, err = nnrun("a/config.yaml --out b --threads 2 --quiet")
  expect_exit(code, 0, out, err)
  local a, b = summary("a"), summary("b")
  for _, f in ipairs({ "test_loss", "test_accuracy", "train_loss", "val_loss", "val_accuracy",
    "epochs", "parameters", "seed", "threads" }) do
    check(raw(a, f) ~= nil and raw(a, f) == raw(b, f), "%s: %s then %s", f, raw(a, f), raw(b, f))
  end
  check(field(a, "epochs") == 6, "epochs %s", field(a, "epochs"))
  check(read(dir .. "/a/config.yaml") == read(dir .. "/b/config.yaml"),
    "config.yaml differs after a round trip:\n%s\n%s", read(dir .. "/a/config.yaml"),
    read(dir .. "/b/config.yaml"))
  check(read(dir .. "/a/config.yaml"):match("\n  lr: 0%.05\n"), "--set not recorded:\n%s",
    read(dir .. "/a/config.yaml"))
end

-- A byte-order mark and CRLF line ends are fine; a Lua script can load a
-- YAML experiment, change it and return it.
function cases.yaml_friendly()
  write(dir .. "/bom.yaml", "\239\187\191# saved by an editor\r\nname: bom\r\ndata: {generator: xor}"
    .. "\r\nmodel:\r\n  layers: [{dense: 4, activation: tanh}, {dense: 1, activation: sigmoid}]"
    .. "\r\nloss: bce\r\noptimizer: sgd\r\ntrain: {epochs: 3, batch_size: 4}\r\n")
  local code, out, err = nnrun("bom.yaml --out bom --quiet")
  expect_exit(code, 0, out, err)
  check(field(summary("bom"), "epochs") == 3, "bom epochs")
  write(dir .. "/load.lua", string.format([[
local config = require "nnrun.config"
local exp = config.load(%q)
exp.name, exp.train.epochs = "loaded", 2
return exp
]], src .. "/experiments/digits03.yaml"))
  code, out, err = nnrun("load.lua --out l --quiet")
  expect_exit(code, 0, out, err)
  check(out:match("^loaded: completed after 2 epochs"), "stdout %s", out)
end

-- One file of tests/e2e/invalid/: its header holds the command's extra
-- arguments ("# args: ...") and the exact stderr, one "# expect: " line per
-- line (or FILE.expect holds them, for a file that cannot have a header).
-- nnrun must exit with 2, print nothing on stdout, train nothing and leave
-- no run directory.
function cases.invalid()
  local idir = src .. "/tests/e2e/invalid"
  local text = read(idir .. "/" .. case_file)
  check(text ~= nil, "no file %s", case_file)
  local header = read(idir .. "/" .. case_file .. ".expect") or text or ""
  local args, want = "", {}
  for line in header:gmatch("[^\n]*") do
    local a = line:match("^# args: (.*)$")
    local e = line:match("^# expect: (.*)$")
    if a then
      args = a
    elseif e then
      want[#want + 1] = e
    end
  end
  check(#want > 0, "%s has no '# expect:' line", case_file)
  local run = dir .. "/run"
  local cmd = string.format("cd %s && %s %s %s --out %s >%s 2>%s", sh_quote(idir), sh_quote(exe),
    sh_quote(case_file), args, sh_quote(run), sh_quote(dir .. "/out.txt"),
    sh_quote(dir .. "/err.txt"))
  local _, _, code = os.execute(cmd)
  local out, err = read(dir .. "/out.txt") or "", read(dir .. "/err.txt") or ""
  expect_exit(code, 2, out, err)
  expect_stderr(err, table.concat(want, "\n"))
  check(out == "", "stdout not empty: %s", out)
  check(io.open(run) == nil, "a run directory was left behind: %s", run)
end

h.main(cases, case)
