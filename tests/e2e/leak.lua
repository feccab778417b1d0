-- Builds and frees thousands of runtime objects through the binding: run by
-- build/nnrun (tests/e2e, case "leak").  The sanitizer build's
-- LeakSanitizer reports anything the binding fails to free; in any build the
-- resident size must stay flat once the collector has run.
local nn = require "nnrun"

local function rss_kb()
  local f = io.open("/proc/self/statm")
  if not f then
    return nil
  end
  local pages = f:read("n")
  local resident = f:read("n")
  f:close()
  return pages and resident and resident * 4
end

local data = nn.datasets.xor()
local x = nn.tensor{ { 0, 0 }, { 0, 1 }, { 1, 0 }, { 1, 1 } }
local t = nn.tensor{ { 0 }, { 1 }, { 1 }, { 0 } }

local function round(i)
  local net = nn.sequential({ nn.dense(2, 16), nn.relu(), nn.dense(16, 1) }, { seed = i })
  local y = net:forward(x)
  local loss = nn.loss("mse")
  loss:forward(y, t)
  net:backward(loss:backward())
  local opt = nn.optim.sgd(net, { lr = 0.1, momentum = 0.9 })
  opt:step()
  local w = net:weights(1)
  local p = net:params()
  assert(#p == 2 and w[1][1] == w[1][1])
  local d = nn.dataset(x:totable(), t)
  local a, b = nn.datasets.digits03{ n_per_class = 2 }:split(0.5, i)
  assert(a:size() + b:size() == 8)
  nn.fit(net, d, { loss = "mse", epochs = 2, batch_size = 2, on_batch = function() end })
  -- Errors raised from callbacks and from the runtime must free everything too.
  pcall(nn.fit, net, data, { loss = "mse", on_epoch = function() error("x") end })
  pcall(net.forward, net, { { 1, 2, 3 } })
  pcall(nn.sequential, { nn.dense(2, 4), nn.dense(3, 1) })
  pcall(nn.tensor, { { 1 }, { 1, 2 } })
  nn.gradcheck(net, x, t, "mse", { max_params = 4 })
  if i % 2 == 0 then
    -- explicit release half of the time; the collector for the rest
    w:close(); opt:close(); net:close(); d:close(); loss:close()
  end
  do
    local tmp <close> = nn.tensor(64, 64)
    tmp:fill(1)
  end
end

local rounds = tonumber(os.getenv("NNRUN_LEAK_ROUNDS") or "") or 5000
local warm = math.min(300, rounds // 3)
for i = 1, warm do
  round(i)
end
collectgarbage("collect")
local before = rss_kb()
for i = warm + 1, rounds do
  round(i)
  if i % 500 == 0 then
    collectgarbage("collect")
  end
end
collectgarbage("collect")
collectgarbage("collect")
local after = rss_kb()
-- Under AddressSanitizer freed memory sits in quarantine: LeakSanitizer
-- checks there instead of the resident size.
if before and after and os.getenv("NNRUN_LEAK_CHECK_RSS") ~= "0" then
  local grown = after - before
  print(string.format("leak: %d rounds, resident %d kB -> %d kB", rounds, before, after))
  -- Each round allocates well over 16 kB; a leak of any object per round
  -- would grow by megabytes.  Allow the allocator some slack.
  assert(grown < 4096, string.format("resident size grew by %d kB", grown))
end
