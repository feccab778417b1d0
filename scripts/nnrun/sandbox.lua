-- nnrun.sandbox: `nnrun --sandbox FILE.lua`, and the Lua base experiment
-- of a sweep (always).  The script runs in a Lua state of its own (nn.sandbox_exec, on
-- nnrun_sandbox_new of bindings/l_sandbox.c): allow-listed globals, an
-- instruction budget and a memory cap that pcall cannot swallow, and
-- writes (nnrun.record, net:save, nn.yaml.write) only within its run
-- directory.  What it returns comes back as a copy of plain data (tables,
-- strings, numbers, booleans; no metatable, no function), so none of its
-- code runs outside the limits.
local nn = require "nnrun"
local options = require "nnrun.options"
local util = require "nnrun.util"

local M = {}

M.DEFAULT_INSTRUCTIONS = 1000000000 -- --max-instructions
M.DEFAULT_MEMORY_MB = 256           -- --max-memory
M.MODULES = { "nnrun.record" }      -- what a script may require besides nnrun

-- package.path of nnrun's own modules (the trusted code of the sandbox).
local function lua_path()
  local file = package.searchpath("nnrun.sandbox", package.path)
  local root = file and file:match("^(.-)nnrun/sandbox%.lua$")
  return root and (root .. "?.lua") or nil
end

-- The run directory of a script run without --out: runs/<stem>-<time>,
-- then -2, -3, ... (the first that does not exist).
function M.default_dir(file)
  local base = string.format("runs/%s-%s", util.stem(file), os.date("%Y%m%d-%H%M%S"))
  for i = 1, math.huge do
    local dir = i == 1 and base or (base .. "-" .. i)
    if not util.exists(dir) then
      return dir
    end
  end
end

-- M.run(file, arg, o) -> a copy of the first result of the Lua file run
-- in a sandbox with arg as its `...`, under the limits of o
-- (max_instructions, max_memory in MB), writing only within arg.out (set
-- to o.out or M.default_dir(file)).  A limit reached, or a result that is
-- not plain data, is a usage error (exit 2) naming the file; an error of
-- the script is raised again as its message (a table error as { exit =,
-- message = } when it is one).
-- o.no_writes: every write is refused (arg.out left as it is).
function M.run(file, arg, o)
  local instr = o.max_instructions or M.DEFAULT_INSTRUCTIONS
  local mb = o.max_memory or M.DEFAULT_MEMORY_MB
  if not o.no_writes then
    arg.out = o.out or arg.out or M.default_dir(file)
  end
  local status, a, b, c = nn.sandbox_exec(file, arg, { max_instructions = instr,
    max_memory = mb * 1024 * 1024, write_dir = not o.no_writes and arg.out or nil,
    lua_path = lua_path(), modules = M.MODULES })
  if status == "ok" then
    return a
  elseif status == "load" then
    options.usage_error("%s", a)
  elseif status == "error" then
    if type(a) == "string" then
      error(a, 0)
    elseif type(c) == "table" and math.type(c.exit) == "integer" and type(c.message) == "string" then
      error({ exit = c.exit == 2 and 2 or 1, message = c.message }, 0)
    end
    options.usage_error("%s: error raised with a %s value, not a message", file, b)
  elseif status == "memory" then
    options.usage_error("%s: memory limit of %d MB reached (--sandbox; see --max-memory)", file,
      mb)
  elseif status == "instructions" then
    options.usage_error("%s: instruction limit of %d reached (--sandbox; see --max-instructions)",
      file, instr)
  end
  options.usage_error("%s: the script returned %s (only plain data leaves --sandbox: tables, "
    .. "strings, numbers, booleans)", file, a)
end

-- M.experiment(file) -> the experiment table the Lua file returns (a
-- sweep's base experiment), run in a sandbox with the default limits and
-- no writes; raises a one-line message for anything else.
function M.experiment(file)
  local ok, r = pcall(M.run, file, { file = file }, { no_writes = true })
  if not ok then
    error(type(r) == "table" and tostring(r.message) or r, 0)
  elseif type(r) ~= "table" then
    error(string.format("%s: a sweep's base script returns an experiment table, it returned %s",
      file, type(r)), 0)
  end
  return r
end

return M
