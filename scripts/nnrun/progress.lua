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

-- A number as %.4g (%.3g for lr) padded to a column: epoch lines align.
local function col(label, v, fmt, width)
  if v == nil then
    return ""
  end
  return string.format("  %s %-" .. width .. "s", label, string.format(fmt, v))
end

-- The line printed for a finished epoch: fixed columns, so that the lines
-- of a run align (a run gives the same columns every epoch).
function M.epoch_line(stats, epochs)
  local width = #tostring(epochs)
  return string.format("epoch %" .. width .. "d/%d", stats.epoch, epochs)
    .. col("train", stats.train_loss or 0 / 0, "%.4g", 9)
    .. col("val", stats.val_loss, "%.4g", 9)
    .. (stats.val_accuracy and string.format("  acc %5.1f%%", 100 * stats.val_accuracy) or "")
    .. col("lr", stats.lr or 0, "%.3g", 8)
    .. string.format(" %6.2fs", stats.seconds or 0)
end

M.SPARK_N = 16
local SPARKS = { "\u{2581}", "\u{2582}", "\u{2583}", "\u{2584}", "\u{2585}", "\u{2586}",
  "\u{2587}", "\u{2588}" }

-- The values as a sparkline, one block character each (lowest to highest
-- of the values; all equal: the middle height).
function M.sparkline(values)
  local lo, hi = math.huge, -math.huge
  for _, v in ipairs(values) do
    if v == v then
      lo, hi = math.min(lo, v), math.max(hi, v)
    end
  end
  local out = {}
  for i, v in ipairs(values) do
    local k = 4
    if v ~= v then
      k = 1
    elseif hi > lo then
      k = math.floor((v - lo) / (hi - lo) * 7 + 0.5) + 1
    end
    out[i] = SPARKS[k]
  end
  return table.concat(out)
end

-- The live bar's text in at most `width` columns: the bar narrows first,
-- then the rate, the ETA, the sparkline of the last batches' losses
-- (spark, optional), the loss and the bar itself are left out.
function M.bar_text(s, epochs, seen_rate, eta, width, spark)
  local ew, bw = #tostring(epochs), #tostring(s.batches)
  local head = string.format("epoch %" .. ew .. "d/%d ", s.epoch, epochs)
  local count = string.format(" %" .. bw .. "d/%d", s.batch, s.batches)
  local extra = {
    string.format("  loss %.4g", s.running_loss or 0 / 0),
    string.format("  ETA %s", fmt_seconds(eta)),
    string.format("  %.0f samples/s", seen_rate),
  }
  if spark and spark ~= "" then
    table.insert(extra, 2, " " .. spark)
  end
  local done = s.batch / s.batches
  local function bar(w)
    local filled = math.floor(w * done + 0.5)
    return "[" .. string.rep("=", filled) .. string.rep(".", w - filled) .. "]"
  end
  for n = #extra, 0, -1 do
    local tail = table.concat(extra, "", 1, n)
    for w = 24, 10, -1 do
      local text = head .. bar(w) .. count .. tail
      if utf8.len(text) <= width then -- columns: the sparkline is not ASCII
        return text
      end
    end
  end
  return (head .. count:sub(2)):sub(1, width)
end

-- M.new{ mode =, out = io.stdout, now = nn.now, epochs =, samples =,
--        width = function() -> terminal columns (default 80) }
-- returns an object with :batch(stats) (nil in modes without a bar),
-- :epoch(stats) and :finish() (ends a bar left drawn, e.g. by Ctrl-C).
function M.new(opts)
  local self = {
    mode = opts.mode, out = opts.out or io.stdout, now = opts.now, epochs = opts.epochs,
    samples = opts.samples,
  }
  local columns = opts.width or function() return 80 end
  local epoch_start, last_draw, drawn = nil, -1, false
  local losses = {} -- the last SPARK_N batches' losses, for the sparkline

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
    local seen = (s.batch - 1) * (self.batch_size or s.size) + s.size
    local rate = elapsed > 0 and seen / elapsed or 0
    local eta = done > 0 and elapsed * (1 - done) / done or 0
    -- One column short of the width: a line that fills it wraps on some
    -- terminals, and each redraw would then start a new line.
    local width = math.max(20, (tonumber(columns()) or 80) - 1)
    self.out:write("\r\27[K", M.bar_text(s, self.epochs, rate, eta, width,
      M.sparkline(losses)))
    self.out:flush()
    drawn = true
  end
  if self.mode == "tty" then
    self.batch = function(s)
      if s.batch == 1 then
        epoch_start = self.now()
        self.batch_size = s.size
      end
      if s.loss then
        losses[#losses + 1] = s.loss
        if #losses > M.SPARK_N then
          table.remove(losses, 1)
        end
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

  function self.finish()
    if drawn then
      self.out:write("\n")
      self.out:flush()
      drawn = false
    end
  end

  return self
end

return M
