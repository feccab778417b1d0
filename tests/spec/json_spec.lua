-- scripts/nnrun/json.lua
local json = require "nnrun.json"

describe("json.encode", function()
  it("encodes scalars", function()
    assert.equals("null", json.encode(nil))
    assert.equals("true", json.encode(true))
    assert.equals("3", json.encode(3))
    assert.equals("3.0", json.encode(3.0))
    assert.equals("0.1", json.encode(0.1))
    assert.equals("0.10000000149011612", json.encode(0.10000000149011612))
    assert.equals('"a\\"b\\\\c\\n\\u0001"', json.encode('a"b\\c\n\1'))
  end)

  it("turns NaN and infinities into null", function()
    assert.equals("[null,null,null]", json.encode({ 0 / 0, math.huge, -math.huge }))
  end)

  it("encodes arrays and objects with sorted or given key order", function()
    assert.equals("[1,2,[3]]", json.encode({ 1, 2, { 3 } }))
    assert.equals('{"a":1,"b":{"c":true}}', json.encode({ b = { c = true }, a = 1 }))
    assert.equals('{"epoch":1,"a":2}', json.encode({ a = 2, epoch = 1 }, { order = { "epoch" } }))
    assert.equals("{}", json.encode({}))
  end)

  it("indents on request", function()
    assert.equals('{\n  "a": [\n    1\n  ]\n}', json.encode({ a = { 1 } }, { indent = "  " }))
  end)

  it("describes values JSON cannot hold", function()
    assert.matches('^"function: ', json.encode(print))
  end)

  it("encodes a table marked by json.array as an array, empty too", function()
    assert.equals('{"a":{},"b":[]}', json.encode({ a = {}, b = json.array{} }))
    assert.equals('{\n  "b": []\n}', json.encode({ b = json.array{} }, { indent = "  " }))
    assert.equals("[1,2]", json.encode(json.array{ 1, 2 }))
  end)

  it("refuses cycles", function()
    local t = {}
    t.t = t
    assert.has_error(function() json.encode(t) end, "json: nesting deeper than 64 (a cycle?)")
  end)
end)
