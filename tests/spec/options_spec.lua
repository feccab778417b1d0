-- scripts/nnrun/options.lua: the one option parser of every subcommand, and
-- scripts/nnrun/cli.lua's table of subcommands.
local options = require "nnrun.options"
local cli = require "nnrun.cli"

local function usage_error(fn, ...)
  local ok, e = pcall(fn, ...)
  assert.is_false(ok)
  assert.equals(2, e.exit)
  return e.message
end

local SPEC = {
  options.HELP, options.OUT,
  { "--steps", key = "steps", value = "count", min = 2, max = 9 },
  { "--span", key = "span", value = "number", min = 0 },
  { "--directions", key = "directions", value = { "random", "weights" } },
}

describe("options.parse", function()
  it("reads flags, values (inline too), choices and positional arguments", function()
    assert.same({ files = { "d", "-" }, out = "o", steps = 3, span = 0.5, directions = "weights",
      help = true },
      options.parse({ "cmd", "d", "--out", "o", "--steps=3", "--span", "0.5", "-",
        "--directions", "weights", "-h" }, 2, SPEC, { command = "nnrun cmd" }))
  end)

  it("names the command's help in its errors", function()
    local parse = function(args) return options.parse(args, 1, SPEC, { command = "nnrun cmd" }) end
    assert.equals("unknown option '--spam' (did you mean '--span'?) (see nnrun cmd --help)",
      usage_error(parse, { "--spam", "1" }))
    assert.equals("option --out needs a value (see nnrun cmd --help)", usage_error(parse, { "--out" }))
    assert.equals("option --steps needs an integer <= 9, got '10'",
      usage_error(parse, { "--steps", "10" }))
    assert.equals("option --span needs a number > 0, got '0'", usage_error(parse, { "--span", "0" }))
    assert.equals("option --span needs a number > 0, got 'inf'",
      usage_error(parse, { "--span=inf" }))
    assert.equals("option --directions needs one of random, weights, got 'up'",
      usage_error(parse, { "--directions", "up" }))
  end)
end)

describe("cli.COMMANDS", function()
  it("gives every subcommand usage, parse and main", function()
    for name, cmd in pairs(cli.COMMANDS) do
      if type(cmd) == "string" then
        cmd = require(cmd)
      end
      assert.is_string(cmd.usage, name)
      assert.is_function(cmd.parse, name)
      assert.is_function(cmd.main, name)
      assert.truthy(cmd.usage:find("nnrun " .. name, 1, true), name)
    end
  end)

  it("parses eval's options with the shared parser", function()
    local eval = require "nnrun.eval"
    assert.same({ files = { "m.nnrun", "d.csv" }, top_k = 3, quiet = true },
      eval.parse{ "eval", "m.nnrun", "--top-k", "3", "d.csv", "-q" })
    assert.equals("option --top-k needs an integer >= 1, got '0'",
      usage_error(eval.parse, { "eval", "--top-k", "0" }))
    assert.equals("unknown option '--bogus' (see nnrun eval --help)",
      usage_error(eval.parse, { "eval", "--bogus" }))
  end)
end)
