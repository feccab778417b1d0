-- End-to-end cases of `nnrun sweep`, through the nnrun executable:
--   lua5.4 sweep.lua NNRUN_EXE SOURCE_DIR WORK_DIR CASE [FILE]
-- CASE "invalid" runs FILE of tests/e2e/sweep_invalid/ (its "# expect:"
-- lines are the exact stderr).  Like driver.lua it loads no nnrun code, so
-- it runs in the sanitizer build.
local exe, src, work, case, case_file = ...
assert(case, "usage: sweep.lua NNRUN_EXE SOURCE_DIR WORK_DIR CASE [FILE]")

local h = dofile((arg[0]:match("^(.*)/") or ".") .. "/harness.lua").new(exe, work .. "/sweep_" .. case .. (case_file and ("_" .. case_file) or ""))
local q, read, write, dir = h.q, h.read, h.write, h.dir
local nnrun, check, expect_exit = h.nnrun, h.check, h.expect_exit

-- A sweep of 6 short trials of digits03 (a 2 x 2 grid, then 2 random).
local SWEEP = string.format([[
name: small
experiment: %s/experiments/digits03.yaml
metric: val_accuracy
set: { train.epochs: 4, data.n_per_class: 60 }
grid:
  optimizer.lr: [0.02, 0.2]
  train.batch_size: [8, 32]
random:
  trials: 2
  seed: 3
  params:
    optimizer.momentum: { uniform: [0.5, 0.9] }
    model.layers[1].dense: { choice: [8, 16] }
]], src)

-- trials.jsonl as { [id] = line without its seconds }.
local function trials(out)
  local t, n = {}, 0
  for line in (read(dir .. "/" .. out .. "/trials.jsonl") or ""):gmatch("[^\n]+") do
    local id = tonumber(line:match('^{"id":(%d+),'))
    check(id ~= nil, "bad line %s", line)
    if id then
      check(t[id] == nil, "trial %d twice", id)
      t[id] = line:gsub(',"seconds":[^,}]*', "")
      n = n + 1
    end
  end
  return t, n
end

local function raw(json, key)
  return json and json:match('"' .. key .. '":%s*([-%d.eE+]+)')
end

local cases = {}

function cases.run()
  write(dir .. "/small.yaml", SWEEP)
  local code, out, err = nnrun("sweep small.yaml --jobs 2")
  expect_exit(code, 0, out, err)
  check(err == "", "stderr: %s", err)
  local t, n = trials("sweeps/small")
  check(n == 6, "%d lines in trials.jsonl", n)
  check((t[1] or ""):match('^{"id":1,"trial":"trial%-0001","parameters":{"optimizer.lr":0.02,'
    .. '"train.batch_size":8},"status":"completed","metric":[%d.e-]+}$'), "line 1: %s", t[1])
  check((t[2] or ""):match('"optimizer.lr":0.02,"train.batch_size":32'), "line 2: %s", t[2])
  check((t[6] or ""):match('"model.layers%[1%].dense":%d+,"optimizer.momentum":0%.[5-8]'),
    "line 6: %s", t[6])
  for id = 1, 6 do
    local d = string.format("%s/sweeps/small/trial-%04d/", dir, id)
    for _, f in ipairs({ "experiment.yaml", "config.yaml", "metrics.jsonl", "summary.json" }) do
      check(read(d .. f) ~= nil, "no %s%s", d, f)
    end
  end
  check(out:match("\nrank  trial  val_accuracy  status     parameters\n   1   %d%d%d%d  "),
    "no ranked table in\n%s", out)
  local best = tonumber(out:match("best: trial (%d+)"))
  check(best, "no best line in\n%s", out)
  -- best.yaml runs and gives the best trial's figures, bit for bit.
  code, out, err = nnrun("sweeps/small/best.yaml --out again --quiet")
  expect_exit(code, 0, out, err)
  local a = read(string.format("%s/sweeps/small/trial-%04d/summary.json", dir, best or 0))
  local b = read(dir .. "/again/summary.json")
  for _, k in ipairs({ "val_accuracy", "val_loss", "test_loss", "test_accuracy" }) do
    check(raw(a, k) and raw(a, k) == raw(b, k), "%s: %s (trial) vs %s (best.yaml)", k,
      raw(a, k), raw(b, k))
  end
  check(t[best or 0] and t[best]:match('"metric":' .. (raw(a, "val_accuracy") or "?"):gsub("%.",
    "%%.") .. "}"), "trials.jsonl metric of the best: %s", t[best or 0])
