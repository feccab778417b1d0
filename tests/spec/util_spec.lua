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

  -- (Sizes at which the unbounded distance takes hours: ctest's timeout
  -- stops it; the bounded one answers at once.)
  it("bounds the edit distance: max + 1 beyond max", function()
    assert.equals(3, util.distance("kitten", "sitting", 3))
    assert.equals(3, util.distance("kitten", "sitting", 2))
    assert.equals(1, util.distance("", "a", 0))
    assert.equals(4, util.distance(string.rep("a", 100000), string.rep("b", 100000), 3))
    assert.equals(1, util.distance(string.rep("a", 100000), string.rep("a", 99999) .. "b", 3))
    assert.equals(3, util.distance(string.rep("a", 100000), "lr", 2))
  end)

  it("suggests nothing for a long word, at once", function()
    local long = string.rep("epochs", 200000)
    assert.is_nil(util.suggest(long, { "epochs", "batch_size" }))
    assert.equals("epochs", util.suggest("epohcs", { "epochs", "batch_size" }))
  end)

  it("looks for did-you-mean for 20 unknown keys of an experiment at most", function()
    local config = require "nnrun.config"
    local exp = { data = { generator = "xor" }, model = { layers = { { dense = 1 } } } }
    for i = 1, 50000 do
      exp[string.format("optimizer%06d", i)] = 1 -- 2 edits from nothing, many from optimizer
    end
    exp.trian = {}
    local calls, distance = 0, util.distance
    util.distance = function(...)
      calls = calls + 1
      return distance(...)
    end
    local ok, r, errs = pcall(config.resolve, exp)
    util.distance = distance
    assert.is_true(ok, r)
    assert.is_nil(r)
    assert.equals(50001, #errs)
    -- sorted keys: the first 20 (optimizer000001...) get a search
    assert.equals("optimizer000001: unknown key (expected one of: data, loss, model, name, "
      .. "optimizer, output, parallel, schedule, seed, threads, train)", errs[1].path .. ": " .. errs[1].message)
    assert.equals("trian: unknown key (expected one of: data, loss, model, name, optimizer, "
      .. "output, parallel, schedule, seed, threads, train)", errs[50001].path .. ": " .. errs[50001].message)
    assert.is_true(calls <= 20 * 100, calls .. " distances")
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
    -- Atomic, through the runtime's writer: no temporary file is left, and
    -- a failure names the file.
    local dir = os.tmpname()
    os.remove(dir)
    assert(os.execute("mkdir " .. dir))
    assert.is_true(util.write_file(dir .. "/a.txt", "one"))
    assert.is_true(util.write_file(dir .. "/a.txt", "two"))
    local ls = io.popen("ls -A " .. dir)
    assert.equals("a.txt\n", ls:read("a"))
    ls:close()
    assert.same({ nil, dir .. "/no/a.txt: cannot write: No such file or directory" },
      { util.write_file(dir .. "/no/a.txt", "x") })
    os.remove(dir .. "/a.txt")
    os.remove(dir)
  end)

  it("copies plain data deeply", function()
    local a = { x = { 1, 2 } }
    local b = util.copy(a)
    b.x[1] = 9
    assert.equals(1, a.x[1])
  end)
end)

describe("util.higher_is_better", function()
  it("decides every rankable metric's direction in one place", function()
    local higher = {}
    for _, m in ipairs(require("nnrun.sweep").METRICS) do
      if util.higher_is_better(m) then
        higher[#higher + 1] = m
      end
    end
    assert.same({ "val_accuracy", "test_accuracy", "test_top5_accuracy", "test_macro_f1",
      "test_r2", "samples_per_second" }, higher)
    assert.is_false(util.higher_is_better(nil))
  end)
end)
