-- End-to-end cases of data-parallel training, `mpirun -np N nnrun FILE`:
--   lua5.4 mpi_train.lua NNRUN_EXE SOURCE_DIR WORK_DIR CASE
--   ranks    -np 1, 2 and 3 and plain nnrun (same shards) write the same
--            model.nnrun bytes and metrics; rank 0 alone prints
--   resume   a run of 2 epochs at -np 2, resumed to 4 at -np 3, ends with
--            the bytes of 4 epochs at -np 1; a refusal by rank 0 alone ends
--            every rank
--   refused  more ranks than shards: one line on stderr, exit 2, nothing
--            written
-- Each exits 77 (skipped) without MPI.  mpirun starts in about a second, so
-- the runs are few and tiny.
local exe, _, work, case = ...
assert(case, "usage: mpi_train.lua NNRUN_EXE SOURCE_DIR WORK_DIR CASE")

local h = dofile((arg[0]:match("^(.*)/") or ".") .. "/harness.lua").new(exe,
  work .. "/mpi_train_" .. case)
local read, write, dir = h.read, h.write, h.dir
local nnrun, check, expect_exit = h.nnrun, h.check, h.expect_exit

h.skip_without_mpi()
local mpirun = h.mpirun

-- Every kind of per-shard state: dropout and noise masks, batchnorm
-- statistics; Adam; batches of 10 rows in 4 shards (3, 2, 3, 2 rows); a
-- validation split, evaluated over the ranks.
write(dir .. "/dp.yaml", [[
name: dp
seed: 3
data:
  generator: digits03
  n_per_class: 25
  noise: 0.2
model:
  input: 64
  layers:
    - dense: 12
    - batchnorm: {}
    - activation: relu
    - dropout: { p: 0.2 }
    - gaussian_noise: { stddev: 0.05 }
    - dense: 4
loss: cross_entropy
optimizer: { name: adam, lr: 0.01 }
train:
  epochs: 4
  batch_size: 10
  validation_split: 0.2
parallel:
  shards: 4
]])

-- metrics.jsonl without the wall times.
local function metrics(run)
  return (read(dir .. "/" .. run .. "/metrics.jsonl") or "missing"):gsub(',?"seconds":[^,}]*', "")
end

local cases = {}

function cases.ranks()
  local ref
  for _, n in ipairs({ 1, 2, 3 }) do
    local code, out, err = mpirun(n, "dp.yaml --quiet --threads 1 --out np" .. n)
    expect_exit(code, 0, out, err)
    check(err == "", "-np %d: stderr %q", n, err)
    local _, lines = out:gsub("\n", "")
    check(lines == 1 and out:match("^dp: completed after 4 epochs"),
      "-np %d: one summary line from rank 0, got %q", n, out)
    local model = read(dir .. "/np" .. n .. "/model.nnrun")
    check(model ~= nil, "-np %d wrote no model.nnrun", n)
    if n == 1 then
      ref = model
    else
      check(model == ref, "-np %d: model.nnrun differs from -np 1", n)
      check(metrics("np" .. n) == metrics("np1"), "-np %d: metrics.jsonl differs:\n%s\n%s", n,
        metrics("np" .. n), metrics("np1"))
      -- The test figures, split over the ranks: those of one rank.
      for _, k in ipairs({ "test_loss", "test_accuracy", "test_macro_f1" }) do
        local function fig(run)
          return (read(dir .. "/" .. run .. "/summary.json") or ""):match('"' .. k .. '": ([^,\n]+)')
        end
        check(fig("np" .. n) ~= nil and fig("np" .. n) == fig("np1"), "-np %d: %s %s vs %s", n, k,
          tostring(fig("np" .. n)), tostring(fig("np1")))
      end
    end
  end
  -- Alone, the same shards: the same bits.
  local code, out, err = nnrun("dp.yaml --quiet --threads 1 --out alone")
  expect_exit(code, 0, out, err)
  check(read(dir .. "/alone/model.nnrun") == ref, "plain nnrun: model.nnrun differs from -np 1")
  -- The summary records the ranks and shards.
  local s = read(dir .. "/np3/summary.json") or ""
  check(s:match('"ranks": 3') and s:match('"shards": 4'), "summary.json: %s", s)
end

function cases.resume()
  local code, out, err = mpirun(2, "dp.yaml --quiet --threads 1 --out cut --set train.epochs=2")
  expect_exit(code, 0, out, err)
  code, out, err = mpirun(3, "dp.yaml --quiet --threads 1 --resume cut")
  expect_exit(code, 0, out, err)
  check(out:match("^dp: completed after 4 epochs"), "resumed: %q", out)
  code, out, err = mpirun(1, "dp.yaml --quiet --threads 1 --out whole")
  expect_exit(code, 0, out, err)
  local a, b = read(dir .. "/cut/model.nnrun"), read(dir .. "/whole/model.nnrun")
  check(a ~= nil and a == b, "2 epochs at -np 2 + 2 at -np 3: model.nnrun differs from 4 at -np 1")
  check(metrics("cut") == metrics("whole"), "metrics.jsonl differs:\n%s\n%s", metrics("cut"),
    metrics("whole"))
  -- Refused by rank 0 alone (it alone looks at the run directory): every
  -- rank ends, with rank 0's one line.
  code, out, err = mpirun(2, "dp.yaml --quiet --threads 1 --out whole")
  check(code == 2, "onto a finished run: exit status %s, want 2", tostring(code))
  local ours = {}
  for line in err:gmatch("[^\n]+") do
    ours[#ours + 1] = line:match("^nnrun.*") or nil
  end
  check(#ours == 1 and ours[1] == "nnrun: --out whole holds a finished run (completed): continue "
    .. "it with --resume whole, or replace it with --force", "stderr lines of nnrun: %s",
    table.concat(ours, " | "))
  check(read(dir .. "/whole/model.nnrun") == b, "the finished run was changed")
end

function cases.refused()
  local code, out, err = mpirun(3, "dp.yaml --out no --set parallel.shards=2")
  check(code == 2, "exit status %s, want 2", tostring(code))
  local ours = {}
  for line in err:gmatch("[^\n]+") do
    if line:match("^nnrun") then
      ours[#ours + 1] = line
    end
  end
  check(#ours == 1 and ours[1] == "nnrun: --set parallel.shards: 3 ranks (mpirun -np 3) need at "
    .. "least 3 shards, got 2", "stderr lines of nnrun: %s", table.concat(ours, " | "))
  check(out == "", "stdout %q", out)
  check(not read(dir .. "/no/config.yaml"), "a run directory was written")
end

h.main(cases, case)
