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

  -- Exits 77 (skipped) unless this nnrun has MPI (nnrun.mpi.built) and
  -- mpirun is there.
  function h.skip_without_mpi()
    M.write(dir .. "/built.lua", 'io.write(tostring(require("nnrun").mpi.built), "\\n")\n')
    local code, out = h.nnrun("built.lua")
    if not (code == 0 and out == "true\n" and os.execute("command -v mpirun >/dev/null 2>&1")) then
      print("skipped: nnrun built without MPI (NNRUN_MPI=OFF) or no mpirun")
      os.exit(77)
    end
  end

  -- Runs `mpirun --oversubscribe -np N nnrun ARGS` in dir; returns exit
  -- status, stdout, stderr.
  function h.mpirun(n, args)
    local cmd = string.format("cd %s && mpirun --oversubscribe -np %d %s %s >out.txt 2>err.txt",
      q(dir), n, q(exe), args)
    local _, _, code = os.execute(cmd)
    return code, read(dir .. "/out.txt") or "", read(dir .. "/err.txt") or ""
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

  -- A halving sweep of digits03 (src: the source tree): four learning
  -- rates, eta 2, rungs of 1, 2 and 4 epochs, ranked by val_loss.
  function h.halving_sweep(src)
    return string.format([[
name: hs
experiment: %s/experiments/digits03.yaml
metric: val_loss
set: { data.n_per_class: 40, train.early_stopping: false }
halving: { min_epochs: 1, max_epochs: 4, eta: 2 }
grid:
  optimizer.lr: [0.0001, 0.001, 0.01, 0.1]
]], src)
  end

  -- The lines of a halving sweep's trials.jsonl (at path) as "id@rung
  -- status" (and "<k" for promoted_from k, ">k" for promoted_to k), and
  -- each line's fields.
  function h.halving_lines(path)
    local seq, rows = {}, {}
    for line in (read(path) or ""):gmatch("[^\n]+") do
      local r = { id = tonumber(line:match('^{"id":(%d+),')), rung = tonumber(line:match('"rung":(%d+)')),
        epochs = tonumber(line:match('"epochs":(%d+)')), status = line:match('"status":"(%w+)"'),
        metric = tonumber(line:match('"metric":([-%d.eE+]+)')),
        from = tonumber(line:match('"promoted_from":(%d+)')),
        to = tonumber(line:match('"promoted_to":(%d+)')), line = line:gsub(',"seconds":[^,}]*', "") }
      rows[#rows + 1] = r
      seq[#seq + 1] = string.format("%s@%s %s%s", r.id, r.rung, r.status,
        r.from and ("<" .. r.from) or r.to and (">" .. r.to) or "")
    end
    return seq, rows
  end

  -- What any halving record must be, whatever the order results came in:
  -- each (trial, rung) result once, each promotion of a trial then in the
  -- top floor(n / eta) of the n results of its rung (val_loss, ties to the
  -- lower id), each result above rung 0 after the promotion to it; every
  -- trial has a rung-0 result.
  function h.check_halving(rows, ntrials, eta, rungs)
    local seen, promoted, at = {}, {}, {}
    for _, r in ipairs(rows) do
      local key = r.id .. "@" .. tostring(r.rung)
      h.check(r.epochs == rungs[(r.rung or -1) + 1], "%s: epochs %s", r.line, r.epochs)
      if r.status == "promoted" then
        local list = {}
        for _, x in ipairs(at[r.rung] or {}) do
          list[#list + 1] = x
        end
        table.sort(list, function(a, b)
          if a.metric ~= b.metric then return a.metric < b.metric end
          return a.id < b.id
        end)
        local top = false
        for i = 1, #list // eta do
          top = top or list[i].id == r.id
        end
        h.check(top, "promotion out of the top 1/%d: %s", eta, r.line)
        h.check(r.to == r.rung + 1 and not promoted[key], "promotion: %s", r.line)
        promoted[key] = true
      else
        h.check(not seen[key], "result twice: %s", r.line)
        seen[key] = true
        h.check(r.rung == 0 and r.from == nil or (r.from == r.rung - 1 and promoted[r.id .. "@" .. r.from]),
          "result without its promotion: %s", r.line)
        at[r.rung] = at[r.rung] or {}
        table.insert(at[r.rung], r)
      end
    end
    for id = 1, ntrials do
      h.check(seen[id .. "@0"], "trial %d has no rung-0 result", id)
    end
  end

  -- summary.json and metrics.jsonl without the fields that are timings.
  function h.untimed(text)
    return (text:gsub('"seconds":[-%d.eE+]+', '"seconds":T')
      :gsub('"wall_seconds": [-%d.eE+]+', '"wall_seconds": T')
      :gsub('"samples_per_second": [-%d.eE+]+', '"samples_per_second": T'))
  end

  -- Runs FILE (args: extra arguments) into a/, then a/config.yaml into b/,
  -- and checks the two runs are the same (config.yaml, metrics.jsonl and
  -- summary.json without the timings, model.nnrun).  Returns a's config.yaml.
  function h.roundtrip(file, args)
    local code, out, err = h.nnrun(string.format("%s --out a --quiet --threads 2 %s", q(file),
      args or ""))
    h.expect_exit(code, 0, out, err)
    h.check(err == "", "first run's stderr: %s", err)
    code, out, err = h.nnrun("a/config.yaml --out b --quiet --threads 2")
    h.expect_exit(code, 0, out, err)
    h.check(err == "", "second run's stderr: %s", err)
    local ca, cb = read(dir .. "/a/config.yaml") or "", read(dir .. "/b/config.yaml") or ""
    h.check(ca == cb, "config.yaml differs:\n%s\n----\n%s", ca, cb)
    for _, f in ipairs({ "metrics.jsonl", "summary.json" }) do
      local a, b = h.untimed(read(dir .. "/a/" .. f) or "a"), h.untimed(read(dir .. "/b/" .. f) or "b")
      h.check(a == b, "%s differs:\n%s\n----\n%s", f, a, b)
    end
    local ma, mb = read(dir .. "/a/model.nnrun"), read(dir .. "/b/model.nnrun")
    h.check(ma ~= nil and ma == mb, "model.nnrun differs (%s, %s bytes)", ma and #ma, mb and #mb)
    return ca
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
