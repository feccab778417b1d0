-- nnrun.progress: what a run prints while it trains.
--   mode "tty":   a live bar per epoch (redrawn at most 10 times a second)
--                 and one line per finished epoch
--   mode "lines": one line per finished epoch
--   mode "quiet": nothing (the caller prints the final summary)
local M = {}

local function fmt_seconds(s)
  if s >= 3600 then
    return string.format("%dh%02dm", s // 3600, (s % 3600) // 60)
  elseif s >= 60 then
    return string.format("%dm%02ds", s // 60, math.floor(s % 60))
  end
  return string.format("%.1fs", s)
end
M.fmt_seconds = fmt_seconds

local function fmt_opt(label, v, fmt)
  if v == nil then
    return ""
  end
  return string.format("  %s " .. fmt, label, v)
end

-- The line printed for a finished epoch.
function M.epoch_line(stats, epochs)
  local width = #tostring(epochs)
  return string.format("epoch %" .. width .. "d/%d  train %.4g", stats.epoch, epochs,
      stats.train_loss or 0 / 0)
    .. fmt_opt("val", stats.val_loss, "%.4g")
    .. (stats.val_accuracy and string.format("  acc %.1f%%", 100 * stats.val_accuracy) or "")
    .. string.format("  lr %.3g  %.2fs", stats.lr or 0, stats.seconds or 0)
end

-- M.new{ mode =, out = io.stdout, now = nn.now, epochs =, samples = }
-- returns an object with :batch(stats) (nil in modes without a bar) and
-- :epoch(stats).
function M.new(opts)
  local self = {
    mode = opts.mode, out = opts.out or io.stdout, now = opts.now, epochs = opts.epochs,
    samples = opts.samples,
  }
  local epoch_start, last_draw, drawn = nil, -1, false

  local function bar(s)
    local t = self.now()
    if s.batch == 1 or not epoch_start then
      epoch_start = t
    end
    if t - last_draw < 0.1 and s.batch < s.batches then
      return
    end
    last_draw = t
    local elapsed = t - epoch_start
    local done = s.batch / s.batches
    local width = 24
    local filled = math.floor(width * done + 0.5)
    local seen = (s.batch - 1) * (self.batch_size or s.size) + s.size
    local rate = elapsed > 0 and seen / elapsed or 0
    local eta = done > 0 and elapsed * (1 - done) / done or 0
    self.out:write(string.format("\r\27[Kepoch %d/%d [%s%s] %d/%d  loss %.4g  %.0f samples/s  "
      .. "ETA %s", s.epoch, self.epochs, string.rep("=", filled), string.rep(".", width - filled),
      s.batch, s.batches, s.running_loss or 0 / 0, rate, fmt_seconds(eta)))
    self.out:flush()
    drawn = true
  end

  if self.mode == "tty" then
    self.batch = function(s)
      if s.batch == 1 then
        epoch_start = self.now()
        self.batch_size = s.size
      end
      bar(s)
    end
  end

  function self.epoch(s)
    if self.mode == "quiet" then
      return
    end
    if drawn then
      self.out:write("\r\27[K")
      drawn = false
    end
    self.out:write(M.epoch_line(s, self.epochs), "\n")
    self.out:flush()
    epoch_start = nil
  end

  return self
end

return M
