-- End-to-end cases of convolutional networks (run under the stock lua5.4,
-- loading no nnrun code), on small images only:
--   lua5.4 cnn.lua NNRUN SOURCE_DIR WORK_DIR CASE
-- digits03: a tiny CNN on the 8x8 glyphs of digits03 (their image shape is
--   the default model.input) reaches a stated test loss and accuracy; its
--   config.yaml runs again to the same bits.
-- idx: IDX files of 3 dimensions give the input shape [1, H, W]; round trip.
-- explain: the layer table of a CNN, exactly.
-- lua: the Lua API (nn.sequential{ input = {C, H, W}, ... }) trains the
--   network the YAML describes, to the same figures.
-- fashion_twin: experiments/fashion_mnist_cnn.yaml and .lua, the same bits.
-- errors: shapes that do not fit, located; exit 2 and no run directory.
local exe, src, work, case = arg[1], arg[2], arg[3], arg[4]
local here = arg[0]:match("^(.*)/[^/]*$") or "."
local h = dofile(here .. "/harness.lua").new(exe, work .. "/cnn_" .. case)
local q, read, write, check, expect_exit, dir = h.q, h.read, h.write, h.check, h.expect_exit,
  h.dir

-- A number field of a JSON file (flat pattern match is enough here).
local function field(json, key)
  local v = json and json:match('"' .. key .. '":%s*([-%d.eE+]+)')
  return v and tonumber(v)
end

local untimed, roundtrip = h.untimed, h.roundtrip

-- Runs nnrun ARGS, which must succeed quietly.
local function ok_run(args)
  local code, out, err = h.nnrun(args)
  expect_exit(code, 0, out, err)
  check(err == "", "%s: stderr %s", args, err)
  return out
end

-- Runs a and b gave the same figures (metrics.jsonl, summary.json without
-- the timings).
local function same_figures(a, b)
  for _, f in ipairs({ "metrics.jsonl", "summary.json" }) do
    local ta = untimed(read(dir .. "/" .. a .. "/" .. f) or "a")
    local tb = untimed(read(dir .. "/" .. b .. "/" .. f) or "b")
    check(ta == tb, "%s differs:\n%s\n----\n%s", f, ta, tb)
  end
end

local DIGITS_CNN = [[
name: cnn
seed: 3
data: { generator: digits03, n_per_class: 250, noise: 0.3 }
model:
  layers:
    - conv2d: { filters: 6, kernel: 3, padding: same, activation: relu }
    - batchnorm: {}
    - maxpool: 2
    - conv2d: { filters: 8, kernel: 3, activation: relu }
    - flatten: {}
    - dropout: 0.1
    - dense: 4
loss: cross_entropy
optimizer: { name: sgd, lr: 0.05, momentum: 0.9 }
train: { epochs: 8, batch_size: 16, validation_split: 0.1 }
]]

local cases = {}

function cases.digits03()
  write(dir .. "/cnn.yaml", DIGITS_CNN)
  local text = roundtrip(dir .. "/cnn.yaml")
  check(text:find("\n  input:\n  %- 1\n  %- 8\n  %- 8\n"), "model.input in config.yaml:\n%s",
    text)
  check(text:find("padding: same\n", 1, true), "padding as given:\n%s", text)
  local s = read(dir .. "/a/summary.json")
  -- 1000 glyphs at noise 0.3: 200 test; 8 epochs (0.965, 0.083 here).  Chance: 0.25, 1.39.
  local acc, loss = field(s, "test_accuracy"), field(s, "test_loss")
  check(acc and acc >= 0.95, "test accuracy %s < 0.95", tostring(acc))
  check(loss and loss < 0.15, "test loss %s >= 0.15", tostring(loss))
  -- 6*9+6, 2*6, 8*6*9+8, 8*2*2*4+4
  check(field(s, "parameters") == 60 + 12 + 440 + 132, "parameters %s", tostring(field(s,
    "parameters")))
end

