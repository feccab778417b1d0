-- End-to-end cases of data files, checkpoints, --resume and `nnrun eval`,
-- through the nnrun executable:
--   lua5.4 resume.lua NNRUN_EXE SOURCE_DIR WORK_DIR CASE
-- Like driver.lua it loads no nnrun code, so it runs in the sanitizer build.
local exe, src, work, case = ...
assert(case, "usage: resume.lua NNRUN_EXE SOURCE_DIR WORK_DIR CASE")

local h = dofile((arg[0]:match("^(.*)/") or ".") .. "/harness.lua").new(exe, work .. "/resume_" .. case)
local q, read, write, dir = h.q, h.read, h.write, h.dir
local nnrun, check, expect_exit = h.nnrun, h.check, h.expect_exit

local function lines(s)
  local t = {}
  for l in (s or ""):gmatch("[^\n]+") do
    t[#t + 1] = l
  end
  return t
end

-- A small generated experiment, checkpoints after every epoch.
local EXPERIMENT_TEXT = [[
name: killme
seed: 3
data: { generator: digits03, n_per_class: N, noise: 0.3, test_split: 0.2 }
model:
  input: 64
  layers: [ { dense: 256, activation: relu }, { dense: 256, activation: relu }, { dense: 4 } ]
loss: cross_entropy
optimizer: { lr: 0.05, momentum: 0.9, nesterov: true }
schedule: { name: cosine, per_batch: true, total: 3000, warmup: 50 }
train: { epochs: EPOCHS, batch_size: 32, validation_split: 0.1 }
output: { checkpoint_every: 1, checkpoint_best: val_loss }
]]

local function experiment(epochs, n)
  return (EXPERIMENT_TEXT:gsub("EPOCHS", tostring(epochs)):gsub("N,", tostring(n) .. ","))
end

-- Metrics lines without their wall times.
local function trajectory(path)
  return (read(path) or ""):gsub(',"seconds":[-%d.eE+]+', "")
end

local cases = {}

-- The run waits at the test gate (h.spawn) after epoch 3 of 6, its
-- checkpoint written: SIGKILL it there, resume it, and compare with a run
-- that was never interrupted.  (A kill in the middle of an epoch leaves
-- the same files: the checkpoint and metrics of the epochs done.)
function cases.kill_resume()
  local epochs = 6
  write(dir .. "/k.yaml", experiment(epochs, 150))
  local code, out, err = nnrun("k.yaml --out whole --quiet")
  expect_exit(code, 0, out, err)

  local run = h.spawn("k.yaml --out cut --quiet", 3)
  local pids, got = run.gates(1)
  check(pids, "the run did not reach the gate: %s", got)
  os.execute("kill -KILL " .. run.pid)
  local rc = run.finish()
  check(rc == 137, "exit status %s after SIGKILL", rc)
  check(read(dir .. "/cut/summary.json") == nil, "the killed run finished anyway")
  local done = #lines(read(dir .. "/cut/metrics.jsonl"))
  check(done == 3, "killed after %d epochs, not 3", done)

  code, out, err = nnrun("k.yaml --resume cut --quiet")
  expect_exit(code, 0, out, err)
  check(out:match("^killme: completed after " .. epochs .. " epochs"), "resume said %s", out)
  local a, b = read(dir .. "/cut/model.nnrun"), read(dir .. "/whole/model.nnrun")
  check(a ~= nil and a == b, "model.nnrun of the resumed run differs from the uninterrupted "
    .. "one (%s vs %s bytes)", a and #a, b and #b)
  check(trajectory(dir .. "/cut/metrics.jsonl") == trajectory(dir .. "/whole/metrics.jsonl"),
    "metrics.jsonl differ:\n%s\n---\n%s", trajectory(dir .. "/cut/metrics.jsonl"),
    trajectory(dir .. "/whole/metrics.jsonl"))
  local sa, sb = read(dir .. "/cut/summary.json") or "", read(dir .. "/whole/summary.json") or ""
  check(sa:match('"test_loss": [^,]+') == sb:match('"test_loss": [^,]+'),
    "test loss differs: %s / %s", sa, sb)
  check(read(dir .. "/cut/best.nnrun") ~= nil, "no best.nnrun")
end

-- Ctrl-C (SIGINT) while the run waits at the test gate after epoch 3: the
-- run stops at the next batch, says so (exit 130, summary status
-- "interrupted", the command to continue), and --resume then ends bitwise
-- where an uninterrupted run ends.
function cases.interrupt()
  local epochs = 6
  write(dir .. "/k.yaml", experiment(epochs, 150))
  local code, out, err = nnrun("k.yaml --out whole --quiet")
  expect_exit(code, 0, out, err)

  local run = h.spawn("k.yaml --out cut --quiet", 3)
  local pids, got = run.gates(1)
  check(pids, "the run did not reach the gate: %s", got)
  os.execute("kill -INT " .. run.pid)
  local rc, _, cerr = run.finish()
  check(rc == 130, "exit status %s after SIGINT, expected 130; stderr: %s", tostring(rc), cerr)
  local summary = read(dir .. "/cut/summary.json") or ""
  check(summary:match('"status": "interrupted"') and summary:match('"signal": "SIGINT"'),
    "summary.json: %s", summary)
  local done = #lines(read(dir .. "/cut/metrics.jsonl"))
  check(done == 3, "interrupted after %d epochs, not 3", done)
  check(cerr == "nnrun: interrupted by SIGINT after 3 epochs; continue with: "
    .. "nnrun k.yaml --resume cut\n", "stderr: %s", cerr)

  code, out, err = nnrun("k.yaml --resume cut --quiet")
  expect_exit(code, 0, out, err)
  local a, b = read(dir .. "/cut/model.nnrun"), read(dir .. "/whole/model.nnrun")
  check(a ~= nil and a == b, "model.nnrun after interrupt and resume differs from the "
    .. "uninterrupted one")
end

-- Resuming a run that early stopping ended trains no further: the same
-- status, epochs and figures.
function cases.resume_stopped()
  local exp = src .. "/experiments/digits03.yaml"
  local code, out, err = nnrun(q(exp) .. " --set train.epochs=200 --out es --quiet")
  expect_exit(code, 0, out, err)
  local first, metrics = read(dir .. "/es/summary.json") or "", read(dir .. "/es/metrics.jsonl")
  check(first:match('"status": "stopped_early"'), "not stopped early: %s", first)
  code, out, err = nnrun(q(exp) .. " --set train.epochs=200 --resume es --quiet")
  expect_exit(code, 0, out, err)
  local again = read(dir .. "/es/summary.json") or ""
  for _, k in ipairs({ "status", "epochs", "test_loss", "test_accuracy" }) do
    local pat = '"' .. k .. '": ([^,\n]+)'
    check(first:match(pat) ~= nil and first:match(pat) == again:match(pat), "%s: %s vs %s", k,
      first:match(pat), again:match(pat))
  end
  check(read(dir .. "/es/metrics.jsonl") == metrics, "metrics.jsonl changed")
end

-- --resume without DIR: --out, else the newest run of the experiment.
function cases.resume_default()
  write(dir .. "/k.yaml", experiment(3, 100))
  local code, out, err = nnrun("k.yaml --quiet --set train.epochs=2")
  expect_exit(code, 0, out, err)
  code, out, err = nnrun("k.yaml --resume --quiet")
  expect_exit(code, 0, out, err)
  check(out:match("^killme: completed after 3 epochs.* %-> runs/killme%-%d+%-%d+"),
    "resume: %s", out)
  code, out, err = nnrun("k.yaml --resume nowhere")
  expect_exit(code, 2, out, err)
  check(err == "nnrun: --resume: nowhere: no model.nnrun to resume from\n", "stderr %s", err)
  write(dir .. "/other.yaml", (experiment(3, 100):gsub("killme", "other")))
  code, out, err = nnrun("other.yaml --resume")
  expect_exit(code, 2, out, err)
  check(err == "nnrun: --resume: no run of 'other' with a model.nnrun in runs/ to resume "
    .. "(give --resume DIR)\n", "stderr %s", err)
end

-- nnrun eval on a run's checkpoint: the experiment's test set, a CSV file;
-- bad input exits 2 with one line.
function cases.eval()
  write(dir .. "/k.yaml", experiment(3, 100))
  local code, out, err = nnrun("k.yaml --out r --quiet")
  expect_exit(code, 0, out, err)
  local acc = (read(dir .. "/r/summary.json") or ""):match('"test_accuracy": ([%d.]+)')
  code, out, err = nnrun("eval r/model.nnrun k.yaml")
  expect_exit(code, 0, out, err)
  local shown = out:match("accuracy ([%d.]+)%%")
  check(acc and shown and math.abs(tonumber(shown) - 100 * tonumber(acc)) < 0.01,
    "eval accuracy %s, run %s\n%s", shown, acc, out)
  check(out:match("\ntrue\\pred +0 +1 +2 +3 +precision recall +f1\n"), "no confusion table:\n%s",
    out)
  local csv = read(dir .. "/r/confusion.csv") or ""
  check(csv:match("^true\\predicted,0,1,2,3\n0,%d+,%d+,%d+,%d+\n"), "confusion.csv:\n%s", csv)
  -- a CSV file: 64 features and the class in the last column
  local rows = { {} }
  for j = 1, 64 do
    rows[1][j] = "p" .. j
  end
  rows[1][65] = "class"
  for i = 2, 5 do
    local r = {}
    for j = 1, 64 do
      r[j] = (i + j) % 3 == 0 and "1" or "0"
    end
    r[65] = tostring(i % 4)
    rows[i] = r
  end
  local text = {}
  for i, r in ipairs(rows) do
    text[i] = table.concat(r, ",")
  end
  write(dir .. "/d.csv", table.concat(text, "\n") .. "\n")
  code, out, err = nnrun("eval r/model.nnrun d.csv --quiet")
  expect_exit(code, 0, out, err)
  check(out:match("^r/model.nnrun on d.csv: loss [%d.]+, accuracy [%d.]+%%, macro F1 [%d.]+ "
    .. "%(4 samples%)\n$"), "eval csv: %s", out)
  -- errors
  code, out, err = nnrun("eval nothing.nnrun k.yaml")
  expect_exit(code, 2, out, err)
  check(err == "nnrun: nothing.nnrun: No such file or directory\n", "stderr %s", err)
  code, out, err = nnrun("eval k.yaml k.yaml")
  expect_exit(code, 2, out, err)
  check(err:match("^nnrun: k.yaml: not an nnrun checkpoint"), "stderr %s", err)
  code, out, err = nnrun("eval r/model.nnrun")
  expect_exit(code, 2, out, err)
  check(err == "nnrun: eval needs MODEL and DATA (see nnrun eval --help)\n", "stderr %s", err)
  write(dir .. "/bad.csv", "a,b\n1,x\n")
  code, out, err = nnrun("eval r/model.nnrun bad.csv")
  expect_exit(code, 2, out, err)
  check(err:match("^nnrun: bad.csv:2: ") and select(2, err:gsub("\n", "")) == 1, "stderr %s", err)
end

-- Fashion-MNIST loads (when installed): sizes, bytes, class names; the
-- experiment file resolves.  Skipped (exit 77) without the data.
function cases.fashion_mnist()
  if not read("/usr/share/datasets/fashion-mnist/t10k-labels-idx1-ubyte.gz") then
    print("fashion_mnist: skipped (dataset-fashion-mnist not installed)")
    os.exit(77) -- ctest SKIP_RETURN_CODE
  end
  write(dir .. "/fm.lua", [[
local nn = require "nnrun"
local d = nn.datasets.fashion_mnist{ split = "test" }
local names = d:class_names()
local x = d:split(0.99)
local px = x:x()
print(d:size(), d:features(), d:is_compact(), names[1], names[10], px:rows(), px:get(1, 1) >= 0)
]])
  local code, out, err = nnrun("fm.lua")
  expect_exit(code, 0, out, err)
  check(out == "10000\t784\ttrue\tT-shirt/top\tAnkle boot\t100\ttrue\n", "stdout %s", out)
  write(dir .. "/missing.lua", 'require("nnrun").datasets.fashion_mnist{ dir = "/nonexistent" }\n')
  code, out, err = nnrun("missing.lua")
  expect_exit(code, 2, out, err)
  check(err:match("/nonexistent/train%-images%-idx3%-ubyte%.gz is missing %(install the Debian "
    .. "package dataset%-fashion%-mnist"), "stderr %s", err)
end

local fn = cases[case]
if not fn then
  io.stderr:write("unknown case ", case, "\n")
  os.exit(2)
end
fn()
if h.failures() > 0 then
  os.exit(1)
end
print(case .. ": ok")
