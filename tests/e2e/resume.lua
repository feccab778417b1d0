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
-- the same files: the checkpoint and metrics of the epochs done.)  One
-- thread: the interrupt case below runs the default threads.
function cases.kill_resume()
  local epochs = 6
  write(dir .. "/k.yaml", experiment(epochs, 150))
  local code, out, err = nnrun("k.yaml --out whole --quiet --threads 1")
  expect_exit(code, 0, out, err)

  local run = h.spawn("k.yaml --out cut --quiet --threads 1", 3)
  local pids, got = run.gates(1)
  check(pids, "the run did not reach the gate: %s", got)
  os.execute("kill -KILL " .. run.pid)
  local rc = run.finish()
  check(rc == 137, "exit status %s after SIGKILL", rc)
  check(read(dir .. "/cut/summary.json") == nil, "the killed run finished anyway")
  local done = #lines(read(dir .. "/cut/metrics.jsonl"))
  check(done == 3, "killed after %d epochs, not 3", done)

  code, out, err = nnrun("k.yaml --resume cut --quiet --threads 1")
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
-- The same with AdamW, batchnorm, dropout, gradient clipping and a
-- plateau schedule: the optimiser's moments and update count, the
-- schedule's state, the dropout mask stream and the running statistics all
-- come back from the checkpoint, so the resumed run is the same, byte for
-- byte.
function cases.adam_resume()
  write(dir .. "/a.yaml", [[
name: adamrun
seed: 5
data: { generator: digits03, n_per_class: 60, noise: 0.3, test_split: 0.2 }
model:
  input: 64
  layers: [ { dense: 32 }, batchnorm, { activation: relu }, { dropout: 0.3 }, { dense: 4 } ]
loss: cross_entropy
optimizer: { name: adamw, lr: 0.01, weight_decay: 0.01 }
schedule: { name: plateau, metric: val_accuracy, patience: 0, factor: 0.5 }
train: { epochs: 5, batch_size: 16, validation_split: 0.2, clip_norm: 1 }
output: { checkpoint_every: 1 }
]])
  local code, out, err = nnrun("a.yaml --out whole --quiet --threads 1")
  expect_exit(code, 0, out, err)
  local run = h.spawn("a.yaml --out cut --quiet --threads 1", 2)
  local pids, got = run.gates(1)
  check(pids, "the run did not reach the gate: %s", got)
  os.execute("kill -KILL " .. run.pid)
  run.finish()
  check(#lines(read(dir .. "/cut/metrics.jsonl")) == 2, "not killed after 2 epochs")
  code, out, err = nnrun("a.yaml --resume cut --quiet --threads 1")
  expect_exit(code, 0, out, err)
  local a, b = read(dir .. "/cut/model.nnrun"), read(dir .. "/whole/model.nnrun")
  check(a ~= nil and a == b, "model.nnrun of the resumed run differs from the uninterrupted "
    .. "one (%s vs %s bytes)", a and #a, b and #b)
  check(trajectory(dir .. "/cut/metrics.jsonl") == trajectory(dir .. "/whole/metrics.jsonl"),
    "metrics.jsonl differ:\n%s\n---\n%s", trajectory(dir .. "/cut/metrics.jsonl"),
    trajectory(dir .. "/whole/metrics.jsonl"))
  -- The plateau schedule did lower the rate, so its state mattered.
  local lrs = {}
  for lr in (read(dir .. "/whole/metrics.jsonl") or ""):gmatch('"lr":([-%d.eE+]+)') do
    lrs[#lrs + 1] = tonumber(lr)
  end
  check(#lrs == 5 and lrs[5] < lrs[1], "the plateau schedule never lowered the rate: %s",
    table.concat(lrs, ", "))
end

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

-- Every file of a directory and its bytes (ls -A, so .lock too).
local function snapshot(d)
  local files = {}
  local ls = io.popen("ls -A " .. q(d))
  for name in ls:lines() do
    files[name] = read(d .. "/" .. name) or "(unreadable)"
  end
  ls:close()
  return files
end

local function same_files(a, b, what)
  for name, bytes in pairs(a) do
    check(b[name] == bytes, "%s: %s %s", what, name, b[name] and "changed" or "is gone")
  end
  for name in pairs(b) do
    check(a[name] ~= nil, "%s: %s appeared", what, name)
  end
end

-- A resume that cannot continue the run is refused before anything is
-- written (exit 2, the directory byte for byte as it was); resuming a
-- finished run with nothing left to train leaves its record as it is.
function cases.resume_refused()
  write(dir .. "/k.yaml", experiment(3, 100))
  local code, out, err = nnrun("k.yaml --out r --quiet")
  expect_exit(code, 0, out, err)
  local before = snapshot(dir .. "/r")
  check(before["summary.json"] and before["model.nnrun"] and before[".lock"],
    "no summary.json, model.nnrun or .lock")
  for _, c in ipairs({
    { "--set optimizer.lr=0.5",
      "nnrun: --resume r: checkpoint: the trainer's sgd.lr is 0.5, the checkpoint's 0.05" },
    { "--set model.layers[1].dense=128",
      "nnrun: --resume r: checkpoint: layer 1 is dense 64->256, network has dense 64->128" },
    { "--set train.batch_size=16",
      "nnrun: --resume r: checkpoint: the trainer's batch_size is 16, the checkpoint's 32" },
  }) do
    code, out, err = nnrun("k.yaml --resume r --quiet " .. c[1])
    expect_exit(code, 2, out, err)
    check(err == c[2] .. "\n", "%s: stderr\n%s", c[1], err)
    check(out == "", "%s: stdout %s", c[1], out)
    same_files(before, snapshot(dir .. "/r"), c[1])
  end
  -- Nothing left to train: the same summary line, the same files.
  code, out, err = nnrun("k.yaml --resume r --quiet")
  expect_exit(code, 0, out, err)
  check(out:match("^killme: completed after 3 epochs in "), "stdout %s", out)
  same_files(before, snapshot(dir .. "/r"), "resuming a finished run")
  -- A killed save's leftovers go when the run is resumed (their writer is
  -- gone: no such pid; or it is the previous holder of the lock), and only
  -- those.
  write(dir .. "/r/model.nnrun.tmp.999999999", "torn")
  write(dir .. "/r/summary.json.tmp.999999999.4", "torn")
  write(dir .. "/r/notes.tmp.txt", "mine")
  code, out, err = nnrun("k.yaml --resume r --quiet --set train.epochs=4")
  expect_exit(code, 0, out, err)
  check(out:match("^killme: completed after 4 epochs in "), "stdout %s", out)
  local now = snapshot(dir .. "/r")
  check(not now["model.nnrun.tmp.999999999"] and not now["summary.json.tmp.999999999.4"],
    "stale temporary files are left")
  check(now["notes.tmp.txt"] == "mine", "a file of the user's was removed")
  check((now[".lock"] or ""):match("^%d+\n$"), ".lock holds %s", now[".lock"])
  -- The previous holder's pid (1 here, a process that runs) counts as gone.
  write(dir .. "/r/.lock", "1\n")
  write(dir .. "/r/notes.txt.tmp.1.0", "torn by the previous holder")
  code, out, err = nnrun("k.yaml --resume r --quiet --set train.epochs=5")
  expect_exit(code, 0, out, err)
  check(read(dir .. "/r/notes.txt.tmp.1.0") == nil,
    "the previous lock holder's temporary file is left")
end

-- --out onto a directory that holds a run is refused unless --resume or
-- --force; --force replaces its whole record.
function cases.out_existing()
  write(dir .. "/k.yaml", experiment(2, 100))
  local code, out, err = nnrun("k.yaml --out r --quiet")
  expect_exit(code, 0, out, err)
  local before = snapshot(dir .. "/r")
  code, out, err = nnrun("k.yaml --out r --quiet")
  expect_exit(code, 2, out, err)
  check(err == "nnrun: --out r holds a finished run (completed): continue it with --resume r, "
    .. "or replace it with --force\n", "stderr %s", err)
  same_files(before, snapshot(dir .. "/r"), "refused --out")
  -- A directory with a checkpoint and no summary (a killed run).
  os.execute("mkdir -p " .. q(dir .. "/k") .. " && cp " .. q(dir .. "/r/model.nnrun") .. " "
    .. q(dir .. "/k/"))
  code, out, err = nnrun("k.yaml --out k --quiet")
  expect_exit(code, 2, out, err)
  check(err == "nnrun: --out k holds an unfinished run (unfinished): continue it with --resume "
    .. "k, or replace it with --force\n", "stderr %s", err)
  -- --force: a new run, and nothing of the old one (best.nnrun of a
  -- checkpoint_best run is not kept when the new run writes none).
  code, out, err = nnrun("k.yaml --out r --quiet --force --set output.checkpoint_best=none "
    .. "--set train.epochs=1")
  expect_exit(code, 0, out, err)
  check(out:match("^killme: completed after 1 epoch in "), "stdout %s", out)
  local now = snapshot(dir .. "/r")
  check(now["best.nnrun"] == nil and before["best.nnrun"] ~= nil, "best.nnrun of the old run kept")
  check(select(2, (now["metrics.jsonl"] or ""):gsub("\n", "")) == 1, "metrics.jsonl:\n%s",
    now["metrics.jsonl"])
  -- An empty directory is no run: fine.
  os.execute("mkdir -p " .. q(dir .. "/empty"))
  code, out, err = nnrun("k.yaml --out empty --quiet")
  expect_exit(code, 0, out, err)
end

-- `--resume` without a directory continues the newest run of the
-- experiment's name whose config.yaml is this experiment (threads and
-- train.epochs apart), not a newer one of another configuration.
function cases.resume_match()
  write(dir .. "/k.yaml", experiment(2, 100))
  local code, out, err = nnrun("k.yaml --quiet")
  expect_exit(code, 0, out, err)
  local first = out:match("%-> (runs/killme%-[%d-]+)\n$")
  code, out, err = nnrun("k.yaml --quiet --set data.noise=0.5")
  expect_exit(code, 0, out, err)
  local second = out:match("%-> (runs/killme%-[%d-]+)\n$")
  check(first and second and first ~= second, "runs %s %s", first, second)
  code, out, err = nnrun("k.yaml --resume --quiet --set train.epochs=3 --threads 1")
  expect_exit(code, 0, out, err)
  check(out:match("^killme: completed after 3 epochs.* %-> " .. first:gsub("%-", "%%-") .. "\n$"),
    "resumed %s, expected %s", out, first)
  code, out, err = nnrun("k.yaml --resume --quiet --set data.noise=0.7")
  expect_exit(code, 2, out, err)
  check(err == "nnrun: --resume: no run of 'killme' in runs/ has this configuration (the "
    .. "newest, " .. second .. ", has another config.yaml); give --resume DIR to continue one\n",
    "stderr %s", err)
end

-- Two runs on one directory: the second is refused (exit 2, naming the
-- first's pid) while the first holds it, and the directory is free once
-- the first has exited.  The first is a script that takes the directory
-- and waits on a FIFO: no timing involved.
function cases.lock()
  write(dir .. "/k.yaml", experiment(2, 100))
  write(dir .. "/hold.lua", [[
local nn = require "nnrun"
local rec = require("nnrun.record").new({ out = "shared", quiet = true }, { name = "hold" })
nn.sequential{ nn.dense(64, 4) }:save("shared/model.nnrun")
local ready = assert(io.open("ready", "w")) -- the driver waits for this
ready:write("locked\n")
ready:close()
local gate = assert(io.open("gate", "r")) -- blocks until the driver opens it
gate:read("a")
gate:close()
rec:finish{}
]])
  os.execute("cd " .. q(dir) .. " && mkfifo ready gate")
  -- popen: closing it waits for the holder to exit.  The inner shell
  -- writes its pid and becomes nnrun (exec), so the pid is nnrun's.
  local holder = io.popen(string.format("cd %s && sh -c 'echo $$ >pid; exec \"$0\" hold.lua' %s",
    q(dir), q(exe)), "r")
  local r = assert(io.open(dir .. "/ready", "r"))
  check(r:read("a") == "locked\n", "the holder did not say it holds the directory")
  r:close()
  local pid = (read(dir .. "/pid") or ""):match("%d+")
  check(pid and read(dir .. "/shared/.lock") == pid .. "\n", ".lock holds %s, pid %s",
    read(dir .. "/shared/.lock"), pid)
  local busy = "nnrun: shared is in use by another run (pid " .. tostring(pid) .. ")\n"
  local code, out, err = nnrun("k.yaml --out shared --quiet")
  expect_exit(code, 2, out, err)
  check(err == busy, "--out: stderr %s", err)
  code, out, err = nnrun("k.yaml --resume shared --quiet")
  expect_exit(code, 2, out, err)
  check(err == busy, "--resume: stderr %s", err)
  code, out, err = nnrun("k.yaml --out shared --quiet --force")
  expect_exit(code, 2, out, err)
  check(err == busy, "--force: stderr %s", err)
  local g = assert(io.open(dir .. "/gate", "w"))
  g:close()
  local _, _, hcode = holder:close()
  check(hcode == 0, "the holder exited with %s", tostring(hcode))
  check(read(dir .. "/shared/summary.json") ~= nil, "the holder did not finish its record")
  -- Its lock died with it.
  code, out, err = nnrun("k.yaml --out shared --quiet --force")
  expect_exit(code, 0, out, err)
end

-- A full disk under metrics.jsonl (/dev/full): the run stops at the first
-- failed write, naming the file, exit 1.
function cases.disk_full()
  write(dir .. "/k.yaml", experiment(3, 100))
  os.execute("mkdir -p " .. q(dir .. "/full") .. " && ln -s /dev/full " .. q(dir
    .. "/full/metrics.jsonl"))
  local code, out, err = nnrun("k.yaml --out full --quiet")
  expect_exit(code, 1, out, err)
  check(err == "nnrun: full/metrics.jsonl: cannot write: No space left on device\n",
    "stderr %s", err)
  check(read(dir .. "/full/model.nnrun") == nil, "training went on after the failed write")
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
  -- a NUL byte in a field is refused where it is (it once cut "2\0 9999" to 2)
  write(dir .. "/nul.csv", "a,b\n1,2\0 9999\n")
  code, out, err = nnrun("eval r/model.nnrun nul.csv")
  expect_exit(code, 2, out, err)
  check(err == "nnrun: nul.csv:2:4: NUL byte (a CSV file is text; UTF-16 must be converted to UTF-8)\n",
    "stderr %s", err)
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

-- A run directory written by nnrun before checkpoint format 2 (commit
-- 8128fd7, tests/e2e/v1: 3 of the 6 epochs of v1.yaml, every activation
-- of that version): its model still evaluates and the run resumes to the
-- figures that version reached without stopping (expected_*.json*).  The
-- tolerance, 1e-9 relative, only allows for the last digit of the printed
-- figures.
function cases.v1()
  local v1 = src .. "/tests/e2e/v1"
  os.execute(string.format("cp -r %s %s && cp %s %s", q(v1 .. "/run"), q(dir .. "/r"),
    q(v1 .. "/v1.yaml"), q(dir .. "/v1.yaml")))
  local code, out, err = nnrun("eval r/model.nnrun v1.yaml")
  expect_exit(code, 0, out, err)
  check(out:match("^r/model%.nnrun on v1%.yaml: loss 1%.3634, accuracy 27%.50%%, macro F1 0%.1475 %(40 samples%)\n"),
    "eval of the version 1 model: %s", out)
  code, out, err = nnrun("v1.yaml --resume r --quiet")
  expect_exit(code, 0, out, err)
  local function close(a, b)
    return a == b or math.abs(a - b) <= 1e-9 * math.max(math.abs(a), math.abs(b))
  end
  local got, want = lines(read(dir .. "/r/metrics.jsonl")), lines(read(v1 .. "/expected_metrics.jsonl"))
  check(#got == 6, "%d epochs after resuming, expected 6", #got)
  for i = 1, math.min(#got, #want) do
    for _, key in ipairs({ "train_loss", "val_loss", "val_accuracy", "lr" }) do
      local pat = '"' .. key .. '":([-%d.eE+]+)'
      local a, b = tonumber(got[i]:match(pat)), tonumber(want[i]:match(pat))
      check(a and b and close(a, b), "epoch %d %s: %s, version 1 gave %s", i, key, tostring(a), tostring(b))
    end
  end
  local summary, expected = read(dir .. "/r/summary.json") or "", read(v1 .. "/expected_summary.json")
  for _, key in ipairs({ "test_loss", "test_accuracy", "test_macro_f1" }) do
    local pat = '"' .. key .. '": ([-%d.eE+]+)'
    local a, b = tonumber(summary:match(pat)), tonumber(expected:match(pat))
    check(a and b and close(a, b), "%s: %s, version 1 gave %s", key, tostring(a), tostring(b))
  end
  -- the checkpoint it wrote is version 3, and evaluates like version 1's
  local f = io.open(dir .. "/r/model.nnrun", "rb")
  local head = f and f:read(12) or ""
  if f then
    f:close()
  end
  check(head:byte(9) == 3, "the resumed run wrote checkpoint version %s", tostring(head:byte(9)))
  code, out, err = nnrun("eval r/model.nnrun v1.yaml")
  expect_exit(code, 0, out, err)
  check(out:match("loss 1%.1052, accuracy 57%.50%%, macro F1 0%.5076 %(40 samples%)"), "eval after resuming: %s", out)
end

h.main(cases, case)
