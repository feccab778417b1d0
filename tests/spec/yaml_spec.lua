-- yaml_spec.lua — the YAML reader and writer (bindings/l_yaml.c).
local yaml = require("nnrun").yaml

local here = debug.getinfo(1, "S").source:match("^@(.*)[/\\]") or "."
local function fixture(name) return here .. "/fixtures/yaml/" .. name end

-- Runs f(...) expecting an error; returns its message.  (Limits are
-- checked by where and why they refuse, never by a clock.)
local function refused(f, ...)
  local ok, err = pcall(f, ...)
  assert.is_false(ok, "expected an error")
  return err
end

local function parse_one(text) return yaml.parse("v: " .. text).v end

local function tmpdir()
  local d = os.tmpname()
  os.remove(d)
  assert(os.execute("mkdir -p '" .. d .. "'"))
  return d
end

describe("yaml.parse core schema", function()
  local cases = {
    -- text, expected value, math.type or type
    { "~", yaml.null }, { "null", yaml.null }, { "Null", yaml.null }, { "NULL", yaml.null },
    { "", yaml.null },
    { "true", true }, { "True", true }, { "TRUE", true },
    { "false", false }, { "False", false }, { "FALSE", false },
    { "0", 0, "integer" }, { "-0", 0, "integer" }, { "+12", 12, "integer" },
    { "-17", -17, "integer" }, { "012", 12, "integer" },
    { "0x1F", 31, "integer" }, { "0xff", 255, "integer" }, { "0o17", 15, "integer" },
    { "9223372036854775807", math.maxinteger, "integer" },
    { "-9223372036854775808", math.mininteger, "integer" },
    { "9223372036854775808", 9223372036854775808.0, "float" },
    { "0x10000000000000000", 18446744073709551616.0, "float" },
    { "1e3", 1000.0, "float" }, { "1E3", 1000.0, "float" }, { "1.5e-3", 0.0015, "float" },
    { ".5", 0.5, "float" }, { "-.5", -0.5, "float" }, { "5.", 5.0, "float" },
    { "1.0", 1.0, "float" }, { "+1.25", 1.25, "float" },
    { ".inf", math.huge, "float" }, { ".Inf", math.huge, "float" }, { ".INF", math.huge, "float" },
    { "+.inf", math.huge, "float" }, { "-.inf", -math.huge, "float" }, { "-.Inf", -math.huge, "float" },
    { "-.INF", -math.huge, "float" },
    -- YAML 1.1 words and near misses stay strings
    { "yes", "yes" }, { "no", "no" }, { "on", "on" }, { "off", "off" }, { "y", "y" },
    { "n", "n" }, { "Yes", "Yes" }, { "tRUE", "tRUE" }, { "nULL", "nULL" }, { "nil", "nil" },
    { "1_000", "1_000" }, { "0b101", "0b101" }, { "-0x1F", "-0x1F" }, { "0x", "0x" },
    { "0o8", "0o8" }, { "1:30", "1:30" }, { ".", "." }, { "1e", "1e" }, { "e3", "e3" },
    { ".infinity", ".infinity" }, { "nan", "nan" }, { "-.nan", "-.nan" }, { "1.2.3", "1.2.3" },
    { "relu", "relu" }, { "he normal", "he normal" },
    -- quoted and block scalars stay strings
    { '"true"', "true" }, { "'1'", "1" }, { '"null"', "null" }, { "''", "" }, { '"~"', "~" },
    { "'0x1F'", "0x1F" }, { '"1e3"', "1e3" },
    -- explicit tags
    { "!!str 12", "12" }, { "! 12", "12" }, { "!!int '12'", 12, "integer" },
    { "!!float 1", 1.0, "float" }, { "!!bool 'true'", true }, { "!!null ''", yaml.null },
  }
  for _, c in ipairs(cases) do
    it(("resolves %q"):format(c[1]), function()
      local v = parse_one(c[1])
      assert.are.equal(c[2], v)
      if c[3] then
        assert.are.equal(c[3], math.type(v) or type(v))
      elseif type(c[2]) == "string" then
        assert.are.equal("string", type(v))
      end
    end)
  end

  it("resolves .nan, .NaN and .NAN to NaN", function()
    for _, t in ipairs { ".nan", ".NaN", ".NAN" } do
      local v = parse_one(t)
      assert.are.equal("float", math.type(v))
      assert.is_true(v ~= v)
    end
  end)

  it("keeps block scalars as strings", function()
    local v = yaml.parse("a: |\n  true\nb: >\n  12\n")
    assert.are.same({ a = "true\n", b = "12\n" }, v)
  end)

  it("converts non-string scalar keys by their text", function()
    assert.are.same({ ["1"] = "a", ["true"] = "b", ["~"] = "c", ["0x1F"] = "d" },
      yaml.parse("1: a\ntrue: b\n~: c\n0x1F: d\n"))
  end)

  it("has a unique light userdata null", function()
    assert.are.equal("userdata", type(yaml.null))
    assert.are.equal(yaml.null, yaml.parse("~"))
    assert.are.same({ yaml.null, yaml.null }, yaml.parse("[~, null]"))
  end)

  it("builds sequences and nested mappings", function()
    assert.are.same({ model = { { dense = 8, activation = "relu" }, { dense = 1 } } },
      yaml.parse("model:\n  - dense: 8\n    activation: relu\n  - {dense: 1}\n"))
  end)

  it("refuses unsupported tags and values that do not fit their tag", function()
    assert.are.equal("t.yaml:1:4: unsupported tag '!python/object'",
      refused(yaml.parse, "a: !python/object x", "t.yaml"))
    assert.are.equal("t.yaml:1:4: unsupported tag '!!binary'",
      refused(yaml.parse, "a: !!binary aGk=", "t.yaml"))
    assert.are.equal("t.yaml:1:4: 'abc' is not a valid !!int",
      refused(yaml.parse, "a: !!int abc", "t.yaml"))
    assert.are.equal("t.yaml:1:4: tag '!!str' does not apply to a sequence",
      refused(yaml.parse, "a: !!str [1]", "t.yaml"))
  end)

  it("names the source <string> by default", function()
    assert.are.equal("<string>:2:1: duplicate key 'a' (first at line 1)",
      refused(yaml.parse, "a: 1\na: 2\n"))
  end)

  it("refuses unknown options", function()
    local err = refused(yaml.parse, "a: 1", "n", { max_dpeth = 3 })
    assert.truthy(err:find("unknown option 'max_dpeth'", 1, true))
    err = refused(yaml.parse, "a: 1", "n", { max_depth = 10001 })
    assert.truthy(err:find("option 'max_depth' must be at most 10000", 1, true))
    err = refused(yaml.dump, 1, { sort = true })
    assert.truthy(err:find("unknown option 'sort'", 1, true))
  end)
end)

