-- End-to-end cases of the data section and of what a run records about it
-- (run under the stock lua5.4, loading no nnrun code):
--   lua5.4 data.lua NNRUN SOURCE_DIR WORK_DIR CASE
-- roundtrip_*: a run's config.yaml, run again, gives the same figures bit
-- for bit (config.yaml, metrics.jsonl without the timings, summary.json
-- without the timings, model.nnrun), for every data source.
local exe, src, work, case = arg[1], arg[2], arg[3], arg[4]
local here = arg[0]:match("^(.*)/[^/]*$") or "."
local harness = dofile(here .. "/harness.lua")
local dir = work .. "/data_" .. case
local h = harness.new(exe, dir)
local q, read, write, check, expect_exit = h.q, h.read, h.write, h.check, h.expect_exit
local SKIP = 77

-- A deterministic generator of numbers in [0, 1).
local function lcg(seed)
  local s = seed
  return function()
    s = (s * 1103515245 + 12345) % 2147483648
    return s / 2147483648
  end
end

-- An iris-like CSV: 4 features, text classes in `label`, n rows.
local function class_csv(name, n, seed, opts)
  opts = opts or {}
  local r = lcg(seed)
  local kinds = opts.kinds or { "setosa", "versicolor", "virginica" }
  local lines = opts.header == false and {} or { "a,b,c,d,species" }
  for i = 1, n do
    local k = (i - 1) % #kinds
    lines[#lines + 1] = string.format("%.3f,%.3f,%.3f,%.3f,%s", k + r(), 2 * k + r(), r(),
      r() - k, kinds[k + 1])
  end
  write(dir .. "/" .. name, table.concat(lines, "\n") .. "\n")
end

