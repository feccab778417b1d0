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
  return h
end

return M