describe("yaml.load files", function()
  it("reads a file and gives exact positions", function()
    local v, pos = yaml.load(fixture("experiment.yaml"))
    assert.are.same({
      name = "xor", seed = 42,
      model = { layers = { { dense = 8, activation = "relu" }, { dense = 1 } } },
      optimizer = { name = "sgd", lr = 0.1 },
      notes = "two lines\nof text\n",
    }, v)
    assert.are.same({ line = 2, col = 1 }, pos[""])
    assert.are.same({ line = 2, col = 7 }, pos["name"])
    assert.are.same({ line = 2, col = 1 }, pos["name#key"])
    assert.are.same({ line = 5, col = 3 }, pos["model"])
    assert.are.same({ line = 4, col = 1 }, pos["model#key"])
    assert.are.same({ line = 6, col = 5 }, pos["model.layers"])
    assert.are.same({ line = 6, col = 7 }, pos["model.layers[1]"])
    assert.are.same({ line = 6, col = 14 }, pos["model.layers[1].dense"])
    assert.are.same({ line = 7, col = 19 }, pos["model.layers[1].activation"])
    assert.are.same({ line = 7, col = 7 }, pos["model.layers[1].activation#key"])
    assert.are.same({ line = 8, col = 14 }, pos["model.layers[2].dense"])
    assert.are.same({ line = 9, col = 28 }, pos["optimizer.lr"])
    assert.are.same({ line = 9, col = 24 }, pos["optimizer.lr#key"])
    assert.are.same({ line = 10, col = 8 }, pos["notes"])
    assert.is_nil(pos["model.layers[3]"])
  end)

  it("accepts a byte-order mark", function()
    local v, pos = yaml.load(fixture("bom.yaml"))
    assert.are.same({ name = "bom", seed = 1 }, v)
    assert.are.same({ line = 1, col = 1 }, pos["name#key"])
  end)

  it("returns yaml.null and no positions for an empty file", function()
    for _, f in ipairs { "empty.yaml", "comments_only.yaml" } do
      local v, pos = yaml.load(fixture(f))
      assert.are.equal(yaml.null, v)
      assert.are.same({}, pos)
    end
    local v, pos = yaml.parse("")
    assert.are.equal(yaml.null, v)
    assert.are.same({}, pos)
  end)

  it("refuses tabs used for indentation", function()
    local f = fixture("tabs.yaml")
    assert.are.equal(f .. ":3:1: tab character used for indentation; indent with spaces",
      refused(yaml.load, f))
  end)

  it("refuses invalid UTF-8 with its position", function()
    local f = fixture("invalid_utf8.yaml")
    assert.are.equal(f .. ":2:13: invalid UTF-8 (byte 0xFF)", refused(yaml.load, f))
    assert.are.equal("t.yaml:1:5: invalid UTF-8 (byte 0xC3)",
      refused(yaml.parse, "a: b\xC3(", "t.yaml"))
    assert.are.equal("t.yaml:1:4: invalid UTF-8 (byte 0xED)",
      refused(yaml.parse, "a: \xED\xA0\x80", "t.yaml"))  -- a UTF-16 surrogate
  end)

  it("refuses control characters", function()
    assert.are.equal("t.yaml:1:4: control characters are not allowed (#0)",
      refused(yaml.parse, "a: \0", "t.yaml"))
  end)

  it("refuses a second document", function()
    local f = fixture("two_documents.yaml")
    assert.are.equal(f .. ":2:1: second document at line 2; a file holds exactly one",
      refused(yaml.load, f))
    assert.are.equal("t.yaml:3:1: second document at line 3; a file holds exactly one",
      refused(yaml.parse, "a: 1\n...\n---\nb: 2\n", "t.yaml"))
  end)

  it("refuses duplicate keys", function()
    local f = fixture("duplicate_key.yaml")
    assert.are.equal(f .. ":3:3: duplicate key 'lr' (first at line 2)", refused(yaml.load, f))
    assert.are.equal("t.yaml:1:14: duplicate key 'a' (first at line 1)",
      refused(yaml.parse, "{a: 1, b: 2, a: 3}", "t.yaml"))
  end)

  it("reports libyaml syntax errors in one located line", function()
    assert.are.equal("t.yaml:2:1: did not find expected ',' or ']' "
      .. "(while parsing a flow sequence at line 1, column 4)",
      refused(yaml.parse, "a: [1, 2\n", "t.yaml"))
    assert.are.equal("t.yaml:2:1: did not find expected '-' indicator "
      .. "(while parsing a block collection at line 1, column 1)",
      refused(yaml.parse, "- a\nb: 1\n", "t.yaml"))
    assert.are.equal("t.yaml:2:5: mapping values are not allowed in this context",
      refused(yaml.parse, "a: b\nc: d: e\n", "t.yaml"))
  end)

  it("names the file it cannot open", function()
    assert.are.equal("/nonexistent/x.yaml: cannot open: No such file or directory",
      refused(yaml.load, "/nonexistent/x.yaml"))
  end)
end)

