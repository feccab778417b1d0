-- scripts/nnrun/progress.lua: the sparkline of the last batches' losses
-- beside the live bar.
local progress = require "nnrun.progress"

local function sink()
  local s = { text = "" }
  function s.write(_, ...)
    s.text = s.text .. table.concat({ ... })
  end
  function s.flush() end
  return s
end

describe("progress.sparkline", function()
  it("draws values lowest to highest as eight block heights", function()
    assert.equals("▁▂▃▄▅▆▇█", progress.sparkline{ 0, 1, 2, 3, 4, 5, 6, 7 })
    assert.equals("█▁▅", progress.sparkline{ 2, 0.5, 1.4 })
    assert.equals("▄▄▄", progress.sparkline{ 3, 3, 3 })
    assert.equals("", progress.sparkline{})
  end)

  it("goes beside the loss of the live bar, and is left out before the loss", function()
    local s = { epoch = 3, batch = 12, batches = 150, running_loss = 0.12345 }
    assert.equals("epoch  3/20 [==......................]  12/150  loss 0.1235 ▁▄█  ETA 5.0s  "
      .. "1234 samples/s", progress.bar_text(s, 20, 1234.5, 5, 200, "▁▄█"))
    -- The bar narrows to 10 first; then the sparkline goes, then the loss.
    assert.equals("epoch  3/20 [=.........]  12/150  loss 0.1235 ▁▄█",
      progress.bar_text(s, 20, 1234.5, 65, 49, "▁▄█"))
    assert.equals("epoch  3/20 [=...........]  12/150  loss 0.1235",
      progress.bar_text(s, 20, 1234.5, 65, 47, "▁▄█"))
  end)

  it("shows the last 16 batches' losses, within the terminal's width", function()
    for _, cols in ipairs({ 200, 100, 80, 60, 40 }) do
      local out, t = sink(), 0
      local p = progress.new{ mode = "tty", out = out, now = function() return t end, epochs = 2,
        width = function() return cols end }
      for b = 1, 40 do
        t = b * 0.2
        p.batch{ epoch = 1, batch = b, batches = 40, size = 8, running_loss = 1 / b,
          loss = (b % 2 == 0) and 1 / b or 2 / b }
      end
      local last
      for draw in out.text:gmatch("\r\27%[K([^\r]*)") do
        assert.is_true(utf8.len(draw) <= cols - 1, cols .. " columns: " .. draw)
        last = draw
      end
      if cols >= 80 then
        -- Batches 25..40: odd ones twice as high as the even ones around them.
        local spark = last:match("loss %S+ (%S+)")
        assert.equals(16, utf8.len(spark), last)
        assert.equals(progress.sparkline((function()
          local v = {}
          for b = 25, 40 do
            v[#v + 1] = (b % 2 == 0) and 1 / b or 2 / b
          end
          return v
        end)()), spark)
      end
    end
  end)
end)
