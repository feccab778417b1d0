-- scripts/nnrun/runner.lua (and record.lua, progress.lua): building and
-- training a resolved experiment and the run directory it leaves
local nn = require "nnrun"
local config = require "nnrun.config"
local runner = require "nnrun.runner"
local progress = require "nnrun.progress"

local function read(path)
  local f = assert(io.open(path))
  local s = f:read("a")
  f:close()
  return s
end

local function tmpdir()
  local p = os.tmpname()
  os.remove(p)
  return p
end

-- An output stream that keeps what is written.
local function sink()
  local s = { text = "" }
  function s:write(...)
    for _, v in ipairs({ ... }) do
      self.text = self.text .. v
    end
    return self
  end
  function s:flush() end
  return s
end

describe("runner", function()
  it("builds the model of a resolved experiment", function()
    local r = assert(config.resolve{ data = { generator = "xor" }, model = { layers = {
      { dense = 3, activation = "leaky_relu", slope = 0.2 }, { dense = 1 } } } })
    local net = runner.build_model(r)
    assert.equals("nnrun.Net(dense 2 -> 3, leaky_relu, dense 3 -> 1; 13 parameters)",
      tostring(net))
  end)

  it("splits the data into train, validation and test", function()
    local r = assert(config.resolve{ data = { generator = "digits03", n_per_class = 10 },
      model = { layers = { { dense = 4 } } }, loss = "cross_entropy",
      train = { validation_split = 0.25 } })
    local d = runner.build_data(r)
    assert.same({ 24, 8, 8 }, { d.train:size(), d.val:size(), d.test:size() })
  end)

  it("stops early after `patience` epochs without improvement", function()
    local stop = runner.early_stopper{ metric = "val_loss", patience = 2, min_delta = 0.1 }
    assert.same({ false, false, false, true },
      { stop{ val_loss = 1 }, stop{ val_loss = 0.8 }, stop{ val_loss = 0.75 },
        stop{ val_loss = 0.79 } })
    local up = runner.early_stopper{ metric = "val_accuracy", patience = 1, min_delta = 0 }
    assert.same({ false, false, true }, { up{ val_accuracy = 0.5 }, up{ val_accuracy = 0.6 },
      up{ val_accuracy = 0.6 } })
  end)

  it("trains and writes config.yaml, metrics.jsonl and summary.json", function()
    local dir = tmpdir()
    local r = assert(config.resolve{ name = "t", data = { generator = "xor" },
      model = { layers = { { dense = 8, activation = "tanh" }, { dense = 1, activation = "sigmoid" } } },
      loss = "bce", optimizer = { lr = 0.5, momentum = 0.9 }, train = { epochs = 3, batch_size = 4 } })
    local summary, status = runner.run(r, { out = dir, mode = "quiet" })
    assert.equals(0, status)
    assert.equals("completed", summary.status)
    assert.equals(3, summary.epochs)
    assert.equals(33, summary.parameters)
    local lines = {}
    for l in read(dir .. "/metrics.jsonl"):gmatch("[^\n]+") do
      lines[#lines + 1] = l
    end
    assert.equals(3, #lines)
    assert.matches('^{"epoch":1,"train_loss":[%d.e-]+,"lr":0.5,"seconds":', lines[1])
    local s = read(dir .. "/summary.json")
    for _, k in ipairs({ "test_loss", "test_accuracy", "epochs", "wall_seconds",
      "samples_per_second", "parameters", "threads", "seed", "status" }) do
      assert.matches('"' .. k .. '":', s)
    end
    assert.matches('name', read(dir .. "/config.yaml"))
    for _, f in ipairs({ "config.yaml", "metrics.jsonl", "summary.json" }) do
      os.remove(dir .. "/" .. f)
    end
    os.remove(dir)
  end)

  it("gives runs started in the same second their own directories", function()
    local parent = tmpdir()
    local record = require "nnrun.record"
    local made = {}
    for i = 1, 3 do
      local rec = record.new({ mode = "quiet" }, { name = "same", directory = parent, epochs = 1 })
      made[i] = rec.directory
    end
    -- (the clock may tick between two of them: then the suffix restarts)
    assert.is_true(made[1] ~= made[2] and made[2] ~= made[3] and made[1] ~= made[3])
    if made[2]:sub(1, #made[1]) == made[1] then
      assert.equals(made[1] .. "-2", made[2])
    end
    os.execute("rm -rf '" .. parent .. "'")
  end)

  it("gives a default run the next directory when another run holds one of its second",
    function()
    -- Another process locks <parent>/held-<stamp> before it wrote anything
    -- (no config.yaml yet); this run, in the same second (os.date is fixed
    -- here), takes -2.  The holder waits on a FIFO: no timing.
    local parent = tmpdir()
    local stamp = "20260101-000000"
    nn.mkdir(parent)
    nn.mkdir(parent .. "/held-" .. stamp)
    assert(os.execute("mkfifo '" .. parent .. "/ready' '" .. parent .. "/gate'"))
    local script = parent .. "/hold.lua"
    local f = assert(io.open(script, "w"))
    f:write(string.format([[
local nn = require "nnrun"
assert(nn.lock_dir(%q))
local ready = assert(io.open(%q, "w"))
ready:write("locked\n")
ready:close()
local gate = assert(io.open(%q, "r"))
gate:read("a")
]], parent .. "/held-" .. stamp, parent .. "/ready", parent .. "/gate"))
    f:close()
    local holder = io.popen("'" .. os.getenv("NNRUN_EXE") .. "' '" .. script .. "'", "r")
    local ready = assert(io.open(parent .. "/ready", "r"))
    assert.equals("locked\n", ready:read("a"))
    ready:close()
    local date = os.date
    os.date = function(fmt, ...) -- luacheck: ignore
      if fmt == "%Y%m%d-%H%M%S" then
        return stamp
      end
      return date(fmt, ...)
    end
    local ok, rec = pcall(require("nnrun.record").new, { mode = "quiet" },
      { name = "held", directory = parent, epochs = 1 })
    os.date = date -- luacheck: ignore
    local gate = assert(io.open(parent .. "/gate", "w"))
    gate:close()
    holder:close()
    assert.is_true(ok, tostring(rec))
    assert.equals(parent .. "/held-" .. stamp .. "-2", rec.directory)
    os.execute("rm -rf '" .. parent .. "'")
  end)

  it("resumes the newest run by default, -10 after -9", function()
    local parent = tmpdir()
    local ck = require "nnrun.checkpoint"
    for _, d in ipairs({ "x-20261125-151726", "x-20261125-151726-9", "x-20261125-151726-10",
      "x-20261124-235959-12", "y-20261126-000000" }) do
      nn.mkdir(parent)
      nn.mkdir(parent .. "/" .. d)
      local f = assert(io.open(parent .. "/" .. d .. "/" .. ck.LATEST, "w"))
      f:close()
    end
    assert.equals(parent .. "/x-20261125-151726-10", ck.find_run(nil, parent, "x"))
    os.execute("rm -rf '" .. parent .. "'")
  end)

  it("reports divergence as a failed run", function()
    local dir = tmpdir()
    local r = assert(config.resolve{ name = "d", data = { generator = "xor" },
      model = { layers = { { dense = 4, activation = "relu" }, { dense = 1 } } },
      optimizer = { lr = 1e30 }, train = { epochs = 20 } })
    local summary, status = runner.run(r, { out = dir, mode = "quiet" })
    assert.equals(1, status)
    assert.equals("diverged", summary.status)
    assert.matches("diverged", summary.error)
    for _, f in ipairs({ "config.yaml", "metrics.jsonl", "summary.json" }) do
      os.remove(dir .. "/" .. f)
    end
    os.remove(dir)
  end)
end)

describe("progress", function()
  it("prints one line per epoch", function()
    local out = sink()
    local p = progress.new{ mode = "lines", out = out, now = nn.now, epochs = 10 }
    assert.is_nil(p.batch)
    p.epoch{ epoch = 2, train_loss = 0.5, val_loss = 0.25, val_accuracy = 0.875, lr = 0.1,
      seconds = 1.5 }
    assert.equals("epoch  2/10  train 0.5        val 0.25       acc  87.5%  lr 0.1        1.50s\n",
      out.text)
  end)

  it("aligns the columns of the epoch lines", function()
    local a = progress.epoch_line({ epoch = 2, train_loss = 0.5, val_loss = 0.25,
      val_accuracy = 0.875, lr = 0.1, seconds = 1.5 }, 10)
    local b = progress.epoch_line({ epoch = 10, train_loss = 0.012345678, val_loss = 1.5e-5,
      val_accuracy = 1, lr = 0.00123, seconds = 12.5 }, 10)
    assert.equals("epoch 10/10  train 0.01235    val 1.5e-05    acc 100.0%  lr 0.00123   12.50s", b)
    assert.equals(#a, #b)
    for _, word in ipairs({ "train", "val", "acc", "lr" }) do
      assert.equals(a:find(word, 1, true), b:find(word, 1, true))
    end
  end)

  it("fits the live bar in the terminal's width", function()
    for _, cols in ipairs({ 200, 80, 60, 50, 40, 30, 20, 10 }) do
      local out, t = sink(), 0
      local p = progress.new{ mode = "tty", out = out, now = function() return t end, epochs = 20,
        width = function() return cols end }
      for b = 1, 150 do
        t = b * 0.2
        p.batch{ epoch = 3, batch = b, batches = 150, size = 32, running_loss = 1 / b }
      end
      for draw in out.text:gmatch("\r\27%[K([^\r]*)") do
        assert.is_true(#draw <= math.max(cols - 1, 19), cols .. " columns: " .. draw)
        assert.matches("^epoch  3/20 ", draw)
      end
    end
    local text = progress.bar_text({ epoch = 3, batch = 12, batches = 150, running_loss = 0.12345 },
      20, 1234.5, 65, 49)
    assert.equals("epoch  3/20 [=.............]  12/150  loss 0.1235", text)
  end)

  it("ends a bar left drawn (an interrupt) with a newline", function()
    local out = sink()
    local p = progress.new{ mode = "tty", out = out, now = function() return 1 end, epochs = 2 }
    p.batch{ epoch = 1, batch = 1, batches = 10, size = 4, running_loss = 1 }
    p.finish()
    assert.matches("\n$", out.text)
    p.finish() -- once
    assert.equals(1, select(2, out.text:gsub("\n", "")))
    out = sink()
    p = progress.new{ mode = "tty", out = out, now = function() return 1 end, epochs = 2 }
    p.finish() -- nothing drawn: nothing to end
    assert.equals("", out.text)
  end)

  it("draws a live bar on a terminal, at most ten times a second", function()
    local out, t = sink(), 0
    local p = progress.new{ mode = "tty", out = out, now = function() return t end, epochs = 1 }
    for b = 1, 100 do
      t = b * 0.001
      p.batch{ epoch = 1, batch = b, batches = 100, size = 10, running_loss = 1 / b }
    end
    local draws = select(2, out.text:gsub("\r", ""))
    assert.equals(2, draws) -- the first batch and the last
    assert.matches("100/100", out.text)
    assert.matches("samples/s", out.text)
  end)

  it("prints nothing when quiet", function()
    local out = sink()
    progress.new{ mode = "quiet", out = out, now = nn.now, epochs = 1 }.epoch{ epoch = 1 }
    assert.equals("", out.text)
  end)
end)