describe("anchors, aliases and merge keys", function()
  it("copies aliased nodes and merges mappings, explicit keys first", function()
    local v, pos = yaml.load(fixture("anchors.yaml"))
    assert.are.same({ lr = 0.01, momentum = 0.9 }, v.sgd)
    -- earlier merged mappings win over later ones
    assert.are.same({ lr = 0.1, momentum = 0.9, nesterov = true }, v.both)
    assert.are.same({ 1, 2 }, v.again)
    assert.are_not.equal(v.list, v.again)  -- a copy, not a shared table
    -- merged and aliased nodes point at their definition; the alias at itself
    assert.are.same({ line = 3, col = 13 }, pos["sgd.momentum"])
    assert.are.same({ line = 9, col = 7 }, pos["sgd.lr"])
    assert.are.same({ line = 13, col = 8 }, pos["again"])
    assert.are.same({ line = 12, col = 17 }, pos["again[2]"])
    assert.is_nil(pos["sgd.<<"])
  end)

  it("keeps a quoted << as an ordinary key", function()
    assert.are.same({ ["<<"] = 1 }, yaml.parse("'<<': 1"))
  end)

  it("refuses bad merges and bad aliases", function()
    assert.are.equal("t.yaml:1:5: merge key '<<' needs a mapping or a sequence of mappings",
      refused(yaml.parse, "<<: 3", "t.yaml"))
    assert.are.equal("t.yaml:3:1: duplicate key '<<' (first at line 2)",
      refused(yaml.parse, "a: &a {x: 1}\n<<: *a\n<<: *a\n", "t.yaml"))
    assert.are.equal("t.yaml:1:4: undefined alias '*nope'",
      refused(yaml.parse, "a: *nope", "t.yaml"))
    assert.are.equal("t.yaml:1:11: alias '*a' refers to a node that contains it",
      refused(yaml.parse, "x: &a [1, *a]", "t.yaml"))
    assert.are.equal("t.yaml:1:3: mapping keys must be scalars",
      refused(yaml.parse, "? [1]\n: 2\n", "t.yaml"))
  end)
end)

