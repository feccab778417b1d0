-- bindings/l_tensor.c: nnrun.Tensor
local nn = require "nnrun"

-- The message of the error raised by fn, without its "file:line: " prefix.
local function err(fn)
  local ok, e = pcall(fn)
  assert.is_false(ok)
  return (tostring(e):gsub("^[^:]+:%d+: ", ""))
end

describe("nn.tensor", function()
  it("builds a 2-D tensor from nested tables and back", function()
    local t = nn.tensor{ { 1, 2, 3 }, { 4, 5, 6 } }
    assert.same({ 2, 3 }, t:shape())
    assert.equals(2, t:ndim())
    assert.equals(6, t:size())
    assert.equals(2, #t)
    assert.equals(2, t:rows())
    assert.equals(3, t:cols())
    assert.same({ { 1, 2, 3 }, { 4, 5, 6 } }, t:totable())
  end)

  it("builds a 1-D tensor from a flat table", function()
    local t = nn.tensor{ 0, 1, 2 }
    assert.same({ 3 }, t:shape())
    assert.equals(2, t[3])
    t[3] = 7
    assert.equals(7, t:get(3))
    t:set(1, 5)
    assert.same({ 5, 1, 7 }, t:totable())
  end)

  it("makes zero or filled tensors of a shape", function()
    assert.same({ { 0, 0 }, { 0, 0 } }, nn.tensor(2, 2):totable())
    assert.same({ { 1.5 }, { 1.5 }, { 1.5 } }, nn.tensor(3, 1, 1.5):totable())
  end)

  it("indexes from 1 with t[i][j], get and set", function()
    local t = nn.tensor{ { 1, 2 }, { 3, 4 } }
    assert.equals(3, t[2][1])
    assert.equals(2, #t[1])
    t[1][2] = 9
    assert.equals(9, t:get(1, 2))
    t:set(2, 2, 0.5)
    assert.equals(0.5, t[2][2])
  end)

  it("stores float32", function()
    local t = nn.tensor{ { 0.1 } }
    assert.equals(0.10000000149011612, t[1][1])
  end)

  it("fills, clones and copies", function()
    local t = nn.tensor(2, 2)
    t:fill(3)
    local c = t:clone()
    t:fill(1)
    assert.same({ { 3, 3 }, { 3, 3 } }, c:totable())
    c:copy_from{ { 1, 2 }, { 3, 4 } }
    assert.same({ { 1, 2 }, { 3, 4 } }, c:totable())
  end)

  it("prints small tensors with their values", function()
    assert.equals("nnrun.Tensor(2x2) {{1, 2}, {3, 4}}", tostring(nn.tensor{ { 1, 2 }, { 3, 4 } }))
    assert.equals("nnrun.Tensor(100x1)", tostring(nn.tensor(100, 1)))
  end)

  it("rejects bad tables with a clear message", function()
    assert.equals("bad argument #1 to 'tensor' (empty table: a tensor needs at least one element)",
      err(function() nn.tensor{} end))
    assert.equals("bad argument #1 to 'tensor' (row 2 has 1 values, row 1 has 2)",
      err(function() nn.tensor{ { 1, 2 }, { 3 } } end))
    assert.equals("bad argument #1 to 'tensor' (row 1, column 2: expected a number, got string)",
      err(function() nn.tensor{ { 1, "x" } } end))
    assert.equals("bad argument #1 to 'tensor' (element 2: expected a number, got boolean)",
      err(function() nn.tensor{ 1, true } end))
    assert.equals("bad argument #1 to 'tensor' (rows must be >= 1)",
      err(function() nn.tensor(0, 2) end))
  end)

  it("checks indices", function()
    local t = nn.tensor{ { 1, 2 }, { 3, 4 } }
    assert.equals("bad argument #1 to 'get' (row index 3 out of range 1..2)",
      err(function() return t:get(3, 1) end))
    assert.equals("bad argument #2 to 'get' (column index 0 out of range 1..2)",
      err(function() return t:get(1, 0) end))
    assert.equals("tensor row index 5 out of range 1..2", err(function() return t[5] end))
    assert.equals("tensor column index 3 out of range 1..2", err(function() return t[1][3] end))
    assert.equals("tensor row index must be an integer, got number",
      err(function() return t[1.5] end))
  end)

  it("closes once, and refuses use after close", function()
    local t = nn.tensor{ { 1 } }
    t:close()
    t:close()
    assert.equals("nnrun.Tensor (closed)", tostring(t))
    assert.equals("calling 'shape' on bad self (tensor is closed)", err(function() t:shape() end))
  end)

  it("supports to-be-closed variables", function()
    local keep
    do
      local t <close> = nn.tensor{ { 1 } }
      keep = t
    end
    assert.equals("nnrun.Tensor (closed)", tostring(keep))
  end)
end)