-- A regression CSV: y = 100 + 50 x1 - 30 x2 + noise.
local function regression_csv(name, n, seed)
  local r = lcg(seed)
  local lines = { "x1,x2,y" }
  for _ = 1, n do
    local a, b = r(), r()
    lines[#lines + 1] = string.format("%.4f,%.4f,%.4f", a, b, 100 + 50 * a - 30 * b + r())
  end
  write(dir .. "/" .. name, table.concat(lines, "\n") .. "\n")
end

-- IDX images (n of 3x3 bytes) and labels (classes).
local function idx_files(prefix, n, classes, seed)
  local r = lcg(seed)
  local img = { string.pack(">I4I4I4I4", 0x803, n, 3, 3) }
  local lab = { string.pack(">I4I4", 0x801, n) }
  for i = 0, n - 1 do
    local k = i % classes
    for p = 0, 8 do
      img[#img + 1] = string.char(math.floor(((p % classes == k) and 150 or 0) + 100 * r()))
    end
    lab[#lab + 1] = string.char(k)
  end
  write(dir .. "/" .. prefix .. "-images.idx", table.concat(img))
  write(dir .. "/" .. prefix .. "-labels.idx", table.concat(lab))
end

local roundtrip = h.roundtrip

local cases = {}

function cases.roundtrip_generators()
  for _, e in ipairs({ "xor", "digits03", "regression" }) do
    os.execute("rm -rf " .. q(dir .. "/a") .. " " .. q(dir .. "/b"))
    roundtrip(src .. "/experiments/" .. e .. ".yaml", "--set train.epochs=3")
  end
end

function cases.roundtrip_csv()
  class_csv("iris.csv", 120, 1)
  class_csv("iris-test.csv", 30, 2)
  write(dir .. "/iris.yaml", [[
name: iris
data:
  csv: { path: iris.csv, label: species }
  test: { csv: { path: iris-test.csv, label: species } }
model:
  input: 4
  layers: [{dense: 8, activation: relu}, {dense: 3}]
loss: cross_entropy
optimizer: { lr: 0.1, momentum: 0.9 }
train: { epochs: 4, batch_size: 16, validation_split: 0.2 }
]])
  local text = roundtrip(dir .. "/iris.yaml")
  check(not text:find("source"), "config.yaml holds an internal key:\n%s", text)
end

function cases.roundtrip_csv_regression()
  regression_csv("reg.csv", 200, 3)
  write(dir .. "/reg.yaml", [[
name: reg
data:
  csv: { path: reg.csv, label: y, target: regression }
  test_split: 0.25
model:
  input: 2
  layers: [{dense: 8, activation: tanh}, {dense: 1}]
loss: mse
optimizer: { lr: 0.01 }
train: { epochs: 3, batch_size: 16 }
]])
  roundtrip(dir .. "/reg.yaml")
end

function cases.roundtrip_idx()
  idx_files("train", 200, 4, 5)
  idx_files("test", 40, 4, 6)
  write(dir .. "/idx.yaml", [[
name: idx
data:
  idx: { images: train-images.idx, labels: train-labels.idx, classes: 4 }
  test: { idx: { images: test-images.idx, labels: test-labels.idx, classes: 4 } }
model:
  input: 9
  layers: [{dense: 8, activation: relu}, {dense: 4}]
loss: cross_entropy
optimizer: { lr: 0.1 }
train: { epochs: 3, batch_size: 20 }
]])
  roundtrip(dir .. "/idx.yaml")
end

-- The default experiment of `make run` (one epoch of it).
function cases.roundtrip_fashion_mnist()
  if not read("/usr/share/datasets/fashion-mnist/t10k-labels-idx1-ubyte.gz") then
    io.stderr:write("SKIP: dataset-fashion-mnist is not installed\n")
    os.exit(SKIP)
  end
  -- One epoch on 6000 images (the other 54000 validate) keeps it short.
  roundtrip(src .. "/experiments/fashion_mnist.yaml", "--set train.epochs=1 "
    .. "--set train.validation_split=0.9 --set output.checkpoint_best=none")
end

-- A Lua experiment that passes objects (nn.dataset, nn.sequential, ...):
-- its config.yaml says it cannot run again, and so does stderr.
function cases.lua_objects()
  local code, out, err = h.nnrun(string.format("%s --out a --quiet --set train.epochs=2",
    q(src .. "/experiments/regression.lua")))
  expect_exit(code, 0, out, err)
  local want = "nnrun: a/config.yaml cannot be run again: data.train, data.test, model, "
    .. "optimizer and schedule are Lua objects of " .. src .. "/experiments/regression.lua "
    .. "(run that script instead)\n"
  check(err == want, "stderr:\n%s\nexpected:\n%s", err, want)
  local text = read(dir .. "/a/config.yaml") or ""
  local head = "# This configuration cannot be run again: data.train, data.test, model, "
    .. "optimizer and schedule\n# are Lua objects of " .. src .. "/experiments/regression.lua "
    .. "(run that script instead).\n"
  check(text:sub(1, #head) == head, "config.yaml begins:\n%s\nexpected:\n%s",
    text:sub(1, #head + 40), head)
  code, out, err = h.nnrun("a/config.yaml --out b --quiet")
  expect_exit(code, 2, out, err)
  check(not read(dir .. "/b/config.yaml"), "b/ created")
  -- A Lua experiment of plain tables records a config that runs again.
  write(dir .. "/plain.lua", [[
return { name = "plain", data = { generator = "xor" }, loss = "bce",
  model = { layers = { { dense = 4, activation = "tanh" }, { dense = 1, activation = "sigmoid" } } },
  optimizer = { lr = 0.5 }, train = { epochs = 5, batch_size = 4 } }
]])
  os.execute("rm -rf " .. q(dir .. "/a") .. " " .. q(dir .. "/b"))
  local t = roundtrip(dir .. "/plain.lua")
  check(not t:find("^#"), "plain config.yaml has a comment:\n%s", t)
end

-- Class labels that the network's outputs cannot hold are refused once the
-- data is read, before anything is created: exit 2, located at the layer.
function cases.class_count()
  local kinds = {}
  for i = 1, 10 do
    kinds[i] = "k" .. i
  end
  class_csv("ten.csv", 40, 1, { kinds = kinds })
  local lines = { "a,b,c,d,species" }
  for i = 0, 39 do
    lines[#lines + 1] = string.format("%d,%d,1,2,%d", i, i % 3, i % 5)
  end
  write(dir .. "/five.csv", table.concat(lines, "\n") .. "\n")
  idx_files("four", 40, 4, 1)
  class_csv("iris.csv", 30, 1)
  local exp = [[
name: cc
data:
  %s
model:
  input: %d
  layers:
    - {dense: 8, activation: relu}
    - {dense: 3}
loss: cross_entropy
train: { epochs: 1 }
]]
  for _, c in ipairs({
    { "csv: { path: ten.csv, label: species }", 4, "ten.csv has 10 classes" },
    { "csv: { path: five.csv, target: class_int }", 4, "five.csv has 5 classes" },
    { "idx: { images: four-images.idx, labels: four-labels.idx }", 9,
      "four-labels.idx has 4 classes" },
    { "csv: { path: iris.csv, label: species }\n  test: { csv: { path: five.csv, "
      .. "target: class_int } }", 4, "five.csv has 5 classes" },
  }) do
    write(dir .. "/cc.yaml", string.format(exp, c[1], c[2]))
    local code, out, err = h.nnrun("cc.yaml")
    expect_exit(code, 2, out, err)
    local want = string.format("nnrun: cc.yaml:%d:8: model.layers[2].dense: the network has "
      .. "3 outputs, %s\n", 8 + select(2, c[1]:gsub("\n", "")), c[3])
    check(err == want, "stderr:\n%s\nexpected:\n%s", err, want)
    check(not read(dir .. "/runs/cc") and os.execute("test -d " .. q(dir .. "/runs")) ~= true,
      "a run directory was created")
  end
  -- model.input must be the data's features.
  write(dir .. "/cc.yaml", string.format(exp, "csv: { path: ten.csv, label: species }", 5))
  local code, out, err = h.nnrun("cc.yaml")
  expect_exit(code, 2, out, err)
  local want = "nnrun: cc.yaml:5:3: model.input: is 5, but ten.csv has 4 features\n"
  check(err == want, "stderr:\n%s\nexpected:\n%s", err, want)
  -- Enough outputs: it runs.
  write(dir .. "/cc.yaml", string.format(exp, "csv: { path: five.csv, target: class_int }", 4)
    :gsub("dense: 3", "dense: 5"))
  code, out, err = h.nnrun("cc.yaml --quiet --out ok")
  expect_exit(code, 0, out, err)
end

-- A bad data file: one line naming the file and its line (counted from 1
-- as an editor does, the header being line 1), no path inside nnrun's own
-- scripts, exit 2, nothing created.
function cases.data_errors()
  write(dir .. "/bad.csv", "a,b,c\n1,2,x\n3,zz,y\n")
  write(dir .. "/bad.idx", "\0\0\8\3")
  local exp = [[
name: bad
data:
  %s
model:
  input: 2
  layers: [{dense: 2}]
loss: cross_entropy
]]
  for _, c in ipairs({
    { "csv: { path: bad.csv }", "nnrun: bad.csv:3: column 2 ('b'): 'zz' is not a number\n" },
    { "csv: { path: bad.csv, label: 9 }", "nnrun: bad.csv: label column 9 is out of range (the "
      .. "file has 3 columns)\n" },
    { "csv: { path: bad.csv, label: z }", "nnrun: bad.csv: no column named 'z' (the header has 3 "
      .. "columns, the first 'a')\n" },
    { "idx: { images: bad.idx, labels: bad.idx }", "nnrun: bad.idx: truncated IDX header\n" },
  }) do
    write(dir .. "/bad.yaml", string.format(exp, c[1]))
    local code, out, err = h.nnrun("bad.yaml")
    expect_exit(code, 2, out, err)
    check(err == c[2], "stderr:\n%s\nexpected:\n%s", err, c[2])
    check(os.execute("test -d " .. q(dir .. "/runs")) ~= true, "a run directory was created")
  end
end

-- A per-batch cosine schedule without total follows train.epochs (--set);
-- one whose total ends before the last epoch is warned about.
function cases.schedule_epochs()
  write(dir .. "/sch.yaml", [[
name: sch
data: { generator: digits03, n_per_class: 25 }
model: { input: 64, layers: [{dense: 4}] }
loss: cross_entropy
optimizer: { lr: 0.1 }
schedule: { name: cosine, per_batch: true, warmup: 5 }
train: { epochs: 3, batch_size: 16 }
output: { checkpoint_every: 0 }
]])
  -- 80 training samples: 5 batches per epoch.
  local code, out, err = h.nnrun("sch.yaml --quiet --out a --set train.epochs=6")
  expect_exit(code, 0, out, err)
  check(err == "", "stderr: %s", err)
  local cfg = read(dir .. "/a/config.yaml") or ""
  check(cfg:find("\n  total: 25\n", 1, true), "total is not 6 * 5 - 5:\n%s", cfg)
  local last = (read(dir .. "/a/metrics.jsonl") or ""):match('"epoch":6,[^\n]*"lr":([-%d.eE+]+)')
  check(last and tonumber(last) > 0, "epoch 6 lr %s", last)
  code, out, err = h.nnrun("explain sch.yaml")
  expect_exit(code, 0, out, err)
  check(out:find("(cosine, over 10 batches to 0, warm-up 5 batches", 1, true), "explain:\n%s", out)
  code, out, err = h.nnrun("sch.yaml --quiet --out b --set train.epochs=6 --set schedule.total=10")
  expect_exit(code, 0, out, err)
  local want = "nnrun: warning: the learning rate reaches 0 in epoch 4 of 6 (schedule.warmup 5 "
    .. "+ schedule.total 10 batches); leave schedule.total out to follow train.epochs\n"
  check(err == want, "stderr:\n%s\nexpected:\n%s", err, want)
end

-- Data paths: relative to the experiment file, unless they exist from the
-- current directory (the older rule, kept); config.yaml holds the path as
-- opened, so it runs again; a sweep's trials find the files too.
function cases.paths()
  os.execute("mkdir -p " .. q(dir .. "/sub"))
  class_csv("sub/iris.csv", 60, 1)
  class_csv("here.csv", 60, 2)
  local exp = [[
name: p
data:
  csv: { path: %s, label: species }
model: { layers: [{dense: 3}] }
loss: cross_entropy
train: { epochs: 2 }
]]
  write(dir .. "/sub/exp.yaml", string.format(exp, "iris.csv"))
  local cfg = roundtrip(dir .. "/sub/exp.yaml")
  check(cfg:find("\n    path: " .. dir .. "/sub/iris.csv\n", 1, true), "config.yaml:\n%s", cfg)
  os.execute("rm -rf " .. q(dir .. "/a") .. " " .. q(dir .. "/b"))
  write(dir .. "/sub/rel.yaml", string.format(exp, "iris.csv"))
  local code, out, err = h.nnrun("sub/rel.yaml --quiet --out a")
  expect_exit(code, 0, out, err)
  check((read(dir .. "/a/config.yaml") or ""):find("\n    path: sub/iris.csv\n", 1, true),
    "config.yaml:\n%s", read(dir .. "/a/config.yaml"))
  code, out, err = h.nnrun("a/config.yaml --quiet --out b")
  expect_exit(code, 0, out, err)
  -- A path that exists from the current directory is taken from there.
  write(dir .. "/sub/here.yaml", string.format(exp, "here.csv"))
  code, out, err = h.nnrun("sub/here.yaml --quiet --out c")
  expect_exit(code, 0, out, err)
  check((read(dir .. "/c/config.yaml") or ""):find("\n    path: here.csv\n", 1, true),
    "config.yaml:\n%s", read(dir .. "/c/config.yaml"))
  write(dir .. "/sub/none.yaml", string.format(exp, "nope.csv"))
  code, out, err = h.nnrun("sub/none.yaml")
  expect_exit(code, 2, out, err)
  local want = "nnrun: sub/none.yaml:3:10: data.csv.path: no such file 'nope.csv' (looked in the "
    .. "current directory and in sub/)\n"
  check(err == want, "stderr:\n%s\nexpected:\n%s", err, want)
  -- A sweep in another directory over sub/rel.yaml.
  write(dir .. "/sw.yaml", "name: sw\nexperiment: sub/rel.yaml\nmetric: test_loss\n"
    .. "grid:\n  optimizer.lr: [0.01, 0.1]\n")
  code, out, err = h.nnrun("sweep sw.yaml --quiet --out sw --jobs 1")
  expect_exit(code, 0, out, err)
end

-- data.standardize_targets: the network learns standardised targets, the
-- figures are in the data's units (the run's and eval's alike, through the
-- checkpoint), the summary line shows R²; config.yaml runs again.
function cases.standardize()
  regression_csv("reg.csv", 200, 3)
  write(dir .. "/reg.yaml", [[
name: reg
data:
  csv: { path: reg.csv, label: y, target: regression }
  standardize_targets: true
model:
  layers: [{dense: 16, activation: tanh}, {dense: 1}]
loss: mse
optimizer: { lr: 0.05, momentum: 0.9 }
train: { epochs: 30, batch_size: 16 }
]])
  local cfg = roundtrip(dir .. "/reg.yaml")
  check(cfg:find("\n  standardize_targets: true\n", 1, true), "config.yaml:\n%s", cfg)
  local out = read(dir .. "/out.txt") or ""
  local r2 = tonumber(out:match("^reg: completed after 30 epochs in [^,]*, test loss [%d.e+-]+, "
    .. "test R² ([%d.]+) %-> b\n$"))
  check(r2 and r2 > 0.99, "summary line: %s", out)
  local summary = read(dir .. "/a/summary.json") or ""
  local loss = tonumber(summary:match('"test_loss": ([-%d.eE+]+)'))
  -- Figures in the data's units: y spans some 80 units; a loss near the
  -- noise (uniform [0, 1): variance 1/12), not standardised (about 1/1000).
  check(loss and loss > 0.05 and loss < 2, "test_loss %s", loss)
  local code, eout, err = h.nnrun("eval a/model.nnrun reg.yaml --quiet")
  expect_exit(code, 0, eout, err)
  local want = string.format("a/model.nnrun on reg.yaml: loss %.6g, ", loss)
  check(eout:sub(1, #want) == want, "eval: %s\nexpected to begin: %s", eout, want)
  code, eout, err = h.nnrun("eval a/model.nnrun reg.csv --quiet")
  expect_exit(code, 0, eout, err)
  local er2 = tonumber(eout:match("R² ([%d.]+) %(200 samples%)"))
  check(er2 and er2 > 0.99, "eval on the CSV: %s", eout)
  write(dir .. "/cls.yaml", "data:\n  csv: { path: reg.csv }\n  standardize_targets: true\n"
    .. "model: { layers: [{dense: 2}] }\nloss: cross_entropy\n")
  code, eout, err = h.nnrun("cls.yaml")
  expect_exit(code, 2, eout, err)
  check(err == "nnrun: cls.yaml:3:3: data.standardize_targets: needs regression targets "
    .. "(data.csv.target: regression)\n", "stderr: %s", err)
end

-- nnrun eval on the very CSV a model was trained on: text classes through
-- the checkpoint's class names, the training's CSV options as defaults.
function cases.eval_csv()
  class_csv("iris.csv", 90, 1)
  class_csv("semi.csv", 30, 4)
  os.execute("sed 's/,/;/g' " .. q(dir .. "/semi.csv") .. " > " .. q(dir .. "/semi2.csv"))
  write(dir .. "/iris.yaml", [[
name: iris
data:
  csv: { path: iris.csv, label: species }
model: { layers: [{dense: 8, activation: relu}, {dense: 3}] }
loss: cross_entropy
optimizer: { lr: 0.1, momentum: 0.9 }
train: { epochs: 10, batch_size: 16 }
]])
  local code, out, err = h.nnrun("iris.yaml --quiet --out r")
  expect_exit(code, 0, out, err)
  code, out, err = h.nnrun("eval r/model.nnrun iris.csv --quiet")
  expect_exit(code, 0, out, err)
  check(out:match("^r/model.nnrun on iris.csv: loss [%d.]+, accuracy [%d.]+%%, macro F1 [%d.]+ "
    .. "%(90 samples%)\n$"), "eval: %s", out)
  -- The confusion table names the classes.
  code, out, err = h.nnrun("eval r/model.nnrun iris.csv")
  check(out:find("\n0 setosa ", 1, true) and out:find("\n2 virginica ", 1, true), "table:\n%s", out)
  code, out, err = h.nnrun("eval r/model.nnrun semi2.csv --quiet --delimiter ';' --label species "
    .. "--target class")
  expect_exit(code, 0, out, err)
  check(out:match("%(30 samples%)\n$"), "eval with options: %s", out)
  code, out, err = h.nnrun("eval r/model.nnrun iris.csv --target nominal")
  expect_exit(code, 2, out, err)
  check(err == "nnrun: option --target needs one of class, class_int, regression, got "
    .. "'nominal'\n", "stderr: %s", err)
  write(dir .. "/odd.csv", "a,b,c,d,species\n1,2,3,4,tulip\n")
  code, out, err = h.nnrun("eval r/model.nnrun odd.csv")
  expect_exit(code, 2, out, err)
  check(err:match("^nnrun: odd.csv:2: ") and not err:find("%.lua:%d"), "stderr: %s", err)
end

-- data.csv.header: false reads the first line as data (it was silently
-- taken for column names); eval reads the file the same way.
function cases.csv_header()
  class_csv("h.csv", 50, 3, { header = false, kinds = { "0", "1", "2" } })
  write(dir .. "/h.yaml", [[
name: h
data:
  csv: { path: h.csv, header: false, target: class_int }
  test_split: 0
model: { layers: [{dense: 3}] }
loss: cross_entropy
train: { epochs: 2 }
]])
  local cfg = roundtrip(dir .. "/h.yaml")
  check(cfg:find("\n    header: false\n", 1, true), "config.yaml:\n%s", cfg)
  local code, out, err = h.nnrun("eval a/model.nnrun h.csv --quiet")
  expect_exit(code, 0, out, err)
  check(out:match("%(50 samples%)\n$"), "eval: %s", out)
  code, out, err = h.nnrun("eval a/model.nnrun h.csv --quiet --header true")
  expect_exit(code, 0, out, err)
  check(out:match("%(49 samples%)\n$"), "eval --header true: %s", out)
  write(dir .. "/n.yaml", "data:\n  csv: { path: h.csv, header: false, label: species }\n"
    .. "model: { layers: [{dense: 3}] }\nloss: cross_entropy\n")
  code, out, err = h.nnrun("n.yaml")
  expect_exit(code, 2, out, err)
  check(err == "nnrun: n.yaml:2:38: data.csv.label: a column name needs a header row (header: "
    .. "false: give its index from 1, or -1 for the last)\n", "stderr: %s", err)
end

h.main(cases, case)
