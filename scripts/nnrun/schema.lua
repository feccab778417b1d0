-- nnrun.schema: the schema engine shared by the experiment schema
-- (nnrun.config) and the sweep schema (nnrun.sweep).  It checks a value
-- against a field spec (types, ranges, enums, patterns), flags unknown keys
-- with a did-you-mean, and records every problem as { path =, message = }
-- in a context c = { errors = {} }: a problem is located by its key path
-- (`optimizer.lr`, `model.layers[2].dense`), and the caller turns the path
-- into file:line:col.  It knows no experiment key.
local util = require "nnrun.util"

local M = {}

-- YAML's null (a light userdata of the nnrun module) when it is there: a
-- null mapping value means "not given", so its default applies.
local NULL
do
  local ok, nn = pcall(require, "nnrun")
  NULL = ok and type(nn) == "table" and nn.yaml and nn.yaml.null or nil
end

local function join(path, key)
  if math.type(key) == "integer" then
    return path .. "[" .. key .. "]"
  end
  return path == "" and key or (path .. "." .. key)
end

local function contains(list, v)
  for _, x in ipairs(list) do
    if x == v then
      return true
    end
  end
  return false
end

-- The metatable name of a runtime object ("nnrun.Net"), or nil.
local function object_type(v)
  if type(v) ~= "userdata" then
    return nil
  end
  local mt = getmetatable(v)
  return type(mt) == "table" and mt.__name or nil
end

local function is_list(t)
  if type(t) ~= "table" then
    return false
  end
  local n = 0
  for k in pairs(t) do
    if math.type(k) ~= "integer" then
      return false
    end
    n = n + 1
  end
  return n > 0
end

local function describe(v)
  local ty = object_type(v)
  if ty then
    return ty
  elseif v ~= nil and v == NULL then
    return "null"
  elseif type(v) == "string" then
    return string.format("string %q", v)
  elseif type(v) == "number" or type(v) == "boolean" then
    return tostring(v)
  elseif type(v) == "table" then
    return is_list(v) and "a list" or "a mapping"
  end
  return type(v)
end

