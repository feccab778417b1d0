-- End-to-end cases of the MPI glue and of `mpirun -np N nnrun sweep`:
--   lua5.4 mpi.lua NNRUN_EXE SOURCE_DIR WORK_DIR CASE
-- Each case exits 77 (skipped) when nnrun was built without MPI or mpirun
-- is missing.  mpirun starts in seconds, so the cases are few and small.
local exe, src, work, case = ...
assert(case, "usage: mpi.lua NNRUN_EXE SOURCE_DIR WORK_DIR CASE")

local h = dofile((arg[0]:match("^(.*)/") or ".") .. "/harness.lua").new(exe, work .. "/mpi_" .. case)
local q, read, write, dir = h.q, h.read, h.write, h.dir
local nnrun, check, expect_exit = h.nnrun, h.check, h.expect_exit

-- Whether this nnrun has MPI (nnrun.mpi.built) and mpirun is there.
local function mpi_built()
  write(dir .. "/built.lua", 'io.write(tostring(require("nnrun").mpi.built), "\\n")\n')
  local code, out = nnrun("built.lua")
  return code == 0 and out == "true\n" and os.execute("command -v mpirun >/dev/null 2>&1")
end
if not mpi_built() then
  print("skipped: nnrun built without MPI (NNRUN_MPI=OFF) or no mpirun")
  os.exit(77)
end

-- Runs `mpirun --oversubscribe -np N nnrun ARGS` in dir.
local function mpirun(n, args)
  local cmd = string.format("cd %s && mpirun --oversubscribe -np %d %s %s >out.txt 2>err.txt",
    q(dir), n, q(exe), args)
  local _, _, code = os.execute(cmd)
  return code, read(dir .. "/out.txt") or "", read(dir .. "/err.txt") or ""
end

local cases = {}

-- nnrun.mpi between two ranks: bcast from rank 1, send/recv with wildcards,
-- poll, barrier; trials started by a rank see no launcher variables.
function cases.glue()
  write(dir .. "/glue.lua", [[
local mpi = require("nnrun").mpi
assert(mpi.available() and mpi.size() == 2 and mpi.abort)
local me = mpi.rank()
local word = mpi.bcast(me == 1 and "from-one" or nil, 1)
if me == 1 then
  mpi.send(0, 5, word .. " " .. tostring(os.getenv("OMPI_COMM_WORLD_SIZE")))
  mpi.barrier()
else
  mpi.barrier() -- rank 1 sent before it: the message is there
  local src, tag = mpi.poll(1, 5)
  local msg, rsrc, rtag = mpi.recv(-1, -1)
  io.write(string.format("%s %s %s %s %s %s\n", msg, rsrc, rtag, src, tag, tostring(mpi.poll())))
end
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

h.main(cases, case)
