-- bindings/l_optim.c: nnrun.Optimizer (SGD)
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
    assert.equals("nnrun.Optimizer(sgd lr=0.05 momentum=0.9 nesterov weight_decay)", tostring(o))
  end)

  it("rejects unknown options and bad values", function()
    assert.equals("bad argument #1 to 'sgd' (unknown option 'lerning_rate')",
      err(function() nn.optim.sgd{ lerning_rate = 0.1 } end))
    assert.equals("bad argument #1 to 'sgd' (option 'lr' must be a number, got string)",
      err(function() nn.optim.sgd{ lr = "fast" } end))
    assert.matches("lr", err(function() nn.optim.sgd{ lr = -1 } end))
    assert.equals("invalid", nn.error_class(select(2, pcall(nn.optim.sgd, { lr = 0 }))))
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
