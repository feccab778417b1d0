-- scripts/nnrun/cli.lua: argument parsing (the runs themselves are tested
-- end to end through build/nnrun in tests/e2e)
local cli = require "nnrun.cli"

local function usage_error(args)
  local ok, e = pcall(cli.parse, args)
  assert.is_false(ok)
  assert.equals(2, e.exit)
  return e.message
end

describe("cli.parse", function()
  it("reads FILE and every option", function()
    assert.same({ file = "x.lua", out = "o", threads = 2, seed = 0, quiet = true, debug = true,
      set = { { path = "optimizer.lr", text = "0.05" }, { path = "train.epochs", text = "3" } } },
      cli.parse{ "x.lua", "--out", "o", "--threads", "2", "--seed=0", "--quiet", "--debug",
        "--set", "optimizer.lr=0.05", "--set=train.epochs=3" })
    assert.same({ help = true, set = {} }, cli.parse{ "--help" })
    assert.same({ version = true, set = {} }, cli.parse{ "--version" })
    assert.same({ sweep = true, file = "s.yaml", set = {} }, cli.parse{ "sweep", "s.yaml" })
  end)

  it("rejects bad usage with one clear message", function()
    assert.equals("unknown option '--bogus' (see nnrun --help)", usage_error{ "--bogus" })
    assert.equals("unknown option '--seeds' (did you mean '--seed'?) (see nnrun --help)",
      usage_error{ "--seeds", "1" })
    assert.equals("option --out needs a value (see nnrun --help)", usage_error{ "x.lua", "--out" })
    assert.equals("option --threads needs an integer >= 1, got '0'",
      usage_error{ "--threads", "0" })
    assert.equals("option --seed needs an integer >= 0, got 'abc'", usage_error{ "--seed", "abc" })
    assert.equals("option --set needs KEY.PATH=VALUE, got 'lr'", usage_error{ "--set", "lr" })
    assert.equals("option --set: malformed key path 'a..b'", usage_error{ "--set", "a..b=1" })
    assert.equals("unexpected argument 'b.lua' (one FILE only; see nnrun --help)",
      usage_error{ "a.lua", "b.lua" })
  end)
end)

describe("cli.main", function()
  it("prints help and version", function()
    assert.equals(0, cli.main{ "--version" })
    assert.equals(0, cli.main{ "--help" })
  end)
end)
