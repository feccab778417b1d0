-- Measures the cost of calling back into Lua once per batch: the same fit
-- of a tiny network with and without an on_batch callback.
--   build/nnrun tests/e2e/overhead.lua [--threads 1]
local nn = require "nnrun"

local n, epochs = 8192, 10
local data = nn.datasets.curve{ n = n, noise = 0.1, seed = 1 }

local function run(on_batch)
  local net = nn.sequential({ nn.dense(1, 2), nn.tanh(), nn.dense(2, 1) }, { seed = 1 })
  local opts = { loss = "mse", epochs = epochs, batch_size = 1, shuffle = false,
    optimizer = { lr = 0.01 }, on_batch = on_batch }
  local t0 = nn.now()
  nn.fit(net, data, opts)
  return (nn.now() - t0) / (n * epochs) * 1e6 -- microseconds per batch
end

local function best(f)
  local m = math.huge
  for _ = 1, 5 do
    m = math.min(m, f())
  end
  return m
end

local calls = 0
local base = best(function() return run(nil) end)
local empty = best(function() return run(function() end) end)
local busy = best(function() return run(function(s) calls = calls + s.size end) end)
print(string.format("threads %d, %d batches of 1 row per run", nn.get_threads(), n * epochs))
print(string.format("no callback        %.3f us/batch", base))
print(string.format("empty on_batch     %.3f us/batch  (+%.3f us)", empty, empty - base))
print(string.format("on_batch reading s %.3f us/batch  (+%.3f us)", busy, busy - base))
