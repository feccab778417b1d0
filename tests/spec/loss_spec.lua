-- bindings/l_loss.c: nnrun.Loss
local nn = require "nnrun"

local function err(fn)
  local ok, e = pcall(fn)
  assert.is_false(ok)
  return (tostring(e):gsub("^[^:]+:%d+: ", ""))
end

describe("nn.loss", function()
  it("lists every cost of the runtime", function()
    assert.same({ "mse", "cross_entropy", "bce", "bce_logits", "log_loss" }, nn.losses)
    for _, name in ipairs(nn.losses) do
      assert.equals("nnrun.Loss(" .. name .. ")", tostring(nn.loss(name)))
    end
  end)

  it("accepts the runtime's aliases", function()
    assert.equals("mse", nn.loss("mean_squared_error"):name())
  end)

  it("computes mean squared error and its gradient", function()
    local l = nn.loss("mse")
    local v = l:forward({ { 1, 2 } }, { { 0, 0 } })
    assert.near(2.5, v, 1e-6)           -- (1 + 4) / 2
    assert.near(2.5, l:value(), 1e-6)
    local g = l:backward()              -- 2 (y - t) / (B C)
    assert.near(1, g[1][1], 1e-6)
    assert.near(2, g[1][2], 1e-6)
  end)

  it("computes cross-entropy on labels", function()
    local l = nn.loss("cross_entropy")
    local v = l:forward({ { 0, 0 }, { 0, 0 } }, { 0, 1 })
    assert.near(math.log(2), v, 1e-6)
    assert.same({ 2, 2 }, l:backward():shape())
  end)

  it("rejects unknown names and misuse", function()
    assert.equals("bad argument #1 to 'loss' (unknown loss 'hinge' (mse, cross_entropy, bce, "
      .. "bce_logits, log_loss))", err(function() nn.loss("hinge") end))
    assert.equals("loss:backward(): call loss:forward(y, t) first",
      err(function() nn.loss("mse"):backward() end))
    local l = nn.loss("mse")
    assert.equals("shape", nn.error_class(select(2, pcall(l.forward, l, { { 1, 2 } }, { { 1 } }))))
  end)
end)
