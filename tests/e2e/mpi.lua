-- End-to-end cases of the MPI glue and of `mpirun -np N nnrun sweep`:
--   lua5.4 mpi.lua NNRUN_EXE SOURCE_DIR WORK_DIR CASE
-- Each case exits 77 (skipped) when nnrun was built without MPI or mpirun
-- is missing.  mpirun starts in seconds, so the cases are few and small.
local exe, src, work, case = ...
assert(case, "usage: mpi.lua NNRUN_EXE SOURCE_DIR WORK_DIR CASE")

local h = dofile((arg[0]:match("^(.*)/") or ".") .. "/harness.lua").new(exe, work .. "/mpi_" .. case)
local q, read, write, dir = h.q, h.read, h.write, h.dir
local nnrun, check, expect_exit = h.nnrun, h.check, h.expect_exit

h.skip_without_mpi()
local mpirun = h.mpirun

local cases = {}

-- nnrun.mpi between two ranks: bcast from rank 1, poll, send/recv with
-- wildcards, barrier; trials started by a rank see no launcher variables.
function cases.glue()
  write(dir .. "/glue.lua", [[
local mpi = require("nnrun").mpi
assert(mpi.available() and mpi.size() == 2 and mpi.abort)
local me = mpi.rank()
local word = mpi.bcast(me == 1 and "from-one" or nil, 1)
if me == 1 then
  mpi.send(0, 5, word .. " " .. tostring(os.getenv("OMPI_COMM_WORLD_SIZE")))
else
  -- (MPI promises that a sent message is seen by some probe, not which)
  local src, tag
  repeat
    src, tag = mpi.poll(1, 5)
  until src
  local msg, rsrc, rtag = mpi.recv(-1, -1)
  io.write(string.format("%s %s %s %s %s %s\n", msg, rsrc, rtag, src, tag, tostring(mpi.poll())))
end
mpi.barrier()
]])
  local code, out, err = mpirun(2, "glue.lua")
  expect_exit(code, 0, out, err)
  check(out == "from-one nil 1 5 1 5 nil\n", "stdout: %q\nstderr:\n%s", out, err)
  -- Plain nnrun: a world of one rank, MPI never started.
  write(dir .. "/plain.lua", [[
local mpi = require("nnrun").mpi
io.write(tostring(mpi.available()), " ", mpi.rank(), " ", mpi.size(), " ", mpi.bcast("x", 0), "\n")
]])
  code, out, err = nnrun("plain.lua")
  expect_exit(code, 0, out, err)
  check(out == "false 0 1 x\n", "plain stdout: %q", out)
end

-- A plain sweep of five trials and a halving sweep of four over two ranks
-- (one trial at a time each): every trial runs once, on whichever rank;
-- the figures are those of the same sweeps run by one process; one
-- trials.jsonl and one best.yaml, by rank 0.
local GRID = string.format([[
name: g
experiment: %s/experiments/digits03.yaml
metric: val_loss
set: { data.n_per_class: 40, train.epochs: 2, train.early_stopping: false }
grid:
  optimizer.lr: [0.0001, 0.001, 0.01, 0.1, 0.2]
]], src)
local HALVING = h.halving_sweep(src) -- (as in sweep.lua)

-- trials.jsonl's lines without their seconds, sorted.
local function sorted_lines(path)
  local t = {}
  for line in (read(path) or ""):gmatch("[^\n]+") do
    t[#t + 1] = (line:gsub(',"seconds":[^,}]*', ""))
  end
  table.sort(t)
  return t
end

function cases.sweep()
  write(dir .. "/g.yaml", GRID)
  local code, out, err = mpirun(2, "sweep g.yaml --out ranks")
  expect_exit(code, 0, out, err)
  check(err == "", "stderr: %s", err)
  check(out:match("^sweep g: 5 trials, 0 done, 5 to run %(2 ranks, 1 at a time each, 1 thread "
    .. "each%) %-> ranks\n"), "stdout:\n%s", out)
  code, out, err = nnrun("sweep g.yaml --out one --jobs 2 --quiet")
  expect_exit(code, 0, out, err)
  local a, b = sorted_lines(dir .. "/ranks/trials.jsonl"), sorted_lines(dir .. "/one/trials.jsonl")
  check(#a == 5, "%d lines over 2 ranks", #a)
  for i = 1, math.max(#a, #b) do
    check(a[i] == b[i], "line %d: %s (2 ranks) vs %s (one process)", i, a[i], b[i])
  end
  check(read(dir .. "/ranks/best.yaml") == read(dir .. "/one/best.yaml"), "best.yaml differs")
  -- Run again over two ranks: nothing left to run.
  code, out, err = mpirun(2, "sweep g.yaml --out ranks --quiet")
  expect_exit(code, 0, out, err)
  check(#sorted_lines(dir .. "/ranks/trials.jsonl") == 5, "a finished sweep ran again")

  write(dir .. "/hs.yaml", HALVING)
  code, out, err = mpirun(2, "sweep hs.yaml --out hs")
  expect_exit(code, 0, out, err)
  check(err == "", "stderr: %s", err)
  local _, rows = h.halving_lines(dir .. "/hs/trials.jsonl")
  h.check_halving(rows, 4, 2, { 1, 2, 4 })
  check(out:match("\nbest: trial %d+, val_loss [%d.]+ after 4 epochs %-> hs/best%.yaml\n$"),
    "stdout:\n%s", out)
end

-- nnrun's lines of stderr (mpirun adds its own).
local function ours(err)
  local t = {}
  for line in err:gmatch("[^\n]+") do
    if line:match("^nnrun: ") then
      t[#t + 1] = line
    end
  end
  return table.concat(t, "\n")
end

-- A refused sweep stops every rank: exit status 2, its one message (from
-- rank 0), nothing created.  A failure of rank 0 while trials run (its
-- trials.jsonl cannot be written) stops every rank too (no hang), with
-- its one message.
function cases.refused()
  write(dir .. "/bad.yaml", (HALVING:gsub("eta: 2", "eta: 1")))
  local code, out, err = mpirun(2, "sweep bad.yaml --out bad")
  expect_exit(code, 2, out, err)
  check(ours(err) == "nnrun: bad.yaml:5:42: halving.eta: must be >= 2, got 1", "stderr:\n%s", err)
  check(out == "", "stdout: %s", out)
  check(io.open(dir .. "/bad") == nil, "a sweep directory was made")
  write(dir .. "/g.yaml", GRID)
  os.execute("mkdir -p " .. q(dir .. "/io/trials.jsonl"))
  code, out, err = mpirun(2, "sweep g.yaml --out io")
  check(code ~= 0, "exit status 0\nstdout:\n%s", out)
  check(ours(err) == "nnrun: io/trials.jsonl: Is a directory", "stderr:\n%s", err)
end

h.main(cases, case)
