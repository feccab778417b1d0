-- Closing what a running nn.fit uses, from its callbacks: run by build/nnrun
-- (tests/e2e, case "fit_close"; in the sanitizer build too, where a
-- use-after-free would be reported).  Every object (network, training set,
-- validation set, trainer) closed every way (:close(), a <close> variable,
-- the collector once the option table dropped it) from every callback
-- (on_batch, on_epoch) is refused with a clear error; nn.fit raises it,
-- and the objects are intact afterwards.
local nn = require "nnrun"

local failures = 0
local function check(cond, fmt, ...)
  if not cond then
    failures = failures + 1
    io.stderr:write("FAIL: ", string.format(fmt, ...), "\n")
  end
end

local MSG = {
  net = "cannot close the network: a running nn.fit trains it (close it after nn.fit returns)",
  data = "cannot close the dataset: a running nn.fit uses it (close it after nn.fit returns)",
  val = "cannot close the dataset: a running nn.fit uses it (close it after nn.fit returns)",
  trainer = "cannot close the trainer inside nn.fit's callbacks (nn.fit closes it when it returns)",
}

local ways = {
  method = function(obj)
    obj:close()
  end,
  tbc = function(obj)
    local _ <close> = obj
  end,
}

for _, what in ipairs({ "net", "data", "val", "trainer" }) do
  for _, cb in ipairs({ "on_batch", "on_epoch" }) do
    for way, close in pairs(ways) do
      local label = string.format("%s from %s by %s", what, cb, way)
      local net = nn.sequential({ nn.dense(2, 4), nn.tanh(), nn.dense(4, 1) }, { seed = 1 })
      local data = nn.datasets.xor()
      local val = nn.datasets.xor()
      local objs = { net = net, data = data, val = val }
      local calls = 0
      local opts = { loss = "mse", epochs = 3, batch_size = 2, validation = val }
      opts.on_epoch = function(_, trainer)
        objs.trainer = trainer
        if cb == "on_epoch" then
          close(objs[what])
        end
      end
      opts.on_batch = function(s)
        calls = calls + 1
        -- The trainer is known from the second epoch's batches on.
        if cb == "on_batch" and s.epoch == 2 then
          close(objs[what])
        end
      end
      local ok, err = pcall(nn.fit, net, data, opts)
      check(not ok, "%s: nn.fit returned", label)
      check(type(err) == "string" and err:find(MSG[what], 1, true) ~= nil,
        "%s: error %s", label, tostring(err))
      check(err == nil or not tostring(err):find("scripts/nnrun", 1, true),
        "%s: error shows a path of nnrun's scripts: %s", label, tostring(err))
      -- Everything still works, and closes now.
      check(net:forward({ { 0, 1 } }):size(1) == 1, "%s: net unusable", label)
      check(data:size() == 4 and val:size() == 4, "%s: data unusable", label)
      nn.fit(net, data, { loss = "mse", epochs = 1, validation = val })
      net:close()
      data:close()
      val:close()
      check(tostring(net) == "nnrun.Net (closed)", "%s: net not closed", label)
    end
  end
end

-- The validation set dropped by the option table and collected mid-run.
do
  local net = nn.sequential({ nn.dense(2, 4), nn.tanh(), nn.dense(4, 1) }, { seed = 1 })
  local opts = { loss = "mse", epochs = 3, validation = nn.datasets.xor() }
  local seen = 0
  opts.on_epoch = function(s)
    opts.validation = nil
    collectgarbage("collect")
    collectgarbage("collect")
    seen = seen + 1
    check(s.val_loss ~= nil, "epoch %d without a validation loss", s.epoch)
  end
  nn.fit(net, nn.datasets.xor(), opts)
  check(seen == 3, "epochs seen %d", seen)
end

-- nn.fit on a network another nn.fit is training is refused.
do
  local net = nn.sequential({ nn.dense(2, 4), nn.tanh(), nn.dense(4, 1) }, { seed = 1 })
  local data = nn.datasets.xor()
  local ok, err = pcall(nn.fit, net, data, { loss = "mse", epochs = 2,
    on_epoch = function() nn.fit(net, data, { loss = "mse" }) end })
  check(not ok and tostring(err):find("bad argument #1 to 'fit' (the network is being trained "
    .. "by a running nn.fit)", 1, true), "nested nn.fit: %s", tostring(err))
  nn.fit(net, data, { loss = "mse" })
end

if failures > 0 then
  os.exit(1)
end
print("fit_close: ok")
