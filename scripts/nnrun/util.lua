-- nnrun.util: small helpers shared by the scripts (no numerics).
local M = {}

-- The metrics that are better higher (accuracies, F1, R^2, throughput);
-- every other (losses, errors, time) is better lower.  The one place that
-- decides it: checkpoint_best, early stopping, sweep ranking and plots ask
-- here.
local HIGHER_IS_BETTER = { val_accuracy = true, test_accuracy = true, test_top5_accuracy = true,
  test_macro_f1 = true, test_r2 = true, samples_per_second = true }

function M.higher_is_better(metric)
  return HIGHER_IS_BETTER[metric] == true
end

-- Edit distance between two strings (Levenshtein).  With max: the
-- distance if it is at most max, else max + 1, found in a band of 2 max + 1
-- diagonals that stops once a whole row exceeds max, so a long word costs
-- O(max * length), never O(length^2).
function M.distance(a, b, max)
  local la, lb = #a, #b
  max = max or math.max(la, lb)
  if math.abs(la - lb) > max then
    return max + 1
  end
  local far = max + 1
  local prev, cur = {}, {}
  for j = 0, math.min(lb, max) do
    prev[j] = j
  end
  for i = 1, la do
    local lo, hi = math.max(1, i - max), math.min(lb, i + max)
    cur[lo - 1] = lo == 1 and i or far
    local ca = a:byte(i)
    local row_min = cur[lo - 1]
    for j = lo, hi do
      local cost = (ca == b:byte(j)) and 0 or 1
      local d = (prev[j - 1] or far) + cost
      local up = (prev[j] or far) + 1
      local left = cur[j - 1] + 1
      if up < d then d = up end
      if left < d then d = left end
      if d > far then d = far end
      cur[j] = d
      if d < row_min then row_min = d end
    end
    if row_min > max then
      return far
    end
    cur[hi + 1] = nil -- (outside the next row's band)
    prev, cur = cur, prev
  end
  return math.min(prev[lb] or far, far)
end

-- The candidate closest to word, if it is close enough to be a likely typo
-- (within max(2, #word // 3) edits, fewer than #word).  Each comparison is
-- bounded by that, so a long word costs little.
function M.suggest(word, candidates)
  local bound = math.min(math.max(2, #word // 3), #word - 1)
  local best, best_d
  for _, c in ipairs(candidates) do
    local d = M.distance(word, c, bound)
    if d <= bound and (not best_d or d < best_d or (d == best_d and c < best)) then
      best, best_d = c, d
    end
  end
  return best
end

-- The problem with key k of a mapping, not one of allowed: "unknown key
-- (did you mean 'x'?)" or "unknown key (expected one of: a, b, ...)".
-- c (a schema check's state) counts the searches: did-you-mean is looked
-- for (by suggest, default M.suggest) for the first 20 unknown keys of a
-- document only, so thousands of them are refused fast.
function M.unknown_key(c, k, allowed, suggest)
  c.suggested = (c.suggested or 0) + 1
  local s = c.suggested <= 20 and (suggest or M.suggest)(k, allowed)
  if s then
    return string.format("unknown key (did you mean '%s'?)", s)
  end
  c.expected = c.expected or {}
  if not c.expected[allowed] then
    local sorted = { table.unpack(allowed) }
    table.sort(sorted)
    c.expected[allowed] = "unknown key (expected one of: " .. table.concat(sorted, ", ") .. ")"
  end
  return c.expected[allowed]
end

function M.sorted_keys(t)
  local keys, names = {}, true
  for k in pairs(t) do
    keys[#keys + 1] = k
    names = names and type(k) == "string"
  end
  -- (strings sort as they are: the same order, without a Lua comparator)
  table.sort(keys, not names and function(a, b) return tostring(a) < tostring(b) end or nil)
  return keys
end

function M.basename(path)
  return (path:match("([^/]+)$") or path)
end

-- File name without directory and extension.
function M.stem(path)
  return (M.basename(path):gsub("%.[^.]*$", ""))
end

function M.extension(path)
  return (M.basename(path):match("%.([^.]+)$") or ""):lower()
end

-- Creates dir and its missing parents with mkdir (one directory at a time).
function M.mkdir_p(mkdir, dir)
  local path = dir:sub(1, 1) == "/" and "" or nil
  for part in dir:gmatch("[^/]+") do
    path = path and (path .. "/" .. part) or part
    local ok, err = mkdir(path)
    if not ok then
      return nil, err
    end
  end
  return true
end

-- The contents of path, or nil.
function M.read_file(path)
  local f = io.open(path, "rb")
  if not f then
    return nil
  end
  local s = f:read("a")
  f:close()
  return s
end

-- Whether path can be opened for reading (a file that exists).
function M.exists(path)
  local f = io.open(path, "rb")
  if f then
    f:close()
    return true
  end
  return false
end

-- Writes text to path atomically (the runtime's one atomic writer: a
-- temporary file of a unique name, fsync, rename over path, fsync of the
-- directory).  true, or nil and a message naming the file.
function M.write_file(path, text)
  return require("nnrun").write_file(path, text)
end

-- A deep copy of plain data; userdata and functions are shared.
function M.copy(v)
  if type(v) ~= "table" then
    return v
  end
  local out = {}
  for k, x in pairs(v) do
    out[k] = M.copy(x)
  end
  return out
end

return M
