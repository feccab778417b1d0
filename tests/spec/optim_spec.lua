-- bindings/l_optim.c: nnrun.Optimizer, one type over the runtime's
-- optimiser registry (nn.optim.sgd, adam, adamw, rmsprop, adagrad)
local nn = require "nnrun"

local function err(fn)
  local ok, e = pcall(fn)
  assert.is_false(ok)
  return (tostring(e):gsub("^[^:]+:%d+: ", ""))
end

describe("nn.optim.sgd", function()
  it("holds its configuration", function()
    local o = nn.optim.sgd{ lr = 0.1, momentum = 0.9, nesterov = true, weight_decay = 1e-4 }
    assert.same({ name = "sgd", lr = 0.1, momentum = 0.9, nesterov = true, weight_decay = 1e-4 },
      o:config())
    assert.equals(0.1, o:lr())
    o:set_lr(0.05)
    assert.equals(0.05, o:lr())
    assert.equals("sgd", o:name())
    assert.equals("nnrun.Optimizer(sgd lr=0.05 weight_decay=0.0001 momentum=0.9 nesterov)",
      tostring(o))
  end)

  it("rejects unknown options and bad values", function()
    assert.equals("bad argument #1 to 'sgd' (unknown option 'lerning_rate')",
      err(function() nn.optim.sgd{ lerning_rate = 0.1 } end))
    assert.equals("bad argument #1 to 'sgd' (option 'lr' must be a number, got string)",
      err(function() nn.optim.sgd{ lr = "fast" } end))
    assert.equals("sgd: lr must be finite and > 0, got -1", err(function() nn.optim.sgd{ lr = -1 } end))
    assert.equals("invalid", nn.error_class(select(2, pcall(nn.optim.sgd, { lr = 0 }))))
    assert.equals("sgd: nesterov needs momentum > 0",
      err(function() nn.optim.sgd{ nesterov = true } end))
  end)

  it("steps a bound network: w -= lr * grad", function()
    local net = nn.sequential{ nn.dense(1, 1, { init = { name = "constant", value = 1 } }) }
    local opt = nn.optim.sgd(net, { lr = 0.5 })
    net:zero_grad()
    net:forward{ { 2 } }
    net:backward{ { 1 } }               -- dW = 2, db = 1
    opt:step()
    assert.near(0, net:weights(1)[1][1], 1e-6)
    assert.near(-0.5, net:bias(1)[1], 1e-6)
    opt:step(0.25)                      -- an explicit rate
    assert.near(-0.5, net:weights(1)[1][1], 1e-6)
    assert.same({ 2 }, opt:velocity():shape())
  end)

  it("binds lazily, once", function()
    local net = nn.sequential{ nn.dense(1, 1) }
    local opt = nn.optim.sgd{ lr = 0.1 }
    assert.equals("optimizer is not bound to a network: use nn.optim.sgd(net, {...}) or "
      .. "opt:bind(net)", err(function() opt:step() end))
    assert.is_nil(opt:velocity())
    assert.equals(opt, opt:bind(net))
    assert.equals("optimizer is already bound to a network", err(function() opt:bind(net) end))
    net:close()
    assert.equals("the optimizer's network was closed", err(function() opt:step() end))
  end)
end)

describe("the other kinds", function()
  it("take their own parameters, with the runtime's defaults", function()
    assert.same({ name = "adam", lr = 0.001, weight_decay = 0, beta1 = 0.9, beta2 = 0.999,
      eps = 1e-8 }, (function()
        local c = nn.optim.adam{}:config()
        -- floats come back as the nearest decimal of their float32 value
        c.beta1, c.beta2, c.eps = tonumber(string.format("%.6g", c.beta1)),
          tonumber(string.format("%.6g", c.beta2)), tonumber(string.format("%.6g", c.eps))
        return c
      end)())
    assert.equals("nnrun.Optimizer(adamw lr=0.01 weight_decay=0.05 beta1=0.9 beta2=0.999 eps=1e-08)",
      tostring(nn.optim.adamw{ lr = 0.01, weight_decay = 0.05 }))
    assert.equals("nnrun.Optimizer(rmsprop lr=0.001 rho=0.9 eps=1e-08 momentum=0)",
      tostring(nn.optim.rmsprop{}))
    assert.equals("nnrun.Optimizer(adagrad lr=0.01 eps=1e-10)", tostring(nn.optim.adagrad{}))
    assert.same({ "sgd", "adam", "adamw", "rmsprop", "adagrad" }, nn.optim.names())
  end)

  it("refuses what a kind does not take, and values out of range", function()
    assert.equals("bad argument #1 to 'adam' (unknown option 'momentum')",
      err(function() nn.optim.adam{ momentum = 0.9 } end))
    assert.equals("adam: beta1 must be in [0, 1), got 1.5",
      err(function() nn.optim.adam{ beta1 = 1.5 } end))
    assert.equals("rmsprop: eps must be finite and > 0, got 0",
      err(function() nn.optim.rmsprop{ eps = 0 } end))
    assert.equals("bad argument #1 to 'adam' (option 'name' is 'sgd', but this is nn.optim.adam)",
      err(function() nn.optim.adam{ name = "sgd" } end))
  end)

  it("steps a bound network: Adam's first step is lr * sign(grad)", function()
    local net = nn.sequential{ nn.dense(1, 1, { init = { name = "constant", value = 1 } }) }
    local opt = nn.optim.adam(net, { lr = 0.1 })
    net:zero_grad()
    net:forward{ { 2 } }
    net:backward{ { 1 } }               -- dW = 2, db = 1
    opt:step()
    assert.near(0.9, net:weights(1)[1][1], 1e-6)
    assert.near(-0.1, net:bias(1)[1], 1e-6)
    assert.same({ 2, 2 }, opt:state():shape()) -- m and s, for 2 parameters
    assert.near(0.2, opt:state()[1][1], 1e-6) -- m = (1 - 0.9) * 2
  end)

  it("exports each kind's parameters for the schema", function()
    local p = nn.optim.params("adam")
    assert.equals(5, #p)
    assert.same({ name = "beta1", type = "float", default = 0.9, min = 0, min_open = false,
      max = 1, max_open = true, primary = false, doc = "decay of the first moment" }, p[3])
    -- The same shape as nn.layer_kinds' and nn.schedule_params' specs.
    assert.same({ name = "lr", type = "float", default = 0.001, min = 0, min_open = true,
      max_open = false, primary = false, doc = "learning rate" }, p[1])
    assert.equals("bool", nn.optim.params("sgd")[4].type)
    assert.is_nil(nn.optim.params("sgd")[4].min)
    assert.equals("bad argument #1 to 'params' (unknown optimizer 'adamax')",
      err(function() nn.optim.params("adamax") end))
  end)
end)