-- n IDX images of 6x6 bytes in 4 classes: a bar across (rows 2-3), a bar
-- down (columns 2-3), the diagonal, the border; plus noise.
local function idx_files(prefix, n, seed)
  local s = seed
  local function r()
    s = (s * 1103515245 + 12345) % 2147483648
    return s / 2147483648
  end
  local on = {
    function(y, _) return y == 2 or y == 3 end,
    function(_, x) return x == 2 or x == 3 end,
    function(y, x) return y == x end,
    function(y, x) return y == 0 or x == 0 or y == 5 or x == 5 end,
  }
  local img = { string.pack(">I4I4I4I4", 0x803, n, 6, 6) }
  local lab = { string.pack(">I4I4", 0x801, n) }
  for i = 0, n - 1 do
    local k = i % 4
    for y = 0, 5 do
      for x = 0, 5 do
        img[#img + 1] = string.char(math.floor((on[k + 1](y, x) and 140 or 0) + 110 * r()))
      end
    end
    lab[#lab + 1] = string.char(k)
  end
  write(dir .. "/" .. prefix .. "-images.idx", table.concat(img))
  write(dir .. "/" .. prefix .. "-labels.idx", table.concat(lab))
end

function cases.idx()
  idx_files("train", 160, 5)
  idx_files("test", 40, 6)
  write(dir .. "/idx.yaml", [[
name: idx
data:
  idx: { images: train-images.idx, labels: train-labels.idx, classes: 4 }
  test: { idx: { images: test-images.idx, labels: test-labels.idx, classes: 4 } }
model:
  layers:
    - conv2d: { filters: 4, kernel: 3, activation: relu }
    - avgpool: 2
    - global_avgpool: {}
    - dense: 4
loss: cross_entropy
optimizer: { name: adam, lr: 0.02 }
train: { epochs: 6, batch_size: 16 }
]])
  local text = roundtrip(dir .. "/idx.yaml")
  check(text:find("\n  input:\n  %- 1\n  %- 6\n  %- 6\n"), "the IDX dimensions as model.input:\n%s",
    text)
  -- A dense first layer takes the 36 features, as before.
  write(dir .. "/dense.yaml", (read(dir .. "/idx.yaml"):gsub("    %- conv2d.-dense: 4\n",
    "    - dense: 4\n")))
  ok_run("dense.yaml --out c --quiet")
  check((read(dir .. "/c/config.yaml") or ""):find("\n  input: 36\n", 1, true), "flat input:\n%s",
    read(dir .. "/c/config.yaml"))
end

function cases.explain()
  write(dir .. "/cnn.yaml", DIGITS_CNN)
  local out = ok_run("explain cnn.yaml --quiet")
  local table_text = out:match("\n(#  layer.-)\ntotal parameters")
  check(table_text == [[
#  layer      kind        output        parameters
--------------------------------------------------
0  input      input       (B, 1, 8, 8)           0
1  conv2d     conv2d      (B, 6, 8, 8)          60
2  relu       activation  (B, 6, 8, 8)           0
3  batchnorm  batchnorm   (B, 6, 8, 8)          12
4  maxpool    maxpool     (B, 6, 4, 4)           0
5  conv2d     conv2d      (B, 8, 2, 2)         440
6  relu       activation  (B, 8, 2, 2)           0
7  flatten    flatten     (B, 32)                0
8  dropout    dropout     (B, 32)                0
9  dense      dense       (B, 4)               132]], "layer table:\n%s", out)
  check(out:find("^cnn: 64 inputs %(images 1x8x8%), cross_entropy loss"), "first line:\n%s", out)
  check(out:find("\ntotal parameters: 644\n", 1, true), "total:\n%s", out)
  -- The convolutions' workspace is part of the memory a step needs.
  local total, parts = out:match("\nmemory for batch 16: ([^\n]+)\n"), 0
  check(out:find("\n  workspace   ", 1, true), "no workspace line:\n%s", out)
  for n, unit in out:gmatch("\n  [a-z ]-%s+([%d.]+) (K?i?B)") do
    parts = parts + tonumber(n) * (unit == "KiB" and 1024 or 1)
  end
  local want = tonumber(total:match("^([%d.]+)")) * (total:find("KiB") and 1024 or 1)
  -- Each figure is rounded to 0.05 KiB: six of them.
  check(math.abs(parts - want) <= 0.3 * 1024, "memory %s, its parts %s B", total, parts)
end

function cases.lua()
  write(dir .. "/cnn.yaml", DIGITS_CNN)
  -- The network of cnn.yaml through the Lua API, the rest of it as a table.
  write(dir .. "/cnn.lua", [[
local nn = require "nnrun"
local exp = require("nnrun.config").load("cnn.yaml")
exp.model = nn.sequential({
  input = { 1, 8, 8 },
  nn.conv2d{ filters = 6, kernel = 3, padding = "same" }, nn.relu(),
  nn.batchnorm(),
  nn.maxpool(2),
  nn.conv2d{ filters = 8, kernel = 3 }, nn.relu(),
  nn.flatten(),
  nn.dropout(0.1),
  nn.dense(4),
}, { seed = exp.seed })
return exp
]])
  ok_run("cnn.yaml --out a --quiet")
  local code, out, err = h.nnrun("cnn.lua --out b --quiet")
  expect_exit(code, 0, out, err)
  check(err == "nnrun: b/config.yaml cannot be run again: model is a Lua object of cnn.lua (run "
    .. "that script instead)\n", "stderr: %s", err)
  same_figures("a", "b")
end

-- experiments/fashion_mnist_cnn.yaml and its .lua twin train the same bits
-- (one epoch, on a small stand-in for Fashion-MNIST: data.fashion_mnist.dir
-- holding 200 training and 50 test images of 28x28 in its file names).
function cases.fashion_twin()
  local fm = dir .. "/fm"
  os.execute("mkdir -p " .. q(fm))
  local s = 7
  local function r()
    s = (s * 1103515245 + 12345) % 2147483648
    return s / 2147483648
  end
  for _, part in ipairs({ { "train", 200 }, { "t10k", 50 } }) do
    local n = part[2]
    local img = { string.pack(">I4I4I4I4", 0x803, n, 28, 28) }
    local lab = { string.pack(">I4I4", 0x801, n) }
    for i = 0, n - 1 do
      local k = i % 10
      for y = 0, 27 do
        for x = 0, 27 do -- class k: a bright band of rows 2k, 2k + 1, 2k + 2
          img[#img + 1] = string.char(math.floor(((y // 2 == k) and 150 or 0) + 100 * r()))
        end
      end
      lab[#lab + 1] = string.char(k)
    end
    write(fm .. "/" .. part[1] .. "-images-idx3-ubyte", table.concat(img))
    write(fm .. "/" .. part[1] .. "-labels-idx1-ubyte", table.concat(lab))
  end
  local args = " --quiet --set train.epochs=1 --set data.fashion_mnist.dir=fm"
  ok_run(q(src .. "/experiments/fashion_mnist_cnn.yaml") .. " --out a" .. args)
  local code, out, err = h.nnrun(q(src .. "/experiments/fashion_mnist_cnn.lua") .. " --out b" .. args)
  expect_exit(code, 0, out, err)
  same_figures("a", "b")
  check(field(read(dir .. "/a/summary.json"), "parameters") == 421834, "parameters: %s",
    read(dir .. "/a/summary.json"))
end

-- Runs a bad experiment: exit 2, the one line expected, nothing written.
local function refused(file, text, want, args)
  write(dir .. "/" .. file, text)
  local code, out, err = h.nnrun(q(file) .. " --out r " .. (args or ""))
  expect_exit(code, 2, out, err)
  check(err == want .. "\n", "%s: stderr\n%s\nexpected\n%s", file, err, want)
  check(not read(dir .. "/r/config.yaml"), "%s: a run directory was made", file)
end

function cases.errors()
  -- The runtime's shape inference, located at the layer's key.
  refused("fit.yaml", [[
data: { generator: digits03 }
model:
  layers:
    - conv2d: { filters: 4, kernel: 3 }
    - maxpool: 2
    - conv2d: { filters: 4, kernel: 5 }
    - dense: 4
loss: cross_entropy
]], "nnrun: fit.yaml:6:7: model.layers[3].conv2d: kernel 5 is larger than the padded input 3x3")
  -- The features of a CSV file against data.csv.shape and model.input.
  local five, four = { "a,b,c,d,e,label" }, { "a,b,c,d,label" }
  for i = 1, 12 do
    five[#five + 1] = string.format("%d,1,2,3,4,%d", i, i % 2)
    four[#four + 1] = string.format("%d,1,2,3,%d", i, i % 2)
  end
  write(dir .. "/five.csv", table.concat(five, "\n") .. "\n")
  write(dir .. "/four.csv", table.concat(four, "\n") .. "\n")
  refused("csv_shape.yaml", [[
data:
  csv: { path: five.csv, label: label, shape: [1, 2, 2] }
model:
  layers: [{ conv2d: { filters: 2, kernel: 1 } }, { dense: 2 }]
loss: cross_entropy
]], "nnrun: csv_shape.yaml:2:40: data.csv.shape: is [1, 2, 2] (4 features), but five.csv has 5 "
    .. "features")
  refused("csv_input.yaml", [[
data:
  csv: { path: five.csv, label: label }
model:
  input: [1, 2, 3]
  layers: [{ conv2d: { filters: 2, kernel: 1 } }, { dense: 2 }]
loss: cross_entropy
]], "nnrun: csv_input.yaml:4:3: model.input: is [1, 2, 3] (6 features), but five.csv has 5 "
    .. "features")
  refused("csv_none.yaml", [[
data:
  csv: { path: five.csv, label: label }
model:
  layers: [{ conv2d: { filters: 2, kernel: 1 } }, { dense: 2 }]
loss: cross_entropy
]], "nnrun: csv_none.yaml:3:1: model.input: missing: the first layer (conv2d) takes an image "
    .. "[C, H, W], and the data gives no shape (give model.input or data.csv.shape)")
  -- IDX items of one dimension (N, F) have no image shape.
  local img = { string.pack(">I4I4I4", 0x802, 8, 4), string.rep("\1", 32) }
  write(dir .. "/flat-images.idx", table.concat(img))
  write(dir .. "/flat-labels.idx", string.pack(">I4I4", 0x801, 8) .. string.rep("\0\1", 4))
  refused("idx_flat.yaml", [[
data:
  idx: { images: flat-images.idx, labels: flat-labels.idx }
  test_split: 0.25
model:
  layers: [{ conv2d: { filters: 2, kernel: 1 } }, { dense: 2 }]
loss: cross_entropy
]], "nnrun: idx_flat.yaml:4:1: model.input: missing: the first layer (conv2d) takes an image "
    .. "[C, H, W], and flat-images.idx has no image shape (give model.input)")
  -- A shape that fits the file: it trains.
  ok_run("csv_shape.yaml --out ok --quiet --set data.csv.path=four.csv --set train.epochs=1")
end

h.main(cases, case)
