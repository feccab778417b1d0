-- nnrun.json: a small JSON encoder for the run directory's files.
-- NaN and infinities become null; tables with keys 1..n are arrays, other
-- tables objects with their keys sorted (or in the order given).
local M = {}

local escapes = {
  ['"'] = '\\"', ["\\"] = "\\\\", ["\b"] = "\\b", ["\f"] = "\\f",
  ["\n"] = "\\n", ["\r"] = "\\r", ["\t"] = "\\t",
}

local function encode_string(s)
  return '"' .. s:gsub('[%c"\\]', function(c)
    return escapes[c] or string.format("\\u%04x", c:byte())
  end) .. '"'
end

local function encode_number(v)
  if v ~= v or v == math.huge or v == -math.huge then
    return "null"
  end
  if math.type(v) == "integer" then
    return string.format("%d", v)
  end
  if v == math.floor(v) and math.abs(v) < 2^53 then
    return string.format("%.1f", v)
  end
  -- Shortest of the usual precisions that reads back to the same double.
  local s = string.format("%.15g", v)
  if tonumber(s) ~= v then
    s = string.format("%.17g", v)
  end
  return s
end

-- json.array(t): t encodes as an array, even when empty ([]).
local ARRAY = {}
function M.array(t)
  return setmetatable(t or {}, ARRAY)
end

local function is_array(t)
  if getmetatable(t) == ARRAY then
    return true
  end
  local n = #t
  local count = 0
  for k in pairs(t) do
    if math.type(k) ~= "integer" or k < 1 or k > n then
      return false
    end
    count = count + 1
  end
  return count == n and n > 0
end

local function sorted_keys(t, order)
  local keys, seen = {}, {}
  for _, k in ipairs(order or {}) do
    if t[k] ~= nil then
      keys[#keys + 1] = k
      seen[k] = true
    end
  end
  local rest = {}
  for k in pairs(t) do
    if not seen[k] then
      rest[#rest + 1] = k
    end
  end
  table.sort(rest, function(a, b) return tostring(a) < tostring(b) end)
  for _, k in ipairs(rest) do
    keys[#keys + 1] = k
  end
  return keys
end

local function encode(v, opts, indent, depth)
  local ty = type(v)
  if ty == "nil" then
    return "null"
  elseif ty == "boolean" then
    return tostring(v)
  elseif ty == "number" then
    return encode_number(v)
  elseif ty == "string" then
    return encode_string(v)
  elseif ty == "table" then
    if depth > 64 then
      error("json: nesting deeper than 64 (a cycle?)", 0)
    end
    local nl, pad, pad_in, sep = "", "", "", ":"
    if indent then
      nl = "\n"
      pad = string.rep(indent, depth)
      pad_in = pad .. indent
      sep = ": "
    end
    local parts = {}
    if is_array(v) then
      if #v == 0 then
        return "[]"
      end
      for i = 1, #v do
        parts[i] = pad_in .. encode(v[i], opts, indent, depth + 1)
      end
      return "[" .. nl .. table.concat(parts, "," .. nl) .. nl .. pad .. "]"
    end
    if next(v) == nil then
      return "{}"
    end
    local order = depth == 0 and opts.order or nil
    for _, k in ipairs(sorted_keys(v, order)) do
      parts[#parts + 1] = pad_in .. encode_string(tostring(k)) .. sep
        .. encode(v[k], opts, indent, depth + 1)
    end
    return "{" .. nl .. table.concat(parts, "," .. nl) .. nl .. pad .. "}"
  else
    -- Runtime objects and functions are described, not serialised.
    return encode_string(tostring(v))
  end
end

-- json.encode(value [, { indent = "  ", order = { keys first } }]) -> string
function M.encode(value, opts)
  opts = opts or {}
  return encode(value, opts, opts.indent, 0)
end

return M
