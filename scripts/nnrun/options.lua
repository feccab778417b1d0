-- nnrun.options: the one parser of command-line options, shared by every
-- subcommand of `nnrun` (the table of subcommands is in nnrun.cli).
--
-- A subcommand describes its options as a list of entries:
--   { "--out", key = "out", value = "dir" }       a string, not empty
--   { "--threads", key = "threads", value = "count", min = 1, max = 4096 }
--   { "--quiet", "-q", key = "quiet" }                  a flag (true)
--   { "--span", key = "span", value = "number", min = 0 } a number > min
--   { "--directions", key = "directions", value = { "random", "weights" } }
--   { "--set", value = "string", apply = function(o, v) ... end }
--   { "--resume", key = "resume", optional = function(next) -> bool,
--     apply = function(o, v) ... end }    a value only when optional(next)
-- Names are "--name" (and aliases); "--name=value" gives a value inline.
-- Usage errors are raised as { exit = 2, message = } for the CLI to report.
local util = require "nnrun.util"

local M = {}

-- An error the CLI reports and maps to exit status 2.
function M.usage_error(fmt, ...)
  error({ exit = 2, message = string.format(fmt, ...) }, 0)
end
local usage_error = M.usage_error

-- The integer of option opt's text v, in [min, max].
function M.count(v, opt, min, max)
  local n = math.tointeger(tonumber(v))
  if not n or n < min then
    usage_error("option %s needs an integer >= %d, got '%s'", opt, min, v)
  elseif max and n > max then
    usage_error("option %s needs an integer <= %d, got '%s'", opt, max, v)
  end
  return n
end

-- The number of option opt's text v, > min (when given).
function M.number(v, opt, min)
  local n = tonumber(v)
  if not n or n ~= n or n == math.huge or n == -math.huge or (min and n <= min) then
    usage_error("option %s needs a number%s, got '%s'", opt,
      min and string.format(" > %g", min) or "", v)
  end
  return n
end

local function convert(entry, name, v)
  local kind = entry.value
  if kind == "count" then
    return M.count(v, name, entry.min or 0, entry.max)
  elseif kind == "number" then
    return M.number(v, name, entry.min)
  elseif kind == "dir" and v == "" then
    usage_error("option %s needs a directory, got an empty string", name)
  elseif type(kind) == "table" then
    for _, c in ipairs(kind) do
      if v == c then
        return v
      end
    end
    usage_error("option %s needs one of %s, got '%s'", name, table.concat(kind, ", "), v)
  end
  return v
end

-- options.parse(args, first, spec, how) -> options table o.
--   args[first..] are parsed; spec is the list of option entries;
--   how.command names the command in messages ("nnrun", "nnrun eval");
--   how.init is the table to fill (default {});
--   how.positional(o, a) takes a non-option argument (default: appended
--   to o.files).
function M.parse(args, first, spec, how)
  how = how or {}
  local see = "see " .. (how.command or "nnrun") .. " --help"
  local by_name, known = {}, {}
  for _, entry in ipairs(spec) do
    for _, n in ipairs(entry) do
      by_name[n] = entry
      if n:sub(1, 2) == "--" then
        known[#known + 1] = n
      end
    end
  end
  local o = how.init or {}
  local positional = how.positional or function(t, a)
    t.files = t.files or {}
    t.files[#t.files + 1] = a
  end
  local i = first
  while i <= #args do
    local a = args[i]
    local name, inline = a:match("^(%-%-[%w-]+)=(.*)$")
    name = name or a
    local entry = by_name[name]
    if entry then
      local v = true
      if entry.value or entry.optional then
        if inline then
          v = inline
        elseif entry.optional and not entry.optional(args[i + 1]) then
          v = nil
        else
          i = i + 1
          v = args[i]
          if v == nil then
            usage_error("option %s needs a value (%s)", name, see)
          end
        end
        if v ~= nil then
          v = convert(entry, name, v)
        end
      end
      if entry.apply then
        entry.apply(o, v, name)
      else
        o[entry.key] = v
      end
    elseif a == "-" or a:sub(1, 1) ~= "-" then
      positional(o, a, see)
    else
      local s = util.suggest(name, known)
      usage_error("unknown option '%s'%s (%s)", name,
        s and string.format(" (did you mean '%s'?)", s) or "", see)
    end
    i = i + 1
  end
  return o
end

-- Entries many subcommands share.
M.HELP = { "--help", "-h", key = "help" }
M.QUIET = { "--quiet", "-q", key = "quiet" }
M.DEBUG = { "--debug", key = "debug" }
M.OUT = { "--out", key = "out", value = "dir" }
M.SEED = { "--seed", key = "seed", value = "count", min = 0 }
-- --set KEY.PATH=VALUE (repeatable): o.set gets { path =, text = }.
M.SET = { "--set", value = "string", apply = function(o, s)
  local path, v = s:match("^([^=]+)=(.*)$")
  if not path then
    usage_error("option --set needs KEY.PATH=VALUE, got '%s'", s)
  end
  local ok, perr = require("nnrun.config").split_path(path)
  if not ok then
    usage_error("option --set: %s", perr)
  end
  o.set = o.set or {}
  o.set[#o.set + 1] = { path = path, text = v }
end }
M.THREADS = { "--threads", key = "threads", value = "count", min = 1, max = 4096 }

return M
