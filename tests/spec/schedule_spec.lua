-- bindings/l_schedule.c: nnrun.Schedule
local nn = require "nnrun"

local function err(fn)
  local ok, e = pcall(fn)
  assert.is_false(ok)
  return (tostring(e):gsub("^[^:]+:%d+: ", ""))
end

describe("nn.schedule", function()
  it("lists every schedule of the runtime", function()
    assert.same({ "constant", "step", "exponential", "inverse_time", "cosine" }, nn.schedules)
  end)

  it("computes each schedule", function()
    assert.near(0.1, nn.schedule("constant"):lr(7, 0.1), 1e-7)
    local s = nn.schedule{ name = "step", step_size = 2, gamma = 0.5, lr = 1 }
    assert.same({ 1, 1, 0.5, 0.5, 0.25 }, { s:lr(0), s:lr(1), s:lr(2), s:lr(3), s:lr(4) })
    assert.near(0.25, nn.schedule{ name = "exponential", gamma = 0.5 }:lr(2, 1), 1e-7)
    assert.near(0.5, nn.schedule{ name = "inverse_time", gamma = 1 }:lr(1, 1), 1e-7)
    local c = nn.schedule{ name = "cosine", total = 10, min_lr = 0 }
    assert.near(1, c:lr(0, 1), 1e-6)
    assert.near(0.5, c:lr(5, 1), 1e-6)
    assert.near(0, c:lr(10, 1), 1e-6)
  end)

  it("warms up linearly", function()
    local s = nn.schedule{ name = "constant", warmup = 4, warmup_start = 0, lr = 1 }
    assert.near(0, s:lr(0), 1e-7)
    assert.near(0.5, s:lr(2), 1e-7)
    assert.near(1, s:lr(4), 1e-7)
  end)

  it("reports its configuration", function()
    assert.same({ name = "cosine", total = 10, min_lr = 0.01, warmup = 2, warmup_start = 0.5,
      per_batch = true }, nn.schedule{ name = "cosine", total = 10, min_lr = 0.01, warmup = 2,
      warmup_start = 0.5, per_batch = true }:config())
  end)

  it("rejects bad schedules", function()
    assert.equals("bad argument #1 to 'schedule' (unknown schedule 'linear' (constant, step, "
      .. "exponential, inverse_time, cosine, plateau, one_cycle, cosine_restarts))", err(function() nn.schedule("linear") end))
    assert.equals("bad argument #1 to 'schedule' (the 'step' schedule needs 'step_size')",
      err(function() nn.schedule{ name = "step", gamma = 0.5 } end))
    assert.equals("bad argument #1 to 'schedule' (option 'gamma' is not used by the 'cosine' "
      .. "schedule)", err(function() nn.schedule{ name = "cosine", total = 3, gamma = 1 } end))
    assert.equals("bad argument #1 to 'schedule' (unknown option 'warmpu')",
      err(function() nn.schedule{ name = "constant", warmpu = 3 } end))
    assert.equals("bad argument #2 to 'lr' (the schedule has no base rate: give lr0)",
      err(function() nn.schedule("constant"):lr(0) end))
  end)
end)