end

function cases.resume()
  write(dir .. "/small.yaml", SWEEP)
  local code, out, err = nnrun("sweep small.yaml --out s --jobs 2 --quiet")
  expect_exit(code, 0, out, err)
  local full = trials("s")
  -- Trials 2 and 5 did not finish; every log says "stale" to tell reruns.
  local lines = {}
  for line in read(dir .. "/s/trials.jsonl"):gmatch("[^\n]+") do
    if not (line:match('^{"id":2,') or line:match('^{"id":5,')) then
      lines[#lines + 1] = line
    end
  end
  write(dir .. "/s/trials.jsonl", table.concat(lines, "\n") .. "\n")
  for id = 1, 6 do
    write(string.format("%s/s/trial-%04d/log.txt", dir, id), "stale")
  end
  code, out, err = nnrun("sweep small.yaml --resume s --jobs 2")
  expect_exit(code, 0, out, err)
  check(out:match("^sweep small: 6 trials, 4 done, 2 to run "), "stdout:\n%s", out)
  for id = 1, 6 do
    local rerun = read(string.format("%s/s/trial-%04d/log.txt", dir, id)) ~= "stale"
    check(rerun == (id == 2 or id == 5), "trial %d rerun: %s", id, tostring(rerun))
  end
  local again, n = trials("s")
  check(n == 6, "%d lines after resuming", n)
  for id = 1, 6 do
    check(again[id] == full[id], "trial %d: %s then %s", id, full[id], again[id])
  end
  -- Nothing left: the same command only ranks.
  code, out, err = nnrun("sweep small.yaml --out s --quiet")
  expect_exit(code, 0, out, err)
  check(select(2, trials("s")) == 6, "a finished sweep ran trials again")
  -- Another sweep in the same directory is refused.
  write(dir .. "/other.yaml", (SWEEP:gsub("0%.02, 0%.2", "0.03, 0.2")))
  code, out, err = nnrun("sweep other.yaml --out s")
  expect_exit(code, 2, out, err)
  check(err == "nnrun: s holds another sweep (its sweep.yaml differs); give another --out\n",
    "stderr: %s", err)
  code, out, err = nnrun("sweep small.yaml --resume nothere")
  expect_exit(code, 2, out, err)
  check(err == "nnrun: --resume: nothere holds no sweep to resume\n", "stderr: %s", err)
end

function cases.shard()
  write(dir .. "/small.yaml", SWEEP)
  local code, out, err = nnrun("sweep small.yaml --out full --jobs 2 --quiet")
  expect_exit(code, 0, out, err)
  code, out, err = nnrun("sweep small.yaml --out parts --shard 1/2 --jobs 1")
  expect_exit(code, 0, out, err)
  check(out:match("^sweep small: 6 trials, shard 1/2, 0 done, 3 to run "), "stdout:\n%s", out)
  local first, n1 = trials("parts")
  check(n1 == 3 and first[1] and first[3] and first[5], "shard 1/2 ran other trials")
  code, out, err = os.execute(string.format("cd %s && SLURM_ARRAY_TASK_ID=7 SLURM_ARRAY_TASK_MIN=6 "
    .. "SLURM_ARRAY_TASK_COUNT=2 %s sweep small.yaml --out parts --shard slurm --jobs 1 "
    .. ">out.txt 2>err.txt", q(dir), q(exe)))
  expect_exit(select(3, code, out, err), 0, read(dir .. "/out.txt"), read(dir .. "/err.txt"))
  local full, nf = trials("full")
  local parts, np = trials("parts")
  check(nf == 6 and np == 6, "%d and %d trials", nf, np)
  for id = 1, 6 do
    check(full[id] == parts[id], "trial %d: %s vs %s", id, full[id], parts[id])
  end
  check(read(dir .. "/full/best.yaml") == read(dir .. "/parts/best.yaml"), "best.yaml differs")
end

-- The sweep of SWEEP's grid alone, 4 epochs without early stopping (so
-- that every trial reaches the test gate, h.spawn).
local function gated_sweep()
  local text = SWEEP:gsub("set: { train.epochs: 4,", "set: { train.epochs: 4, train.early_stopping: false,")
  return (text:gsub("random:.*$", ""))