local function fail(c, path, fmt, ...)
  c.errors[#c.errors + 1] = { path = path, message = string.format(fmt, ...) }
end

-- Flags every key of t not in allowed: "unknown key (did you mean 'x'?)"
-- or "(expected one of: ...)".  c.suggest_key(k, allowed), when set, finds
-- the suggestion (the experiment schema adds its synonyms); else the
-- closest name.  opts.what(k): " for adam" (whose keys these are, for a key
-- k that belongs elsewhere), or nil; opts.hints: key -> the allowed key it
-- stands for here (momentum -> beta1).
local function check_keys(c, t, path, allowed, opts)
  local what, hints = opts and opts.what, opts and opts.hints
  for _, k in ipairs(util.sorted_keys(t)) do
    if type(k) ~= "string" then
      fail(c, path, "unexpected key %s (keys are names)", describe(k))
    elseif not contains(allowed, k) then
      local msg = hints and hints[k] and string.format("unknown key (did you mean '%s'?)", hints[k])
        or util.unknown_key(c, k, allowed, c.suggest_key)
      local w = what and what(k)
      if w then
        msg = "unknown key" .. w .. msg:sub(#"unknown key" + 1)
      end
      fail(c, join(path, k), "%s", msg)
    end
  end
end

local function fmt_num(v)
  if math.type(v) == "float" and v == math.floor(v) and math.abs(v) < 1e15 then
    return string.format("%d", math.tointeger(v))
  end
  return tostring(v)
end

-- " (did you mean 'x'?)" for a mistyped name, or "": the names that begin
-- with it (he: he_uniform, he_normal) or hold it (accuracy: val_accuracy),
-- else the closest one.
local function suggest_value(v, names)
  local starts = {}
  for _, n in ipairs(names) do
    if (#v >= 2 and n:sub(1, #v) == v) or (#v >= 4 and n:find(v, 1, true)) then
      starts[#starts + 1] = "'" .. n .. "'"
    end
  end
  if #starts > 0 and #starts <= 3 then
    return string.format(" (did you mean %s?)", table.concat(starts, " or "))
  end
  local s = util.suggest(v, names)
  return s and string.format(" (did you mean '%s'?)", s) or ""
end

local FLOAT32_MAX = 3.4028234663852886e38

-- YAML 1.1 words that YAML 1.2 (and so nnrun) reads as strings.
local YAML11_BOOLS = { yes = true, no = true, on = true, off = true, y = true, n = true }

-- Reads t[key] by spec: { type = "integer"|"number"|"boolean"|"string",
-- default =, required =, min =, gt =, max =, lt =, enum =, interval = }
-- (interval: "[0, 1)", the range as one message when a bound fails).  Returns the
-- value (the default when absent), or nil after recording a problem.
local function field(c, t, path, key, spec)
  local p = join(path, key)
  local v = t[key]
  if v == nil then
    if spec.required then
      fail(c, p, "missing (required)")
    end
    return spec.default
  end
  local ty = spec.type
  if ty == "integer" then
    if type(v) ~= "number" or math.tointeger(v) == nil then
      fail(c, p, "expected an integer, got %s", describe(v))
      return nil
    end
    v = math.tointeger(v)
  elseif ty == "number" then
    if type(v) ~= "number" then
      fail(c, p, "expected a number, got %s", describe(v))
      return nil
    end
    if v ~= v or v == math.huge or v == -math.huge then
      fail(c, p, "must be finite, got %s", v ~= v and "nan" or (v > 0 and "inf" or "-inf"))
      return nil
    end
    -- The runtime computes in 32-bit floats.
    if math.abs(v) > FLOAT32_MAX then
      fail(c, p, "is beyond a 32-bit float (at most %.8g), got %s", FLOAT32_MAX, fmt_num(v))
      return nil
    elseif v ~= 0 and string.unpack("f", string.pack("f", v)) == 0 then
      fail(c, p, "is too small for a 32-bit float (it would be 0), got %s", fmt_num(v))
      return nil
    end
  elseif type(v) ~= ty then
    local hint = ""
    if ty == "boolean" and type(v) == "string" and YAML11_BOOLS[v:lower()] then
      hint = " (write true or false)"
    end
    fail(c, p, "expected a %s, got %s%s", ty, describe(v), hint)
    return nil
  end
  if spec.enum and not contains(spec.enum, v) then
    fail(c, p, "unknown value '%s'%s (expected one of: %s)", v, suggest_value(v, spec.enum),
      table.concat(spec.enum, ", "))
    return nil
  end
  if spec.pattern and not v:match(spec.pattern) then
    fail(c, p, "%s", spec.pattern_message)
    return nil
  end
  if spec.interval and not ((not spec.gt or v > spec.gt) and (not spec.min or v >= spec.min)
      and (not spec.lt or v < spec.lt) and (not spec.max or v <= spec.max)) then
    fail(c, p, "must be in %s, got %s", spec.interval, fmt_num(v))
    return nil
  end
  if spec.gt and not (v > spec.gt) then
    fail(c, p, "must be > %s, got %s", fmt_num(spec.gt), fmt_num(v))
    return nil
  end
  if spec.min and not (v >= spec.min) then
    fail(c, p, "must be >= %s, got %s", fmt_num(spec.min), fmt_num(v))
    return nil
  end
  if spec.lt and not (v < spec.lt) then
    fail(c, p, "must be < %s, got %s", fmt_num(spec.lt), fmt_num(v))
    return nil
  end
  if spec.max and not (v <= spec.max) then
    fail(c, p, "must be <= %s, got %s", fmt_num(spec.max), fmt_num(v))
    return nil
  end
  return v
end

-- A section that must be a mapping (absent: {}).  allow_object: the
-- runtime object a Lua experiment may give instead; shorthand: a string
-- standing for { name = string }.  Returns nil if it is neither.
local function section(c, v, key, allow_object, shorthand)
  if v == nil then
    return {}
  end
  if shorthand and type(v) == "string" then
    return { name = v }, true
  end
  if (type(v) == "table" and not is_list(v)) or (allow_object and object_type(v) == allow_object) then
    return v
  end
  fail(c, key, "expected a mapping%s%s, got %s", shorthand and " or a name" or "",
    allow_object and (" (or an " .. allow_object .. " in Lua)") or "", describe(v))
  return nil
end

-- Flags keys that belong to other variants ("not used by ...").
local function unused(c, t, path, keys, what)
  for _, k in ipairs(keys) do
    if t[k] ~= nil then
      fail(c, join(path, k), "not used by %s", what)
    end
  end
end
-- A field() spec from a runtime parameter spec (of a layer kind or an
-- optimiser); interval: a range with both bounds fails as one message,
-- "must be in [0, 1)".
local function param_field(p, interval)
  local f = { default = p.default }
  if p.type == "int" then
    f.type = "integer"
  elseif p.type == "float" then
    f.type = "number"
  elseif p.type == "bool" then
    f.type = "boolean"
  else
    f.type, f.enum = "string", p.choices
  end
  if p.min then
    f[p.min_open and "gt" or "min"] = p.min
  end
  if p.max then
    f[p.max_open and "lt" or "max"] = p.max
  end
  if interval and p.min and p.max then
    f.interval = string.format("%s%s, %s%s", p.min_open and "(" or "[", fmt_num(p.min),
      fmt_num(p.max), p.max_open and ")" or "]")
  end
  return f
end

-- A mapping (a table that is not a list; {} counts).
local function is_mapping(t)
  return type(t) == "table" and not is_list(t)
end

M.NULL, M.join, M.contains, M.object_type, M.is_list, M.is_mapping = NULL, join, contains,
  object_type, is_list, is_mapping
M.describe, M.fail, M.check_keys, M.fmt_num, M.suggest_value = describe, fail, check_keys,
  fmt_num, suggest_value
M.field, M.section, M.unused, M.param_field = field, section, unused, param_field

return M
