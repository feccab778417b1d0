-- scripts/nnrun/plot.lua: the points of a sweep's metric plots (no gnuplot
-- needed: only the data and axis lines are built here).
local plot = require "nnrun.plot"

describe("plot.param_points", function()
  -- Ranked trials of a sweep with a grid (lr, bs) and random draws (lr, momentum).
  local ranked = {
    { id = 5, metric = 0.99, parameters = { lr = 0.2, bs = 16 } },
    { id = 8, metric = 0.98, parameters = { lr = 0.3, momentum = 0.7 } },
    { id = 2, metric = 0.95, parameters = { lr = 0.01, bs = 64 } },
    { id = 9, metric = 0.94, parameters = { lr = 0.05, momentum = 0.85 } },
  }

  it("takes only the trials that set the parameter", function()
    local rows, extra, with = plot.param_points(ranked, "momentum")
    assert.same({ { 0.7, 0.98 }, { 0.85, 0.94 } }, rows)
    assert.equals("", extra) -- 0.7 .. 0.85: a linear axis
    assert.same({ 8, 9 }, { with[1].id, with[2].id })
    rows = plot.param_points(ranked, "bs")
    assert.same({ { 16, 0.99 }, { 64, 0.95 } }, rows)
  end)

  it("uses a log axis when log-distributed or spanning more than two decades", function()
    local _, extra = plot.param_points(ranked, "lr") -- 0.01 .. 0.3: 1.5 decades
    assert.equals("", extra)
    _, extra = plot.param_points(ranked, "lr", true)
    assert.equals("set logscale x\n", extra)
    local wide = { { metric = 1, parameters = { wd = 1e-5 } },
      { metric = 2, parameters = { wd = 0.01 } } }
    _, extra = plot.param_points(wide, "wd")
    assert.equals("set logscale x\n", extra)
  end)

  it("draws text choices as categories in order of appearance", function()
    local t = { { metric = 1, parameters = { act = "relu" } },
      { metric = 2, parameters = { act = "tanh" } }, { metric = 3, parameters = { act = "relu" } } }
    local rows, extra = plot.param_points(t, "act")
    assert.same({ { 0, 1 }, { 1, 2 }, { 0, 3 } }, rows)
    assert.equals("set xtics ('relu' 0, 'tanh' 1)\nset xrange [-0.5:1.5]\n", extra)
  end)
end)
