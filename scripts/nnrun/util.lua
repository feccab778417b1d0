-- nnrun.util: small helpers shared by the scripts (no numerics).
local M = {}

-- Edit distance between two strings (Levenshtein).
function M.distance(a, b)
  local prev, cur = {}, {}
  for j = 0, #b do
    prev[j] = j
  end
  for i = 1, #a do
    cur[0] = i
    local ca = a:byte(i)
    for j = 1, #b do
      local cost = (ca == b:byte(j)) and 0 or 1
      cur[j] = math.min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost)
    end
    prev, cur = cur, prev
  end
  return prev[#b]
end

-- The candidate closest to word, if it is close enough to be a likely typo.
function M.suggest(word, candidates)
  local best, best_d
  for _, c in ipairs(candidates) do
    local d = M.distance(word, c)
    if not best_d or d < best_d or (d == best_d and c < best) then
      best, best_d = c, d
    end
  end
  if best and best_d <= math.max(2, #word // 3) and best_d < #word then
    return best
  end
  return nil
end

function M.sorted_keys(t)
  local keys = {}
  for k in pairs(t) do
    keys[#keys + 1] = k
  end
  table.sort(keys, function(a, b) return tostring(a) < tostring(b) end)
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

-- Writes text to path through a temporary file renamed into place.
function M.write_file(path, text)
  local tmp = path .. ".tmp"
  local f, err = io.open(tmp, "w")
  if not f then
    return nil, err
  end
  local ok, werr = f:write(text)
  local cok, cerr = f:close()
  if not ok or not cok then
    os.remove(tmp)
    return nil, werr or cerr
  end
  local rok, rerr = os.rename(tmp, path)
  if not rok then
    os.remove(tmp)
    return nil, rerr
  end
  return true
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