describe("limits", function()
  it("refuses a billion laughs without expanding it", function()
    -- (9^9 nodes: expanding them would exhaust the memory, and ctest's
    -- timeout, first)
    local f = fixture("billion_laughs.yaml")
    assert.are.equal(f .. ":6:8: aliases expand to more than 100000 nodes (max_aliases)",
      refused(yaml.load, f))
  end)

  it("counts alias expansion against max_aliases", function()
    local text = "a: &a [1, 2, 3]\nb: [*a, *a]\n"
    assert.are.same({ 1, 2, 3 }, yaml.parse(text, "t.yaml", { max_aliases = 8 }).b[2])
    assert.are.equal("t.yaml:2:9: aliases expand to more than 7 nodes (max_aliases)",
      refused(yaml.parse, text, "t.yaml", { max_aliases = 7 }))
  end)

  it("refuses 100,000 nested [ at the 257th", function()
    assert.are.equal("deep.yaml:1:257: nesting deeper than 256 levels (max_depth)",
      refused(yaml.parse, string.rep("[", 100000), "deep.yaml"))
  end)

  it("refuses deep block nesting and depth reached through aliases", function()
    assert.are.equal("deep.yaml:1:513: nesting deeper than 256 levels (max_depth)",
      refused(yaml.parse, string.rep("- ", 100000) .. "x", "deep.yaml"))
    assert.are.same({ { { 1 } } }, yaml.parse("[[[1]]]", "t.yaml", { max_depth = 3 }))
    assert.are.equal("t.yaml:1:4: nesting deeper than 3 levels (max_depth)",
      refused(yaml.parse, "[[[[1]]]]", "t.yaml", { max_depth = 3 }))
    assert.are.equal("t.yaml:2:6: nesting deeper than 3 levels (max_depth)",
      refused(yaml.parse, "a: &a [[1]]\nb: [[*a]]\n", "t.yaml", { max_depth = 3 }))
  end)

  it("refuses an oversized document before parsing it", function()
    local dir = tmpdir()
    local path = dir .. "/big.yaml"
    local fh = assert(io.open(path, "wb"))
    -- A syntax error on line 1: parsed first, it would be the error.
    fh:write("x: y: ", string.rep("a", 16 * 1024 * 1024 - 3), "\n")
    fh:close()
    local err = refused(yaml.load, path)
    os.remove(path)
    os.remove(dir)
    assert.are.equal(path .. ": file is 16777220 bytes, over the limit of 16777216 (max_bytes)", err)
    local bad = "x: y: z\n"
    assert.are.equal("big.yaml:1:5: mapping values are not allowed in this context",
      refused(yaml.parse, bad, "big.yaml"))
    assert.are.equal("big.yaml: document is 16777217 bytes, over the limit of 16777216 (max_bytes)",
      refused(yaml.parse, bad .. string.rep("a", 16 * 1024 * 1024 + 1 - #bad), "big.yaml"))
    assert.are.equal(fixture("experiment.yaml")
      .. ": file is 188 bytes, over the limit of 100 (max_bytes)",
      refused(yaml.load, fixture("experiment.yaml"), { max_bytes = 100 }))
  end)
end)

describe("yaml.dump", function()
  local function roundtrip(v, opts)
    local text = yaml.dump(v, opts)
    assert.are.same(v, yaml.parse(text), text)
    return text
  end

  it("round-trips every kind of value", function()
    roundtrip({
      name = "xor", seed = 42, lr = 0.1, one = 1.0, big = 1e300, tiny = 5e-324, third = 1 / 3,
      neg = -2.5, inf = math.huge, ninf = -math.huge, maxi = math.maxinteger,
      mini = math.mininteger, on = true, off = false, none = yaml.null, empty = {},
      model = { { dense = 8, activation = "relu" }, { dense = 1, extra = { {}, { 1, { 2 } } } } },
      ["1"] = "numeric key", ["<<"] = "not a merge", ["a: b"] = "colon key", [""] = "empty key",
    })
  end)

  it("quotes every string that would read back as something else", function()
    local strings = { "true", "True", "false", "1", "-0", "0x1F", "0o17", "012", "1e3", ".5",
      ".inf", "-.inf", ".nan", "null", "~", "", "yes", "no", "on", "off", "y", "n", "Yes", "OFF",
      "1_000", "0b1", "1:30", "<<", "=", "- a", "a: b", "#c", "  lead", "trail  ", "é",
      "x\ty", "[1]", "{a: 1}", "*a", "&a", "!x", "%x", "@x", "`x", "|", ">", "'", '"', "---",
      "...", "multi\nline\n", "a\n\n", "\n", " x\ny", "a\u{2028}b", "a\u{85}b", "tab\t",
      "relu", "he_normal" }
    roundtrip(strings)
    local m = {}
    for _, s in ipairs(strings) do m[s] = s end
    roundtrip(m)
  end)

  it("writes floats that read back as floats, exactly", function()
    assert.are.equal("1.0\n", yaml.dump(1.0))
    assert.are.equal("1.0e+20\n", yaml.dump(1e20))
    assert.are.equal("0.1\n", yaml.dump(0.1))
    assert.are.equal("-0.0\n", yaml.dump(-0.0))
    assert.are.equal(".inf\n", yaml.dump(math.huge))
    assert.are.equal("-.inf\n", yaml.dump(-math.huge))
    assert.are.equal(".nan\n", yaml.dump(0 / 0))
    local nan = yaml.parse(yaml.dump(0 / 0))
    assert.is_true(nan ~= nan)
    for _, x in ipairs { 0.1, 1 / 3, 2 ^ 53 + 0.0, 1e-310, 123456.789, -1.5e-7 } do
      local back = yaml.parse(yaml.dump(x))
      assert.are.equal("float", math.type(back))
      assert.are.equal(x, back)
    end
    assert.are.equal("integer", math.type(yaml.parse(yaml.dump(3))))
  end)

  it("sorts keys, with key_order first at every level", function()
    local v = { seed = 1, name = "x", alpha = 2, model = { seed = 3, beta = 4, name = "m" } }
    assert.are.equal("alpha: 2\nmodel:\n  beta: 4\n  name: m\n  seed: 3\nname: x\nseed: 1\n",
      yaml.dump(v))
    assert.are.equal("name: x\nseed: 1\nalpha: 2\nmodel:\n  name: m\n  seed: 3\n  beta: 4\n",
      yaml.dump(v, { key_order = { "name", "seed" } }))
  end)

  it("writes scalars, null and empty tables", function()
    assert.are.equal("null\n", yaml.dump(yaml.null))
    assert.are.equal("[]\n", yaml.dump({}))
    assert.are.equal("'yes'\n", yaml.dump("yes"))
    assert.are.equal("- 1\n- two\n- '3'\n", yaml.dump({ 1, "two", "3" }))
  end)

  it("refuses what YAML cannot hold, naming the key path", function()
    local c = {}
    c.self = { c }
    assert.are.equal("yaml.dump: cycle: the table contains itself at self[1]",
      refused(yaml.dump, c))
    assert.are.equal("yaml.dump: cannot write a function at model.layers[2].act",
      refused(yaml.dump, { model = { layers = { {}, { act = print } } } }))
    assert.are.equal("yaml.dump: cannot write a userdata at f",
      refused(yaml.dump, { f = io.stdout }))
    assert.are.equal("yaml.dump: mapping key of type number is not a string at a",
      refused(yaml.dump, { a = { [1.5] = 1 } }))
    assert.are.equal("yaml.dump: mapping key of type number is not a string at a",
      refused(yaml.dump, { a = { 1, 2, x = 3 } }))
    assert.are.equal("yaml.dump: string is not valid UTF-8 at a",
      refused(yaml.dump, { a = "\xff" }))
    assert.are.equal("yaml.dump: cannot write nil (use yaml.null) at the top level",
      refused(yaml.dump, nil))
    assert.are.equal("yaml.dump: nesting deeper than 2 levels (max_depth) at a.b",
      refused(yaml.dump, { a = { b = { c = 1 } } }, { max_depth = 2 }))
  end)

  it("allows a table shared in two places", function()
    local shared = { 1, 2 }
    roundtrip({ a = shared, b = shared })
  end)
end)

describe("yaml.write", function()
  it("writes atomically and reads back", function()
    local dir = tmpdir()
    local path = dir .. "/config.yaml"
    local v = { name = "run", seed = 7, lr = 0.05, layers = { 4, 2 } }
    yaml.write(path, v, { key_order = { "name" } })
    assert.are.same(v, (yaml.load(path)))
    local fh = assert(io.open(path))
    assert.are.equal("name: run\n", fh:read("L"))
    fh:close()
    yaml.write(path, { replaced = true })
    assert.are.same({ replaced = true }, (yaml.load(path)))
    -- no temporary file left behind
    local ls = io.popen("ls -A '" .. dir .. "'")
    assert.are.equal("config.yaml\n", ls:read("a"))
    ls:close()
    os.remove(path)
    os.remove(dir)
  end)

  it("names the path on failure", function()
    assert.are.equal("/nonexistent/dir/c.yaml: cannot write: No such file or directory",
      refused(yaml.write, "/nonexistent/dir/c.yaml", { a = 1 }))
  end)
end)
