-- nnrun.rundir: reading run and sweep directories (DESIGN.md), for the
-- commands that look at what a run wrote (plot, landscape, report).
--   rundir.kind(dir)        "run" | "sweep" | nil, message
--   rundir.metrics(dir)     the metrics.jsonl objects, in epoch order
--   rundir.summary(dir)     summary.json as a table (nil if absent)
--   rundir.confusion(dir)   { names = {...}, counts = { {..}, ... } } or nil
--   rundir.sweep(dir)       { doc = sweep.yaml, trials = ranked list, params = paths,
--                             log = { [path] = true } (log-distributed) }
local nn = require "nnrun"
local options = require "nnrun.options"

local M = {}

local NULL = nn.yaml and nn.yaml.null

M.read = require("nnrun.util").read_file

local exists = require("nnrun.util").exists
M.exists = exists

-- A JSON object (a line of metrics.jsonl, summary.json): JSON is YAML.
local function parse(text)
  local ok, t = pcall(nn.yaml.parse, text)
  if ok and type(t) == "table" then
    for k, v in pairs(t) do
      if v == NULL then
        t[k] = nil
      end
    end
    return t
  end
  return nil
end

function M.kind(dir)
  if exists(dir .. "/trials.jsonl") or exists(dir .. "/sweep.yaml") then
    return "sweep"
  elseif exists(dir .. "/metrics.jsonl") then
    return "run"
  elseif not nn.listdir(dir) then
    return nil, string.format("%s: no such directory", dir)
  end
  return nil, string.format("%s: neither a run directory (no metrics.jsonl) nor a sweep "
    .. "directory (no trials.jsonl)", dir)
end

-- The kind of dir, or a usage error.
function M.check(dir)
  local kind, err = M.kind(dir)
  if not kind then
    options.usage_error("%s", err)
  end
  return kind
end

function M.metrics(dir)
  local out = {}
  for line in (M.read(dir .. "/metrics.jsonl") or ""):gmatch("[^\n]+") do
    local t = parse(line)
    if t and math.type(t.epoch) == "integer" then
      out[#out + 1] = t
    end
  end
  table.sort(out, function(a, b) return a.epoch < b.epoch end)
  return out
end

function M.summary(dir)
  local text = M.read(dir .. "/summary.json")
  return text and parse(text)
end

-- A CSV line's fields (double quotes as confusion.csv writes them).
local function csv_fields(line)
  local out, i = {}, 1
  while i <= #line + 1 do
    if line:sub(i, i) == '"' then
      local j, s = i + 1, {}
      while j <= #line do
        local c = line:sub(j, j)
        if c == '"' and line:sub(j + 1, j + 1) == '"' then
          s[#s + 1] = '"'
          j = j + 2
        elseif c == '"' then
          j = j + 1
          break
        else
          s[#s + 1] = c
          j = j + 1
        end
      end
      out[#out + 1] = table.concat(s)
      i = j + 1
    else
      local j = line:find(",", i, true) or (#line + 1)
      out[#out + 1] = line:sub(i, j - 1)
      i = j + 1
    end
  end
  return out
end

function M.confusion(dir)
  local text = M.read(dir .. "/confusion.csv")
  if not text then
    return nil
  end
  local rows = {}
  for line in text:gmatch("[^\n]+") do
    rows[#rows + 1] = csv_fields(line)
  end
  local names, counts = {}, {}
  for j = 2, #rows[1] do
    names[#names + 1] = rows[1][j]
  end
  for i = 2, #rows do
    local r = {}
    for j = 2, #rows[i] do
      r[#r + 1] = tonumber(rows[i][j])
    end
    counts[#counts + 1] = r
  end
  return { names = names, counts = counts }
end

-- The sweep of dir: its resolved sweep.yaml, the trials of trials.jsonl
-- ranked by the sweep's metric, the swept parameter paths (sorted) and
-- which of them were drawn log-uniformly.
function M.sweep(dir)
  local sweep = require "nnrun.sweep"
  local ok, doc = pcall(nn.yaml.load, dir .. "/sweep.yaml")
  if not ok or type(doc) ~= "table" then
    options.usage_error("%s/sweep.yaml: cannot read the sweep (%s)", dir,
      ok and "not a mapping" or (tostring(doc):match("^[^\n]*")))
  end
  local results = sweep.read_trials(M.read(dir .. "/trials.jsonl"))
  local list = sweep.rank(results, doc.mode)
  local seen, params, log = {}, {}, {}
  for _, t in ipairs(list) do
    for p in pairs(t.parameters or {}) do
      if not seen[p] then
        seen[p] = true
        params[#params + 1] = p
      end
    end
  end
  table.sort(params)
  local random = type(doc.random) == "table" and doc.random.params
  for p, d in pairs(type(random) == "table" and random or {}) do
    if type(d) == "table" and d.log_uniform then
      log[p] = true
    end
  end
  return { doc = doc, metric = doc.metric, mode = doc.mode, trials = list, params = params,
    log = log }
end

return M