end

local function alive(pid)
  return os.execute("kill -0 " .. pid .. " 2>/dev/null") == true
end

-- SIGTERM to the sweep while two trials run stops them (no orphans) and
-- records none.  The trials wait at the gate after epoch 1, so they are
-- running when the signal comes, on any machine.
function cases.interrupt()
  write(dir .. "/long.yaml", gated_sweep())
  local run = h.spawn("sweep long.yaml --out l --jobs 2", 1)
  local pids, got = run.gates(2)
  check(pids, "the trials did not reach the gate: %s", got)
  for _, p in ipairs(pids or {}) do
    check(alive(p), "trial %d is not running", p)
  end
  os.execute("kill -TERM " .. run.pid)
  local rc, _, err = run.finish()
  check(rc == 143, "exit status %s", rc)
  for _, p in ipairs(pids or {}) do
    if not check(not alive(p), "orphan: trial %d still runs", p) then
      os.execute("kill -KILL " .. p) -- started by this test
    end
  end
  check(err:match("^nnrun: sweep interrupted %(SIGTERM%): 0 trials finished "
    .. "here; run the same command again to resume\n$"), "stderr: %s", err)
  check(select(2, trials("l")) == 0, "an interrupted trial was recorded")
end

-- Interrupted trials keep their checkpoints; running the sweep again
-- continues them from there (the epochs already in metrics.jsonl are kept,
-- seconds and all) and ends with the figures of an uninterrupted sweep.
function cases.interrupt_resume()
  write(dir .. "/mid.yaml", gated_sweep())
  local code, out, err = nnrun("sweep mid.yaml --jobs 2 --out whole")
  expect_exit(code, 0, out, err)
  local function epochs(id, run)
    local n = 0
    for _ in (read(string.format("%s/%s/trial-%04d/metrics.jsonl", dir, run or "cut", id)) or "")
      :gmatch("\n") do
      n = n + 1
    end
    return n
  end
  -- Trials 1 and 2 wait after epoch 2 (of 4) for the SIGTERM the sweep
  -- passes on; trials 3 and 4 have not started.
  local run = h.spawn("sweep mid.yaml --jobs 2 --out cut", 2)
  local pids, got = run.gates(2)
  check(pids, "the trials did not reach the gate: %s", got)
  os.execute("kill -TERM " .. run.pid)
  local rc = run.finish()
  check(rc == 143, "exit status %s", rc)
  local before = {}
  for id = 1, 4 do
    local d = string.format("%s/cut/trial-%04d/", dir, id)
    if id <= 2 then
      check(read(d .. "model.nnrun") ~= nil, "trial %d left no checkpoint", id)
      check(epochs(id) == 2, "trial %d stopped after %d epochs, not 2", id, epochs(id))
    else
      check(read(d .. "log.txt") == nil, "trial %d started", id)
    end
    before[id] = read(d .. "metrics.jsonl") or ""
  end
  code, out, err = nnrun("sweep mid.yaml --jobs 2 --out cut")
  expect_exit(code, 0, out, err)
  for id = 1, 4 do
    local m = read(string.format("%s/cut/trial-%04d/metrics.jsonl", dir, id)) or ""
    check(m:sub(1, #before[id]) == before[id], "trial %d ran again from scratch", id)
    check(epochs(id) == 4 and epochs(id, "whole") == 4, "trial %d has %d epochs, %d uninterrupted",
      id, epochs(id), epochs(id, "whole"))
  end
  local a, b = trials("whole"), trials("cut")
  for id = 1, 4 do
    check(a[id] ~= nil and a[id] == b[id], "trial %d: %s vs %s", id, a[id], b[id])
  end
end

-- A failed trial is recorded and the sweep goes on; none completed: exit 1.
function cases.failures()
  write(dir .. "/div.yaml", [[
base:
  data: { generator: xor }
  model: { layers: [ { dense: 4, activation: relu }, { dense: 1 } ] }
  train: { epochs: 50 }
metric: train_loss
grid:
  optimizer.lr: [1e30, 0.1]
]])
  local code, out, err = nnrun("sweep div.yaml --out d --jobs 2 --quiet")
  expect_exit(code, 0, out, err)
  local t = trials("d")
  check((t[1] or ""):match('"status":"diverged","metric":null}$'), "trial 1: %s", t[1])
  check((t[2] or ""):match('"status":"completed","metric":[%d.e-]+}$'), "trial 2: %s", t[2])
  check(out:match("\n   %-   0001 +%-  diverged   optimizer%.lr=1e%+30\n"), "table:\n%s", out)
  -- The first failure's reason is on stderr, not only in its log.
  local why = "nnrun: trial 0001 diverged: training diverged at epoch %d+, batch %d+: [^\n]+ "
    .. "%(see d/trial%-0001/log%.txt%)\n"
  check(err:match("^" .. why .. "$"), "stderr: %s", err)
  write(dir .. "/alldiv.yaml", (read(dir .. "/div.yaml"):gsub("%[1e30, 0.1%]", "[1e30, 1e31]")))
  code, out, err = nnrun("sweep alldiv.yaml --out a --jobs 1 --quiet")
  expect_exit(code, 1, out, err)
  check(err:match("^" .. why:gsub("d/", "a/") .. "$"), "stderr: %s", err)
  check(read(dir .. "/a/best.yaml") == nil, "best.yaml without a completed trial")
  -- Trials refused by the nnrun they run in (a bad row in their data, read
  -- only then): the first one's message, once.
  write(dir .. "/pts.csv", "x,y\n0,0\n1,1\n2,0\n3,1\nx,0\n5,1\n6,0\n7,1\n8,0\n9,1\n")
  write(dir .. "/bad.yaml", [[
base:
  data: { csv: { path: pts.csv, target: regression } }
  model: { input: 1, layers: [ { dense: 1 } ] }
  train: { epochs: 1 }
metric: train_loss
grid:
  optimizer.lr: [0.1, 0.2]
]])
  code, out, err = nnrun("sweep bad.yaml --out b --jobs 1 --quiet")
  expect_exit(code, 1, out, err)
  local first = (read(dir .. "/b/trial-0001/log.txt") or ""):match("nnrun: ([^\n]+)")
  check(first and err == "nnrun: trial 0001 failed: " .. first .. " (see b/trial-0001/log.txt)\n",
    "stderr: %s\nlog: %s", err, read(dir .. "/b/trial-0001/log.txt"))
end

-- A halving sweep (nnrun.halving) of four learning rates, eta 2, rungs of
-- 1, 2 and 4 epochs, ranked by val_loss; with these few epochs a larger
-- rate has a lower val_loss at every rung.
local HALVING = h.halving_sweep(src)

local function halving_lines(out)
  return h.halving_lines(dir .. "/" .. out .. "/trials.jsonl")
end
local check_halving = h.check_halving

-- One worker: the order of the jobs is known, and so is every promotion.
-- 1, 2 at rung 0: the top 1 of two (2) goes up; 2 alone in rung 1; 3:
-- the top 1 of three in rung 0 is 3; rung 1 {2, 3}: 3 to rung 2; then 4
-- the same way.  best.yaml is trial 4 at 4 epochs and gives its figures.
function cases.halving()
  write(dir .. "/hs.yaml", HALVING)
  local code, out, err = nnrun("sweep hs.yaml --jobs 1")
  expect_exit(code, 0, out, err)
  check(err == "", "stderr: %s", err)
  local seq, rows = halving_lines("sweeps/hs")
  check(table.concat(seq, ", ") == table.concat({ "1@0 completed", "2@0 completed",
    "2@0 promoted>1", "2@1 completed<0", "3@0 completed", "3@0 promoted>1", "3@1 completed<0",
    "3@1 promoted>2", "3@2 completed<1", "4@0 completed", "4@0 promoted>1", "4@1 completed<0",
    "4@1 promoted>2", "4@2 completed<1" }, ", "), "trials.jsonl:\n%s", table.concat(seq, "\n"))
  check_halving(rows, 4, 2, { 1, 2, 4 })
  -- A promotion line carries the figure it was promoted on.
  local m2 = rows[2] and rows[2].line:match('"metric":([-%d.eE+]+)') or "?"
  check(rows[3] and rows[3].line == '{"id":2,"trial":"trial-0002","rung":0,"epochs":1,'
    .. '"parameters":{"optimizer.lr":0.001},"status":"promoted","metric":' .. m2
    .. ',"promoted_to":1}', "promotion line: %s", rows[3] and rows[3].line)
  check(out:match("^sweep hs: 4 trials, halving over 1/2/4 epochs %(eta 2%), 0 done, 4 to run "),
    "stdout:\n%s", out)
  check(out:match("\nrank  trial  epochs  val_loss  status     parameters\n   1   0004       4 "),
    "table:\n%s", out)
  check(out:match("\nbest: trial 0004, val_loss [%d.]+ after 4 epochs %-> sweeps/hs/best%.yaml\n$"),
    "stdout:\n%s", out)
  -- Each trial's metrics.jsonl holds its epochs once (a promotion continues it).
  local m = read(dir .. "/sweeps/hs/trial-0004/metrics.jsonl") or ""
  check(select(2, m:gsub("\n", "")) == 4, "trial 4 metrics.jsonl:\n%s", m)
  -- best.yaml trains 4 epochs at once: the promoted trial's figures, bit for bit.
  code, out, err = nnrun("sweeps/hs/best.yaml --out again --quiet")
  expect_exit(code, 0, out, err)
  local a = read(dir .. "/sweeps/hs/trial-0004/summary.json")
  local b = read(dir .. "/again/summary.json")
  for _, k in ipairs({ "val_loss", "test_loss", "test_accuracy", "epochs" }) do
    check(raw(a, k) and raw(a, k) == raw(b, k), "%s: %s (trial) vs %s (best.yaml)", k, raw(a, k),
      raw(b, k))
  end
  check(read(dir .. "/sweeps/hs/trial-0004/metrics.jsonl"):gsub('"seconds":[^,}]*', "")
    == read(dir .. "/again/metrics.jsonl"):gsub('"seconds":[^,}]*', ""), "metrics.jsonl differ")
  -- Halving by another metric than the sweep's: each line has both, and a
  -- promotion line the figures of the result it promotes.
  write(dir .. "/hm.yaml", (HALVING:gsub("eta: 2 }", "eta: 2, metric: train_loss }")))
  code, out, err = nnrun("sweep hm.yaml --jobs 1 --out hm --quiet")
  expect_exit(code, 0, out, err)
  local results, n = {}, 0
  for _, r in ipairs(select(2, halving_lines("hm"))) do
    local figures = r.line:match('("metric":[^,]+,"halving_metric":[-%d.eE+]+)')
    check(figures, "no metric and halving_metric: %s", r.line)
    local key = r.id .. "@" .. tostring(r.rung)
    if r.status == "promoted" then
      n = n + 1
      check(figures == results[key], "promotion %s: %s, result: %s", key, figures, results[key])
    else
      results[key] = figures
    end
  end
  check(n >= 3, "%d promotions", n)
  -- Finished: the same command only ranks.
  code, out, err = nnrun("sweep hs.yaml --jobs 1")
  expect_exit(code, 0, out, err)
  check(#halving_lines("sweeps/hs") == 14, "a finished halving sweep ran again")
  check(out:match("^sweep hs: 4 trials, halving over 1/2/4 epochs %(eta 2%), 4 done, 0 to run "),
    "stdout:\n%s", out)
end

-- Stopped while a promotion runs (trial 2 from 1 to 2 epochs waits at the
-- gate after epoch 2 for SIGTERM), the sweep runs that promotion again
-- first when run again, and ends with the record of an uninterrupted one.
function cases.halving_resume()
  write(dir .. "/hs.yaml", HALVING)
  local code, out, err = nnrun("sweep hs.yaml --jobs 1 --out whole --quiet")
  expect_exit(code, 0, out, err)
  local run = h.spawn("sweep hs.yaml --jobs 1 --out cut", 2)
  local pids, got = run.gates(1)
  check(pids, "no trial reached the gate: %s", got)
  os.execute("kill -TERM " .. run.pid)
  check(run.finish() == 143, "exit status")
  local seq = halving_lines("cut")
  check(table.concat(seq, ", ") == "1@0 completed, 2@0 completed, 2@0 promoted>1",
    "trials.jsonl when stopped: %s", table.concat(seq, ", "))
  code, out, err = nnrun("sweep hs.yaml --jobs 1 --out cut")
  expect_exit(code, 0, out, err)
  check(out:match("^sweep hs: 4 trials, halving over 1/2/4 epochs %(eta 2%), 2 done, 3 to run "),
    "stdout:\n%s", out)
  local _, a = halving_lines("whole")
  local _, b = halving_lines("cut")
  check(#a == 14 and #b == 14, "%d and %d lines", #a, #b)
  for i = 1, math.max(#a, #b) do
    check(a[i] and b[i] and a[i].line == b[i].line, "line %d: %s vs %s", i, a[i] and a[i].line,
      b[i] and b[i].line)
  end
end

-- One file of tests/e2e/sweep_invalid/: exit 2, the exact stderr of its
-- "# expect:" lines, nothing on stdout, no sweep directory.
function cases.invalid()
  local idir = src .. "/tests/e2e/sweep_invalid"
  local text = read(idir .. "/" .. case_file) or ""
  local want = {}
  for line in text:gmatch("[^\n]*") do
    want[#want + 1] = line:match("^# expect: (.*)$")
  end
  check(#want > 0, "%s has no '# expect:' line", case_file)
  local run = dir .. "/run"
  local _, _, code = os.execute(string.format("cd %s && %s sweep %s --out %s >%s 2>%s", q(idir),
    q(exe), q(case_file), q(run), q(dir .. "/out.txt"), q(dir .. "/err.txt")))
  local out, err = read(dir .. "/out.txt") or "", read(dir .. "/err.txt") or ""
  expect_exit(code, 2, out, err)
  check(err == table.concat(want, "\n") .. "\n", "stderr is\n%s\nexpected\n%s", err,
    table.concat(want, "\n"))
  check(out == "", "stdout not empty: %s", out)
  check(io.open(run) == nil, "a sweep directory was left behind: %s", run)
end

h.main(cases, case)
