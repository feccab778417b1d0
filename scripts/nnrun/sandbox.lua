-- nnrun.sandbox: the environment and limits of `nnrun --sandbox FILE.lua`.
--
-- The script sees an allow-listed set of globals: the base functions
-- without dofile, loadfile and collectgarbage (other than "count"), load of
-- text chunks only, string without dump, math, table, utf8, coroutine,
-- os.clock/time/date/difftime, and require of "nnrun" (without its process
-- and file-system helpers) and "nnrun.record".  io, debug, os.execute and
-- every other module are refused with a one-line error.  The limits
-- (instructions, bytes of Lua memory) are enforced by nn.sandbox_run
-- (bindings/l_sandbox.c), where pcall cannot swallow them.
local nn = require "nnrun"
local options = require "nnrun.options"

local M = {}

M.DEFAULT_INSTRUCTIONS = 1000000000 -- --max-instructions
M.DEFAULT_MEMORY_MB = 256           -- --max-memory

-- Functions of the nnrun module a sandboxed script does not get.
local NN_DENIED = { spawn = true, wait = true, kill = true, write_file = true, mkdir = true,
  listdir = true, lock_dir = true, trap_signals = true, exe_path = true, sandbox_run = true,
  sandbox_tripped = true }
local MODULES = { ["nnrun.record"] = true }

local function denied(name)
  return function()
    error(name .. " is not allowed under --sandbox", 2)
  end
end

-- A table of which any field is refused (io, debug).
local function denied_library(name)
  return setmetatable({}, {
    __index = function(_, k) error(name .. "." .. tostring(k) .. " is not allowed under --sandbox", 2) end,
    __newindex = function() error(name .. " is not allowed under --sandbox", 2) end,
    __metatable = false,
  })
end

local function copy(t, skip)
  local c = {}
  for k, v in pairs(t) do
    if not (skip and skip[k]) then
      c[k] = v
    end
  end
  return c
end

-- M.environment() -> the globals table of a sandboxed script
function M.environment()
  local env = {}
  for _, name in ipairs({ "assert", "error", "getmetatable", "ipairs", "next", "pairs", "pcall",
    "print", "rawequal", "rawget", "rawlen", "rawset", "select", "tonumber", "tostring", "type",
    "_VERSION" }) do
    env[name] = _G[name]
  end
  env.math, env.table, env.utf8 = copy(math), copy(table), copy(utf8)
  env.coroutine = copy(coroutine)
  env.string = copy(string, { dump = true })
  env.string.dump = denied("string.dump")
  env.os = { clock = os.clock, time = os.time, date = os.date, difftime = os.difftime }
  setmetatable(env.os, { __index = function(_, k)
    error("os." .. tostring(k) .. " is not allowed under --sandbox", 2)
  end })
  env.io, env.debug, env.package = denied_library("io"), denied_library("debug"),
    denied_library("package")
  env.dofile, env.loadfile = denied("dofile"), denied("loadfile")
  env.collectgarbage = function(opt, ...)
    if opt == "count" then
      return collectgarbage("count")
    end
    error("collectgarbage('" .. tostring(opt) .. "') is not allowed under --sandbox", 2)
  end
  env.load = function(chunk, name, mode, e)
    if (mode ~= nil and mode ~= "t") or (type(chunk) == "string" and chunk:sub(1, 1) == "\27") then
      error("load of a binary chunk is not allowed under --sandbox", 2)
    end
    return load(chunk, name, "t", e == nil and env or e)
  end
  local nn_view = copy(nn, NN_DENIED)
  env.require = function(name)
    if name == "nnrun" then
      return nn_view
    elseif MODULES[name] then
      return copy(require(name)) -- a copy: the script cannot patch nnrun's own
    end
    error("require '" .. tostring(name) .. "' is not allowed under --sandbox (only nnrun and "
      .. "nnrun.record)", 2)
  end
  -- Lua runs finalizers, and a message handler called for an error the
  -- hook raised, with hooks off: no __gc, and the script's handler is not
  -- called once a limit is reached.
  env.setmetatable = function(t, mt)
    if type(mt) == "table" and rawget(mt, "__gc") ~= nil then
      error("__gc metamethods are not allowed under --sandbox", 2)
    end
    return setmetatable(t, mt)
  end
  env.xpcall = function(f, msgh, ...)
    return xpcall(f, function(e)
      if nn.sandbox_tripped() then
        return e
      end
      return msgh(e)
    end, ...)
  end
  env._G = env
  return env
end

-- M.run(file, env, chunk, arg, o) -> chunk(arg)'s first result (chunk
-- loaded with env as its globals), run with
-- the limits of o (max_instructions, max_memory in MB); a limit reached is
-- a usage error (exit 2) naming the file.
function M.run(file, env, chunk, arg, o)
  local instr = o.max_instructions or M.DEFAULT_INSTRUCTIONS
  local mb = o.max_memory or M.DEFAULT_MEMORY_MB
  -- String methods ("x"):dump() go through the string metatable: during
  -- the run it indexes the sandbox's string table and cannot be read.
  local smt = debug.getmetatable("")
  local index, protected = smt.__index, smt.__metatable
  smt.__index, smt.__metatable = env.string, false
  local ok, ok2, result = pcall(nn.sandbox_run, chunk, arg, instr, mb * 1024 * 1024)
  smt.__index, smt.__metatable = index, protected
  if not ok then
    -- Only a message leaves the sandbox: an error value's __tostring would
    -- run the script's code outside the limits.
    if type(ok2) ~= "string" then
      options.usage_error("%s: error raised with a %s value, not a message", file, type(ok2))
    end
    error(ok2, 0)
  end
  if not ok2 then
    if result == "memory" then
      options.usage_error("%s: memory limit of %d MB reached (--sandbox; see --max-memory)", file,
        mb)
    end
    options.usage_error("%s: instruction limit of %d reached (--sandbox; see --max-instructions)",
      file, instr)
  end
  return result
end

return M
