-- nnrun.gnuplot: drawing with gnuplot (Debian gnuplot-nox), for nnrun plot,
-- landscape, explain and report.  A figure is a gnuplot script; its data go
-- inline as datablocks, its outputs are written to temporary names and
-- renamed into place once gnuplot succeeded (no half-written images).
local nn = require "nnrun"
local options = require "nnrun.options"

local M = {}

M.PACKAGE = "gnuplot-nox"

-- The gnuplot on PATH, or nil.
function M.find()
  for dir in (os.getenv("PATH") or ""):gmatch("[^:]+") do
    local path = dir .. "/gnuplot"
    local f = io.open(path, "rb")
    if f then
      f:close()
      return path
    end
  end
  return nil
end

-- The gnuplot to run; without one, a usage error naming the package.
function M.need()
  local path = M.find()
  if not path then
    options.usage_error("gnuplot is not installed (no gnuplot on PATH): install the Debian "
      .. "package %s (apt-get install %s)", M.PACKAGE, M.PACKAGE)
  end
  return path
end

-- s as a gnuplot string literal.
function M.quote(s)
  return "'" .. tostring(s):gsub("'", "''") .. "'"
end
local quote = M.quote

-- A number for a datablock: "?" (missing, see set datafile missing) for nil
-- or NaN.
function M.num(v)
  if type(v) ~= "number" or v ~= v or v == math.huge or v == -math.huge then
    return "?"
  end
  return string.format("%.17g", v)
end

-- The datablock $name of rows (lists of numbers).
function M.datablock(name, rows)
  local out = { "$" .. name .. " << EOD" }
  for _, r in ipairs(rows) do
    local f = {}
    for i = 1, #r do
      f[i] = type(r[i]) == "string" and r[i] or M.num(r[i])
    end
    out[#out + 1] = table.concat(f, " ")
  end
  out[#out + 1] = "EOD"
  return table.concat(out, "\n") .. "\n"
end

-- The terminal lines for an output file (by its extension: png or svg) of
-- width x height pixels.
function M.terminal(path, width, height)
  local t
  if path:match("%.svg$") then
    t = string.format("set terminal svg size %d,%d dynamic noenhanced font 'Sans,11' "
      .. "background rgb 'white'", width, height)
  else
    t = string.format("set terminal pngcairo size %d,%d noenhanced font 'Sans,10'", width,
      height)
  end
  return t .. "\nset output " .. quote(path .. ".tmp") .. "\n"
end

local function io_fail(fmt, ...)
  error({ exit = 1, message = string.format(fmt, ...) }, 0)
end

-- Runs the gnuplot script text; outputs are the paths its terminals write
-- (as M.terminal names them), renamed into place on success.
function M.run(text, outputs)
  local exe = M.need()
  local script, log = os.tmpname(), os.tmpname()
  local f = assert(io.open(script, "w"))
  f:write("set datafile missing '?'\n", text, "\nunset output\n")
  f:close()
  local pid, err = nn.spawn({ exe, script }, log)
  local how, code = "exit", 1
  if pid then
    repeat
      local p, h, c = nn.wait()
      if p == pid then
        how, code = h, c
      end
    until p == pid or p == nil
  end
  local lf = io.open(log, "r")
  local out = lf and lf:read("a") or ""
  if lf then
    lf:close()
  end
  os.remove(script)
  os.remove(log)
  if not pid then
    io_fail("cannot run %s: %s", exe, err)
  end
  if how ~= "exit" or code ~= 0 then
    for _, o in ipairs(outputs) do
      os.remove(o .. ".tmp")
    end
    local line = out:match("[^\n]*[%w][^\n]*$") or out:match("[^\n]+")
      or ("exit " .. tostring(code))
    io_fail("gnuplot failed: %s", line:gsub("^%s+", ""))
  end
  for _, o in ipairs(outputs) do
    local ok, rerr = os.rename(o .. ".tmp", o)
    if not ok then
      io_fail("%s", rerr)
    end
  end
end

return M
