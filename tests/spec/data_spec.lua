-- bindings/l_data.c: nnrun.Dataset and the synthetic generators
local nn = require "nnrun"

local function err(fn)
  local ok, e = pcall(fn)
  assert.is_false(ok)
  return (tostring(e):gsub("^[^:]+:%d+: ", ""))
end

describe("nn.dataset", function()
  it("is built from tables or tensors", function()
    local d = nn.dataset({ { 0, 0 }, { 0, 1 }, { 1, 0 } }, nn.tensor{ { 0 }, { 1 }, { 1 } })
    assert.equals(3, d:size())
    assert.equals(3, #d)
    assert.equals(2, d:features())
    assert.equals(1, d:target_cols())
    assert.same({ { 0, 0 }, { 0, 1 }, { 1, 0 } }, d:x():totable())
    assert.same({ { 0 }, { 1 }, { 1 } }, d:t():totable())
    assert.equals("nnrun.Dataset(3 samples, 2 features, 1 target columns)", tostring(d))
  end)

  it("checks that rows match", function()
    assert.equals("bad argument #2 to 'dataset' (targets have 1 rows, inputs have 2)",
      err(function() nn.dataset({ { 1 }, { 2 } }, { { 1 } }) end))
  end)

  it("splits off the last rows, or a seeded choice, keeping the order", function()
    local x, t = {}, {}
    for i = 1, 10 do
      x[i], t[i] = { i }, { -i }
    end
    local d = nn.dataset(x, t)
    local a, b = d:split(0.3)
    assert.same({ { 8 }, { 9 }, { 10 } }, b:x():totable())
    assert.same({ { -8 }, { -9 }, { -10 } }, b:t():totable())
    assert.equals(7, a:size())
    local c, e = d:split(0.3, 42)
    assert.equals(7, c:size())
    assert.equals(3, e:size())
    local seen = {}
    for _, part in ipairs({ c, e }) do
      local rows = part:x():totable()
      for i = 2, #rows do
        assert.is_true(rows[i][1] > rows[i - 1][1])
      end
      for _, r in ipairs(rows) do
        seen[r[1]] = true
      end
    end
    for i = 1, 10 do
      assert.is_true(seen[i])
    end
    local c2, e2 = d:split(0.3, 42)
    assert.same(e:x():totable(), e2:x():totable())
    assert.same(c:x():totable(), c2:x():totable())
  end)

  it("refuses splits with an empty part", function()
    local d = nn.dataset({ { 1 }, { 2 } }, { { 1 }, { 2 } })
    assert.equals("bad argument #1 to 'split' (fraction must be in (0, 1))",
      err(function() d:split(1) end))
    assert.equals("bad argument #1 to 'split' (fraction 0.1 of 2 rows leaves an empty part)",
      err(function() d:split(0.1) end))
  end)
end)

describe("nn.datasets", function()
  it("makes xor", function()
    local d = nn.datasets.xor()
    assert.same({ { 0, 0 }, { 0, 1 }, { 1, 0 }, { 1, 1 } }, d:x():totable())
    assert.same({ { 0 }, { 1 }, { 1 }, { 0 } }, d:t():totable())
  end)

  it("makes digits03 deterministically", function()
    local d = nn.datasets.digits03{ n_per_class = 5, noise = 0.1, seed = 3 }
    assert.equals(20, d:size())
    assert.equals(64, d:features())
    assert.same({ { 0 }, { 1 }, { 2 }, { 3 } }, { d:t():totable()[1], d:t():totable()[2],
      d:t():totable()[3], d:t():totable()[4] })
    assert.same(d:x():totable(), nn.datasets.digits03{ n = 5, noise = 0.1, seed = 3 }:x():totable())
  end)

  it("makes curve", function()
    local d = nn.datasets.curve{ n = 50, noise = 0, seed = 1 }
    assert.equals(50, d:size())
    local x, t = d:x(), d:t()
    assert.near(math.sin(2 * math.pi * x[1][1]), t[1][1], 1e-5)
  end)

  it("rejects unknown options", function()
    assert.equals("bad argument #1 to 'curve' (unknown option 'samples')",
      err(function() nn.datasets.curve{ samples = 3 } end))
    assert.equals("bad argument #1 to 'digits03' (noise must be >= 0)",
      err(function() nn.datasets.digits03{ noise = -1 } end))
  end)
end)
