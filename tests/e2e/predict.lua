-- End-to-end cases of `nnrun predict` (run under the stock lua5.4, loading
-- no nnrun code):
--   lua5.4 predict.lua NNRUN SOURCE_DIR WORK_DIR CASE
local exe, _, work, case = arg[1], arg[2], arg[3], arg[4]
local here = arg[0]:match("^(.*)/[^/]*$") or "."
local harness = dofile(here .. "/harness.lua")
local dir = work .. "/predict_" .. case
local h = harness.new(exe, dir)
local read, write, check, expect_exit = h.read, h.write, h.check, h.expect_exit

local function lcg(seed)
  local s = seed
  return function()
    s = (s * 1103515245 + 12345) % 2147483648
    return s / 2147483648
  end
end

-- An iris-like CSV (4 features, text classes in `species`), with and
-- without its label column; returns the labels.
local function class_csv(name, n, seed)
  local r = lcg(seed)
  local kinds = { "setosa", "versicolor", "virginica" }
  local lines, bare, labels = { "a,b,c,d,species" }, { "a,b,c,d" }, {}
  for i = 1, n do
    local k = (i - 1) % 3
    -- overlapping classes: the model makes some mistakes
    local row = string.format("%.3f,%.3f,%.3f,%.3f", 0.6 * k + r(), 0.8 * k + 2 * r(), r(),
      r() - 0.3 * k)
    lines[#lines + 1] = row .. "," .. kinds[k + 1]
    bare[#bare + 1] = row
    labels[i] = kinds[k + 1]
  end
  write(dir .. "/" .. name, table.concat(lines, "\n") .. "\n")
  write(dir .. "/bare_" .. name, table.concat(bare, "\n") .. "\n")
  return labels
end

local function split(line)
  local f = {}
  for v in (line .. ","):gmatch("([^,]*),") do
    f[#f + 1] = v
  end
  return f
end

local function lines_of(text)
  local t = {}
  for l in text:gmatch("([^\n]*)\n") do
    t[#t + 1] = l
  end
  return t
end

local cases = {}

-- predict on the training CSV gives the confusion matrix and accuracy that
-- nnrun eval reports; the file without its label column gives the same
-- predictions; --out writes the same bytes; probabilities sum to 1.
function cases.matches_eval()
  local labels = class_csv("iris.csv", 120, 5)
  write(dir .. "/iris.yaml", [[
name: iris
data:
  csv: { path: iris.csv, label: species }
  test_split: 0
model: { layers: [{dense: 6, activation: tanh}, {dense: 3}] }
loss: cross_entropy
optimizer: { lr: 0.05 }
train: { epochs: 3, batch_size: 16 }
]])
  local code, out, err = h.nnrun("iris.yaml --quiet --out r")
  expect_exit(code, 0, out, err)
  local ecode, eout, eerr = h.nnrun("eval r/model.nnrun iris.csv")
  expect_exit(ecode, 0, eout, eerr)
  code, out, err = h.nnrun("predict r/model.nnrun iris.csv")
  expect_exit(code, 0, out, err)
  local rows = lines_of(out)
  check(rows[1] == "prediction,p_setosa,p_versicolor,p_virginica", "header: %s", rows[1])
  check(#rows == 121, "%d lines", #rows)
  local index = { setosa = 0, versicolor = 1, virginica = 2 }
  local conf, correct = {}, 0
  for i = 0, 8 do
    conf[i] = 0
  end
  for i = 2, #rows do
    local f = split(rows[i])
    local t, p = index[labels[i - 1]], index[f[1]]
    check(p ~= nil and #f == 4, "row %d: %s", i, rows[i])
    local s = (tonumber(f[2]) or 0) + (tonumber(f[3]) or 0) + (tonumber(f[4]) or 0)
    check(math.abs(s - 1) < 1e-6, "row %d: probabilities sum to %.9g", i, s)
    if p then
      conf[t * 3 + p] = conf[t * 3 + p] + 1
      correct = correct + (t == p and 1 or 0)
    end
  end
  check(correct < 120 and correct > 40, "%d of 120 right: the case needs some mistakes", correct)
  local acc = string.format("accuracy %.2f%%", 100 * correct / 120)
  check(eout:find(acc, 1, true), "eval says:\n%s\npredictions give %s", eout, acc)
  -- eval's confusion table: "0 setosa  n n n  precision ..." rows
  for t, name in ipairs({ "setosa", "versicolor", "virginica" }) do
    local a, b, c = eout:match("\n" .. (t - 1) .. " " .. name .. " +(%d+) +(%d+) +(%d+) ")
    local want = { conf[(t - 1) * 3], conf[(t - 1) * 3 + 1], conf[(t - 1) * 3 + 2] }
    check(tonumber(a) == want[1] and tonumber(b) == want[2] and tonumber(c) == want[3],
      "class %s: eval %s %s %s, predictions %d %d %d", name, a, b, c, want[1], want[2], want[3])
  end
  local bcode, bout, berr = h.nnrun("predict r/model.nnrun bare_iris.csv")
  expect_exit(bcode, 0, bout, berr)
  check(bout == out, "without the label column:\n%s", bout)
  code, out, err = h.nnrun("predict r/model.nnrun iris.csv --out p.csv")
  expect_exit(code, 0, out, err)
  check(out == "" and read(dir .. "/p.csv") == bout, "--out: stdout %q", out)
  -- the experiment file: its test set (here the training data)
  code, out, err = h.nnrun("predict r/model.nnrun iris.yaml")
  expect_exit(code, 0, out, err)
  check(out == bout, "predict on the experiment:\n%s", out)
end

-- A model made by hand (nnrun script: fixed weights, normalisation, class
-- names, loss in its config): the exact CSV.
function cases.exact()
  write(dir .. "/make.lua", [[
local nn = require "nnrun"
local net = nn.sequential({ nn.dense(2, 3), nn.relu(), nn.dense(2) })
net:weights(1):copy_from(nn.tensor{ { 1, 0 }, { 0, 1 }, { 1, 1 } })
net:bias(1):copy_from(nn.tensor{ 0, 0, -1 })
net:weights(3):copy_from(nn.tensor{ { 1, 0, 2 }, { 0, 1, -1 } })
net:bias(3):copy_from(nn.tensor{ 0, 0.5 })
net:save("cls.nnrun", { norm = { kind = "standardize", shift = { 1, 2 }, div = { 2, 4 } },
  config = "loss: cross_entropy\n", meta = { data = nn.yaml.dump({ class_names = { "cat", "dog, big" } }) } })
local reg = nn.sequential({ nn.dense(1, 1) })
reg:weights(1):copy_from(nn.tensor{ { 2 } })
reg:bias(1):copy_from(nn.tensor{ 0.5 })
reg:save("reg.nnrun", { norm = { kind = "scale", shift = { 10 }, div = { 4 } },
  config = "loss: mse\ndata:\n  csv: { path: r.csv, label: price, target: regression }\n",
  meta = { data = nn.yaml.dump({ target_shift = { 100 }, target_scale = { 8 } }) } })
]])
  local code, out, err = h.nnrun("make.lua")
  expect_exit(code, 0, out, err)
  -- normalised rows (1,1), (0,0), (-1,2); hidden relu (1,1,1), (0,0,0), (0,2,0);
  -- logits (3, 0.5), (0, 0.5), (0, 2.5)
  write(dir .. "/x.csv", "u,v\n3,6\n1,2\n-1,10\n")
  code, out, err = h.nnrun("predict cls.nnrun x.csv")
  expect_exit(code, 0, out, err)
  local function sm(a, b)
    local m = math.max(a, b)
    local ea, eb = math.exp(a - m), math.exp(b - m)
    return string.format("%.9g,%.9g", ea / (ea + eb), eb / (ea + eb))
  end
  local want = 'prediction,p_cat,"p_dog, big"\n' .. "cat," .. sm(3, 0.5) .. "\n"
    .. '"dog, big",' .. sm(0, 0.5) .. "\n" .. '"dog, big",' .. sm(0, 2.5) .. "\n"
  check(out == want, "got:\n%s\nwant:\n%s", out, want)
  -- regression: ((x - 10) / 4 * 2 + 0.5) * 8 + 100, the label absent
  write(dir .. "/r.csv", "x\n10\n14\n2\n")
  code, out, err = h.nnrun("predict reg.nnrun r.csv")
  expect_exit(code, 0, out, err)
  check(out == "price\n104\n120\n72\n", "regression:\n%s", out)
  -- and with the label column present
  write(dir .. "/r2.csv", "x,price\n10,1\n14,2\n")
  code, out, err = h.nnrun("predict reg.nnrun r2.csv")
  expect_exit(code, 0, out, err)
  check(out == "price\n104\n120\n", "regression with labels:\n%s", out)
end

-- Bad input: one line, exit 2, nothing written; an unwritable --out: exit 1.
function cases.errors()
  class_csv("iris.csv", 30, 2)
  write(dir .. "/iris.yaml", "data:\n  csv: { path: iris.csv, label: species }\n  test_split: 0\n"
    .. "model: { layers: [{dense: 3}] }\nloss: cross_entropy\ntrain: { epochs: 1 }\n")
  local code, out, err = h.nnrun("iris.yaml --quiet --out r")
  expect_exit(code, 0, out, err)
  local function refused(args, want, status)
    local c, o, e = h.nnrun(args)
    expect_exit(c, status or 2, o, e)
    check(e == want, "%s: stderr %q, expected %q", args, e, want)
    check(o == "", "%s: stdout %q", args, o)
  end
  refused("predict r/model.nnrun", "nnrun: predict needs MODEL and DATA (see nnrun predict --help)\n")
  refused("predict nope.nnrun iris.csv", "nnrun: nope.nnrun: No such file or directory\n")
  refused("predict r/model.nnrun nope.csv", "nnrun: nope.csv: No such file or directory\n")
  write(dir .. "/three.csv", "a,b,c\n1,2,3\n")
  refused("predict r/model.nnrun three.csv",
    "nnrun: three.csv: the data has 3 features, the model takes 4\n")
  write(dir .. "/bad.csv", "a,b,c,d\n1,2,x,4\n")
  refused("predict r/model.nnrun bad.csv",
    "nnrun: bad.csv:2: column 3 ('c'): 'x' is not a number\n")
  write(dir .. "/data.txt", "1\n")
  refused("predict r/model.nnrun data.txt", "nnrun: data.txt: unsupported data file (expected an "
    .. "experiment .yaml/.yml/.lua, a .csv, or IDX images (and labels))\n")
  refused("eval r/model.nnrun data.txt", "nnrun: data.txt: unsupported data file (expected an "
    .. "experiment .yaml/.yml/.lua, a .csv, or IDX images and labels)\n")
  refused("predict r/model.nnrun iris.csv --loss hinge", "nnrun: option --loss needs one of mse, "
    .. "cross_entropy, bce, bce_logits, log_loss, nll, got 'hinge'\n")
  refused("predict r/model.nnrun iris.csv --out no/such/p.csv",
    "nnrun: no/such/p.csv: cannot write: No such file or directory\n", 1)
  check(read(dir .. "/no") == nil, "no directory created")
end

-- nnrun export: the ONNX model passes onnx.checker and, evaluated with
-- numpy (onnx_eval.py), gives nnrun predict's numbers within 1e-5, for a
-- classifier of every layer kind and activation and for a regression model
-- with standardised targets; --json; bad usage.  Skipped (77) without
-- python3-onnx.
function cases.export_onnx()
  local py = io.open("/usr/bin/python3", "rb") and "/usr/bin/python3" or "python3"
  local _, _, has = os.execute(py .. " -c 'import onnx, numpy' 2>/dev/null")
  if has ~= 0 then
    io.stderr:write("python3-onnx is not installed: skipped\n")
    os.exit(77)
  end
  class_csv("iris.csv", 120, 5)
  write(dir .. "/m.yaml", [[
name: m
data:
  csv: { path: iris.csv, label: species }
  normalize: standardize
  test_split: 0
model:
  layers:
  - { dense: 8, activation: gelu }
  - batchnorm: {}
  - dropout: 0.2
  - { dense: 6, activation: leaky_relu, slope: 0.1 }
  - layernorm: {}
  - gaussian_noise: 0.1
  - { dense: 5, activation: elu, alpha: 0.5 }
  - { dense: 5, activation: silu }
  - { dense: 4, activation: tanh }
  - { dense: 4, activation: softplus }
  - { dense: 4, activation: sigmoid }
  - { dense: 4, activation: relu }
  - dense: 3
loss: cross_entropy
optimizer: { lr: 0.05 }
train: { epochs: 8, batch_size: 16 }
]])
  local code, out, err = h.nnrun("m.yaml --quiet --out r")
  expect_exit(code, 0, out, err)
  code, out, err = h.nnrun("export r/model.nnrun --onnx m.onnx --json m.json")
  expect_exit(code, 0, out, err)
  check(out == "" and err == "", "export printed %q %q", out, err)
  code, out, err = h.nnrun("predict r/model.nnrun bare_iris.csv --out p.csv")
  expect_exit(code, 0, out, err)
  local function onnx_check(model, x, p)
    local cmd = string.format("cd %s && %s %s %s %s %s >onnx.txt 2>&1", h.q(dir), py,
      h.q(here .. "/onnx_eval.py"), model, x, p)
    local _, _, c = os.execute(cmd)
    local text = read(dir .. "/onnx.txt") or ""
    check(c == 0 and text:match("^max abs difference "), "%s: exit %s: %s", model, tostring(c), text)
    io.stdout:write(model, ": ", text)
  end
  onnx_check("m.onnx", "bare_iris.csv", "p.csv")
  local js = read(dir .. "/m.json") or ""
  check(js:find('"format": "nnrun-model"', 1, true) and js:find('"kind": "layernorm"', 1, true)
    and js:find('"final": "softmax"', 1, true) and js:find('"versicolor"', 1, true),
    "m.json:\n%s", js:sub(1, 400))
  -- regression, standardised targets
  local r = lcg(3)
  local lines, bare = { "x1,x2,y" }, { "x1,x2" }
  for _ = 1, 60 do
    local a, b = r(), r()
    lines[#lines + 1] = string.format("%.4f,%.4f,%.4f", a, b, 2 + 5 * a - 3 * b + r())
    bare[#bare + 1] = string.format("%.4f,%.4f", a, b)
  end
  write(dir .. "/reg.csv", table.concat(lines, "\n") .. "\n")
  write(dir .. "/bare_reg.csv", table.concat(bare, "\n") .. "\n")
  write(dir .. "/reg.yaml", "name: reg\ndata:\n  csv: { path: reg.csv, label: y, target: regression }\n"
    .. "  standardize_targets: true\n  test_split: 0\nmodel: { layers: [{dense: 8, activation: tanh}, "
    .. "{dense: 1}] }\nloss: mse\ntrain: { epochs: 5, batch_size: 8 }\n")
  code, out, err = h.nnrun("reg.yaml --quiet --out g")
  expect_exit(code, 0, out, err)
  code, out, err = h.nnrun("export g/model.nnrun --onnx reg.onnx")
  expect_exit(code, 0, out, err)
  code, out, err = h.nnrun("predict g/model.nnrun bare_reg.csv --out q.csv")
  expect_exit(code, 0, out, err)
  check((read(dir .. "/q.csv") or ""):match("^y\n%-?%d%.%d+\n"), "q.csv: %s", read(dir .. "/q.csv"))
  onnx_check("reg.onnx", "bare_reg.csv", "q.csv")
  -- bad usage: one line, exit 2, nothing written
  code, out, err = h.nnrun("export r/model.nnrun")
  expect_exit(code, 2, out, err)
  check(err == "nnrun: export needs --onnx FILE or --json FILE (see nnrun export --help)\n",
    "stderr %q", err)
  code, out, err = h.nnrun("export nope.nnrun --onnx n.onnx")
  expect_exit(code, 2, out, err)
  check(err == "nnrun: nope.nnrun: No such file or directory\n" and not read(dir .. "/n.onnx"),
    "stderr %q", err)
  code, out, err = h.nnrun("export r/model.nnrun --onnx no/such/m.onnx")
  expect_exit(code, 1, out, err)
  check(err == "nnrun: no/such/m.onnx: cannot write: No such file or directory\n", "stderr %q", err)
end

-- A convolutional network (every image kind: conv2d with padding, stride,
-- dilation; maxpool, avgpool, global_avgpool, flatten; batchnorm per
-- channel and layernorm over an image) trained on 8x8 IDX images:
-- `nnrun predict` on the two IDX files equals predict on the same pixels
-- as CSV, and the exported ONNX graph, input (N, 1, 8, 8), checked by
-- onnx.checker and evaluated by numpy, gives those predictions.  A softmax
-- over an image is refused, nothing written.  Skipped without python3-onnx.
function cases.export_cnn()
  local py = "/usr/bin/python3"
  local _, _, has = os.execute(py .. " -c 'import onnx, numpy' 2>/dev/null")
  if has ~= 0 then
    io.stderr:write("python3-onnx is not installed: skipped\n")
    os.exit(77)
  end
  -- 40 images of 8x8 bytes (class k: a bright band at row 2k), labels 0..3
  local r = lcg(11)
  local n = 40
  local px, labels, rows = {}, {}, { "" }
  local head = {}
  for j = 1, 64 do
    head[j] = "p" .. j
  end
  rows[1] = table.concat(head, ",")
  for i = 1, n do
    local k = (i - 1) % 4
    labels[i] = string.char(k)
    local img = {}
    for y = 0, 7 do
      for x = 0, 7 do
        local v = math.floor(r() * 90) + ((y == 2 * k or y == 2 * k + 1) and 140 or 0) + x
        img[#img + 1] = v
        px[#px + 1] = string.char(v)
      end
    end
    rows[#rows + 1] = table.concat(img, ",")
  end
  write(dir .. "/img.idx", string.pack(">I4I4I4I4", 0x803, n, 8, 8) .. table.concat(px))
  write(dir .. "/lab.idx", string.pack(">I4I4", 0x801, n) .. table.concat(labels))
  write(dir .. "/img.csv", table.concat(rows, "\n") .. "\n")
  write(dir .. "/cnn.lua", [[
local nn = require "nnrun"
local d = nn.datasets.idx{ images = "img.idx", labels = "lab.idx", classes = 4 }
d:normalize("scale")
local net = nn.sequential({ input = { 1, 8, 8 },
  nn.layer("conv2d", { filters = 3, kernel = 3, padding = 1 }), nn.relu(), nn.batchnorm(),
  nn.layer("maxpool", { size = 2 }),
  nn.layer("conv2d", { filters = 4, kernel = 2, dilation = 2, padding = 1 }), nn.elu(),
  nn.layer("avgpool", { size = 2, stride = 1 }), nn.layernorm(), nn.dropout(0.1),
  nn.layer("conv2d", { filters = 5, kernel = 3, stride = 2, padding = 1 }), nn.gelu(),
  nn.layer("global_avgpool"), nn.layer("flatten"), nn.dense(4) }, { seed = 3 })
nn.fit(net, d, { loss = "cross_entropy", epochs = 4, batch_size = 8 })
net:save("cnn.nnrun", { norm = d, config = "loss: cross_entropy\n" })
-- an image layer after a vector (a Reshape in the graph), ending on an image (a Flatten)
local vec = nn.sequential({ input = { 1, 8, 8 }, nn.dense(6), nn.tanh(),
  nn.layer("conv2d", { filters = 4, kernel = 1 }), nn.softplus() }, { seed = 4 })
nn.fit(vec, d, { loss = "cross_entropy", epochs = 2, batch_size = 8 })
vec:save("vec.nnrun", { norm = d, config = "loss: cross_entropy\n" })
local bad = nn.sequential{ input = { 1, 8, 8 }, nn.layer("conv2d", { filters = 2, kernel = 3 }),
  nn.softmax(), nn.dense(4) }
bad:save("bad.nnrun", { config = "loss: cross_entropy\n" })
]])
  local code, out, err = h.nnrun("cnn.lua")
  expect_exit(code, 0, out, err)
  code, out, err = h.nnrun("predict cnn.nnrun img.idx lab.idx --out p.csv")
  expect_exit(code, 0, out, err)
  code, out, err = h.nnrun("predict cnn.nnrun img.csv --out q.csv")
  expect_exit(code, 0, out, err)
  local p = read(dir .. "/p.csv") or ""
  check(p:match("^prediction,p_0,p_1,p_2,p_3\n") and select(2, p:gsub("\n", "")) == n + 1,
    "p.csv: %s", p:sub(1, 200))
  check(p == read(dir .. "/q.csv"), "IDX and CSV predictions differ")
  -- the images alone (no labels file): the same predictions; eval needs both
  code, out, err = h.nnrun("predict cnn.nnrun img.idx")
  expect_exit(code, 0, out, err)
  check(out == p, "predictions from img.idx alone differ from img.idx lab.idx")
  code, out, err = h.nnrun("eval cnn.nnrun img.idx")
  expect_exit(code, 2, out, err)
  check(err == "nnrun: img.idx: IDX images need their labels file too (nnrun eval MODEL IMAGES "
    .. "LABELS)\n", "eval on images alone: %q", err)
  code, out, err = h.nnrun("export cnn.nnrun --onnx cnn.onnx --json cnn.json")
  expect_exit(code, 0, out, err)
  code, out, err = h.nnrun("predict vec.nnrun img.csv --out v.csv")
  expect_exit(code, 0, out, err)
  code, out, err = h.nnrun("export vec.nnrun --onnx vec.onnx")
  expect_exit(code, 0, out, err)
  for _, m in ipairs({ { "cnn.onnx", "p.csv" }, { "vec.onnx", "v.csv" } }) do
    local cmd = string.format("cd %s && %s %s %s img.csv %s >onnx.txt 2>&1", h.q(dir), py,
      h.q(here .. "/onnx_eval.py"), m[1], m[2])
    local _, _, c = os.execute(cmd)
    local text = read(dir .. "/onnx.txt") or ""
    check(c == 0 and text:match("^max abs difference "), "%s: exit %s: %s", m[1], tostring(c), text)
    io.stdout:write(m[1], ": ", text)
  end
  local js = read(dir .. "/cnn.json") or ""
  check(js:find('"input_shape": [\n    1,\n    8,\n    8\n  ]', 1, true)
    and js:find('"kind": "conv2d"', 1, true), "cnn.json: %s", js:sub(1, 300))
  code, out, err = h.nnrun("export bad.nnrun --onnx bad.onnx")
  expect_exit(code, 2, out, err)
  check(err == "nnrun: layer 2 (activation): a softmax over a {C,H,W} image cannot be expressed "
    .. "in ONNX by nnrun export\n" and not read(dir .. "/bad.onnx"), "stderr %q", err)
end

-- The README's walk-through on experiments/iris.{yaml,csv}: train, predict
-- two new flowers (a setosa and a virginica), eval on the whole file.
function cases.readme_iris()
  local src = arg[2]
  local code, out, err = h.nnrun(h.q(src .. "/experiments/iris.yaml") .. " --quiet --out r")
  expect_exit(code, 0, out, err)
  check(out:match("test accuracy 100%.0%% %-> r\n$"), "stdout %q", out)
  write(dir .. "/new.csv", "sepal_length,sepal_width,petal_length,petal_width\n"
    .. "5.0,3.4,1.5,0.2\n7.7,2.8,6.7,2.0\n")
  code, out, err = h.nnrun("predict r/model.nnrun new.csv")
  expect_exit(code, 0, out, err)
  local rows = lines_of(out)
  check(#rows == 3 and rows[1] == "prediction,p_setosa,p_versicolor,p_virginica"
    and split(rows[2])[1] == "setosa" and split(rows[3])[1] == "virginica", "stdout %q", out)
  code, out, err = h.nnrun("eval r/model.nnrun " .. h.q(src .. "/experiments/iris.csv") .. " --quiet")
  expect_exit(code, 0, out, err)
  check(out:match("accuracy 98%.67%%, macro F1 0%.9867 %(150 samples%)\n$"), "stdout %q", out)
end

h.main(cases, case)
