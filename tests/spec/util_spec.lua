-- scripts/nnrun/util.lua
local util = require "nnrun.util"

describe("util", function()
  it("measures edit distance", function()
    assert.equals(0, util.distance("lr", "lr"))
    assert.equals(1, util.distance("epoch", "epochs"))
    assert.equals(3, util.distance("kitten", "sitting"))
  end)

  it("suggests close names only", function()
    assert.equals("epochs", util.suggest("epoch", { "epochs", "batch_size" }))
    assert.equals("batch_size", util.suggest("batchsize", { "epochs", "batch_size" }))
    assert.is_nil(util.suggest("zzz", { "epochs", "batch_size" }))
  end)

  it("splits file names", function()
    assert.equals("xor.lua", util.basename("experiments/xor.lua"))
    assert.equals("xor", util.stem("experiments/xor.lua"))
    assert.equals("yaml", util.extension("a/b.YAML"))
    assert.equals("", util.extension("Makefile"))
  end)

  it("creates directories with their parents and writes files atomically", function()
    local made = {}
    assert.is_true(util.mkdir_p(function(p) made[#made + 1] = p; return true end, "/a/b/c"))
    assert.same({ "/a", "/a/b", "/a/b/c" }, made)
    made = {}
    util.mkdir_p(function(p) made[#made + 1] = p; return true end, "x/y")
    assert.same({ "x", "x/y" }, made)
    assert.same({ nil, "no" }, { util.mkdir_p(function() return nil, "no" end, "q") })
    local path = os.tmpname()
    assert.is_true(util.write_file(path, "hello"))
    local f = io.open(path)
    assert.equals("hello", f:read("a"))
    f:close()
    os.remove(path)
  end)

  it("copies plain data deeply", function()
    local a = { x = { 1, 2 } }
    local b = util.copy(a)
    b.x[1] = 9
    assert.equals(1, a.x[1])
  end)
end)
