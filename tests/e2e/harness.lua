-- The shared part of the end-to-end drivers (driver.lua, resume.lua,
-- sweep.lua): a fresh work directory, running nnrun in it, and checks that
-- count failures.  Loads no nnrun code, so the drivers run in the sanitizer
-- build (only the nnrun executable is instrumented there).
--   local h = dofile(dir_of_script .. "/harness.lua").new(exe, dir)
local M = {}

-- Quotes s for the shell.
function M.q(s)
  return "'" .. tostring(s):gsub("'", "'\\''") .. "'"
end

function M.read(path)
  local f = io.open(path, "rb")
  if not f then
    return nil
  end
  local s = f:read("a")
  f:close()
  return s
end

function M.write(path, text)
  local f = assert(io.open(path, "w"))
  f:write(text)
  f:close()
end

-- A harness whose work directory dir is emptied first.
function M.new(exe, dir)
  local q, read = M.q, M.read
  os.execute("rm -rf " .. q(dir) .. " && mkdir -p " .. q(dir))
  local h = { q = q, read = read, write = M.write, dir = dir }
  local failures = 0

  -- Runs nnrun with args (a string) in dir; returns exit status, stdout, stderr.
  function h.nnrun(args)
    local cmd = string.format("cd %s && %s %s >out.txt 2>err.txt", q(dir), q(exe), args)
    local _, _, code = os.execute(cmd)
    return code, read(dir .. "/out.txt") or "", read(dir .. "/err.txt") or ""
  end

  -- Starts nnrun with args in dir in the background, its runs gated after
  -- epoch `epoch` (NNRUN_TEST_GATE, bindings/l_sys.c: each run, a sweep's
  -- trials too, writes "gate EPOCH PID" to the FIFO dir/gate and waits
  -- there for a signal).  Nothing here waits on a clock: every step blocks
  -- on the FIFO, which the background shell also writes "pid PID" (of the
  -- nnrun it started) and "exit CODE" (once that nnrun ended) to.
  --   run.gates(n) -> the pids of n runs waiting at the gate, or nil and the
  --                   lines read instead (the command ended first)
  --   run.finish() -> nnrun's exit status, stdout, stderr
  --   run.pid: nnrun's pid (once gates() or finish() returned)
  function h.spawn(args, epoch)
    local fifo = dir .. "/gate"
    os.remove(fifo)
    assert(os.execute("mkfifo " .. q(fifo)))
    os.execute(string.format("cd %s && { NNRUN_TEST_GATE=%d:%s %s %s >spawn.out 2>spawn.err & "
      .. "echo \"pid $!\" >gate; wait $!; echo \"exit $?\" >gate; } &", q(dir), epoch, q(fifo),
      q(exe), args))
    local run, lines, code = {}, {}, nil
    -- The next line from the FIFO (each writer opens, writes a line, closes).
    local function next_line()
      while #lines == 0 do
        local f = assert(io.open(fifo, "r"))
        for l in f:lines() do
          lines[#lines + 1] = l
        end
        f:close()
      end
      local l = table.remove(lines, 1)
      run.pid = run.pid or tonumber(l:match("^pid (%d+)$"))
      code = code or tonumber(l:match("^exit (%d+)$"))
      return l
    end
    function run.gates(n)
      local pids, seen = {}, {}
      while #pids < n and not code do
        local l = next_line()
        seen[#seen + 1] = l
        pids[#pids + 1] = tonumber(l:match("^gate %d+ (%d+)$"))
      end
      while not run.pid and not code do
        next_line()
      end
      if #pids < n then
        return nil, table.concat(seen, "; ")
      end
      return pids
    end
    function run.finish()
      while not code do
        next_line()
      end
      return code, read(dir .. "/spawn.out") or "", read(dir .. "/spawn.err") or ""
    end
    return run
  end

  function h.check(cond, fmt, ...)
    if not cond then
      failures = failures + 1
      io.stderr:write("FAIL: ", string.format(fmt, ...), "\n")
    end
    return cond
  end

  function h.expect_exit(code, want, out, err)
    h.check(code == want, "exit status %s, expected %s\nstdout:\n%s\nstderr:\n%s", tostring(code),
      want, out, err)
  end

  function h.failures()
    return failures
  end

  -- The end of every driver: runs cases[case]; exit 2 for an unknown
  -- case, 1 if a check failed.
  function h.main(cases, case)
    local fn = cases[case]
    if not fn then
      io.stderr:write("unknown case ", tostring(case), "\n")
      os.exit(2)
    end
    fn()
    if failures > 0 then
      os.exit(1)
    end
    print("ok " .. case)
  end
  return h
end

return M
