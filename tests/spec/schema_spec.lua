-- scripts/nnrun/schema.lua: the schema engine of the experiment and sweep
-- schemas (types, ranges, enums, unknown keys with did-you-mean, located
-- problems).
local schema = require "nnrun.schema"

-- The "path: message" lines one check records.
local function check(fn)
  local c = { errors = {} }
  local v = fn(c)
  local out = {}
  for i, e in ipairs(c.errors) do
    out[i] = e.path .. ": " .. e.message
  end
  return out, v
end

local function field(t, spec)
  return check(function(c) return schema.field(c, t, "a.b", "k", spec) end)
end

describe("schema.field", function()
  it("returns the value, or the default when absent", function()
    local errs, v = field({ k = 3 }, { type = "integer", min = 1 })
    assert.same({}, errs)
    assert.equals(3, v)
    errs, v = field({}, { type = "number", default = 0.5 })
    assert.same({}, errs)
    assert.equals(0.5, v)
    assert.same({ "a.b.k: missing (required)" }, (field({}, { type = "string", required = true })))
  end)

  it("checks types", function()
    assert.same({ "a.b.k: expected an integer, got 2.5" }, (field({ k = 2.5 }, { type = "integer" })))
    assert.same({ "a.b.k: expected a number, got string \"x\"" },
      (field({ k = "x" }, { type = "number" })))
    assert.same({ "a.b.k: expected a boolean, got string \"yes\" (write true or false)" },
      (field({ k = "yes" }, { type = "boolean" })))
    assert.same({ "a.b.k: expected a string, got a list" }, (field({ k = { 1 } }, { type = "string" })))
    assert.same({ "a.b.k: must be finite, got inf" }, (field({ k = math.huge }, { type = "number" })))
    assert.same({ "a.b.k: is beyond a 32-bit float (at most 3.4028235e+38), got 1e+39" },
      (field({ k = 1e39 }, { type = "number" })))
  end)

  it("checks ranges, one bound or an interval", function()
    assert.same({ "a.b.k: must be >= 1, got 0" }, (field({ k = 0 }, { type = "integer", min = 1 })))
    assert.same({ "a.b.k: must be > 0, got 0" }, (field({ k = 0 }, { type = "number", gt = 0 })))
    assert.same({ "a.b.k: must be < 1, got 1" }, (field({ k = 1 }, { type = "number", lt = 1 })))
    assert.same({ "a.b.k: must be <= 4, got 5" }, (field({ k = 5 }, { type = "integer", max = 4 })))
    assert.same({ "a.b.k: must be in [0, 1), got 1.5" },
      (field({ k = 1.5 }, { type = "number", min = 0, lt = 1, interval = "[0, 1)" })))
  end)

  it("checks names against an enum with a did-you-mean", function()
    local names = { "he_uniform", "he_normal", "zeros" }
    assert.same({ "a.b.k: unknown value 'he' (did you mean 'he_uniform' or 'he_normal'?) "
      .. "(expected one of: he_uniform, he_normal, zeros)" },
      (field({ k = "he" }, { type = "string", enum = names })))
    assert.same({ "a.b.k: unknown value 'zeroes' (did you mean 'zeros'?) "
      .. "(expected one of: he_uniform, he_normal, zeros)" },
      (field({ k = "zeroes" }, { type = "string", enum = names })))
    assert.same({ "a.b.k: bad name" }, (field({ k = "a b" }, { type = "string",
      pattern = "^%w+$", pattern_message = "bad name" })))
  end)
end)

describe("schema.check_keys", function()
  it("flags unknown keys with the closest name or the list", function()
    assert.same({ "p.lrr: unknown key (did you mean 'lr'?)",
      "p.zzz: unknown key (expected one of: lr, momentum)" },
      (check(function(c)
        schema.check_keys(c, { lrr = 1, zzz = 2, lr = 3 }, "p", { "lr", "momentum" })
      end)))
    assert.same({ "p: unexpected key 1 (keys are names)" },
      (check(function(c) schema.check_keys(c, { [1] = true }, "p", { "lr" }) end)))
  end)

  it("takes the caller's suggester, hints and owner", function()
    assert.same({ "p.learning_rate: unknown key (did you mean 'lr'?)" },
      (check(function(c)
        c.suggest_key = function(k) return k == "learning_rate" and "lr" or nil end
        schema.check_keys(c, { learning_rate = 1 }, "p", { "lr", "momentum" })
      end)))
    assert.same({ "optimizer.momentum: unknown key for adam (did you mean 'beta1'?)" },
      (check(function(c)
        schema.check_keys(c, { momentum = 0.9 }, "optimizer", { "lr", "beta1" },
          { what = function() return " for adam" end, hints = { momentum = "beta1" } })
      end)))
  end)
end)

describe("schema helpers", function()
  it("section, unused, join, describe, is_list, is_mapping", function()
    assert.same({ "train: expected a mapping, got a list" },
      (check(function(c) return schema.section(c, { 1, 2 }, "train") end)))
    local _, v = check(function(c) return schema.section(c, "cosine", "schedule", nil, true) end)
    assert.same({ name = "cosine" }, v)
    assert.same({ "schedule.gamma: not used by the 'cosine' schedule" },
      (check(function(c)
        schema.unused(c, { gamma = 1 }, "schedule", { "gamma", "total" }, "the 'cosine' schedule")
      end)))
    assert.equals("model.layers[2].dense", schema.join(schema.join("model.layers", 2), "dense"))
    assert.equals("lr", schema.join("", "lr"))
    assert.equals("a mapping", schema.describe({ a = 1 }))
    assert.equals("string \"x\"", schema.describe("x"))
    assert.is_true(schema.is_list({ 1, 2 }))
    assert.is_false(schema.is_list("x"))
    assert.is_true(schema.is_mapping({}))
    assert.is_false(schema.is_mapping({ 1 }))
  end)

  it("param_field reads a runtime parameter spec", function()
    local spec = { name = "beta1", type = "float", default = 0.9, min = 0, max = 1,
      min_open = false, max_open = true }
    assert.same({ type = "number", default = 0.9, min = 0, lt = 1, interval = "[0, 1)" },
      schema.param_field(spec, true))
    assert.same({ type = "number", default = 0.9, min = 0, lt = 1 }, schema.param_field(spec))
    assert.same({ type = "string", enum = { "a", "b" }, default = "a" },
      schema.param_field({ name = "m", type = "choice", default = "a", choices = { "a", "b" } }))
    assert.same({ type = "boolean", default = false },
      schema.param_field({ name = "n", type = "bool", default = false }))
  end)
end)
