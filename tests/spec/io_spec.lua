-- The Lua side of data files, normalisation, metrics and checkpoints.
local nn = require "nnrun"

local tmp = os.tmpname()
os.remove(tmp)
os.execute("mkdir -p " .. tmp)

local function write(name, bytes)
  local f = assert(io.open(tmp .. "/" .. name, "wb"))
  f:write(bytes)
  f:close()
  return tmp .. "/" .. name
end

local function be32(n)
  return string.pack(">I4", n)
end

-- n images of 2x2 bytes, and labels i % classes.
local function idx_files(n, classes)
  local img, lab = { be32(0x803), be32(n), be32(2), be32(2) }, { be32(0x801), be32(n) }
  for i = 0, n - 1 do
    img[#img + 1] = string.char(i % 256, (3 * i) % 256, 255, 0)
    lab[#lab + 1] = string.char(i % classes)
  end
  return write("img.idx", table.concat(img)), write("lab.idx", table.concat(lab))
end

local function weights(n)
  return { n:weights(1):totable(), n:weights(3):totable(), n:bias(3):totable() }
end

local function err(fn)
  local ok, e = pcall(fn)
  assert(not ok, "expected an error")
  return (tostring(e):gsub("^[^:]*:%d+: ", ""))
end

describe("data files", function()
  it("gives the image shape {C, H, W} of IDX files of 3 and 4 dimensions, plain or gzip", function()
    local images, labels = idx_files(6, 2)
    local d = nn.datasets.idx{ images = images, labels = labels }
    assert.same({ 1, 2, 2 }, d:shape())
    local a, b = d:split(0.5, 3)
    assert.same({ 1, 2, 2 }, a:shape())
    assert.same({ 1, 2, 2 }, b:shape())
    d:shape()[1] = 9 -- a copy
    assert.same({ 1, 2, 2 }, d:shape())
    -- (N, C, H, W): channels first, the layout of a sample.
    local four = { be32(0x804), be32(6), be32(3), be32(1), be32(2), string.rep("\7", 36) }
    local p4 = write("img4.idx", table.concat(four))
    assert.same({ 3, 1, 2 }, nn.datasets.idx{ images = p4, labels = labels }:shape())
    os.execute("gzip -kf " .. p4)
    local z = nn.datasets.idx{ images = p4 .. ".gz", labels = labels }
    assert.same({ 3, 1, 2 }, z:shape())
    assert.equals(6, z:features())
    -- labels = false: the images alone, their targets zeros, the same pixels
    local bare = nn.datasets.idx{ images = p4 .. ".gz", labels = false }
    assert.same({ 3, 1, 2 }, bare:shape())
    assert.same(z:x():totable(), bare:x():totable())
    assert.same({ { 0 }, { 0 }, { 0 }, { 0 }, { 0 }, { 0 } }, bare:t():totable())
    -- (N, F): flat items, no image shape.
    local two = { be32(0x802), be32(6), be32(4), string.rep("\1", 24) }
    assert.is_nil(nn.datasets.idx{ images = write("img2.idx", table.concat(two)),
      labels = labels }:shape())
    assert.same({ 1, 8, 8 }, nn.datasets.digits03{ n_per_class = 2 }:shape())
    assert.is_nil(nn.datasets.xor():shape())
    assert.is_nil(nn.dataset({ { 1 } }, { { 1 } }):shape())
  end)

  it("reads IDX bytes; x(), split and subsets work on byte storage", function()
    local images, labels = idx_files(20, 4)
    local d = nn.datasets.idx{ images = images, labels = labels, classes = 4,
      class_names = { "a", "b", "c", "d" } }
    assert.equals(4, d:class_count())
    assert.equals(4, nn.datasets.idx{ images = images, labels = labels }:class_count())
    assert.is_true(d:is_compact())
    assert.equals(20, d:size())
    assert.equals(4, d:features())
    assert.same({ 1, 3, 255, 0 }, d:x():totable()[2])
    d:normalize("scale")
    local row = d:x():totable()[2]
    for j, v in ipairs({ 1 / 255, 3 / 255, 1, 0 }) do
      assert.near(v, row[j], 1e-7)
    end
    local a, b = d:split(0.25, 7, { stratify = true })
    assert.equals(16, a:size()) -- per class: round(5 * 0.25) = 1 to validation
    assert.equals(4, b:size())
    assert.is_true(b:is_compact())
    assert.same({ "a", "b", "c", "d" }, b:class_names())
    assert.equals("scale", b:norm().kind)
    local counts = {}
    for _, row in ipairs(b:t():totable()) do
      counts[row[1]] = (counts[row[1]] or 0) + 1
    end
    assert.same({ [0] = 1, 1, 1, 1 }, counts)
    local c, e = d:split(0.25)
    assert.same({ 15, 5 }, { c:size(), e:size() })
    assert.same(d:x():totable()[16], e:x():totable()[1])
  end)

  it("refuses bad files with the runtime's message", function()
    local images = idx_files(3, 2)
    local bad = write("bad.idx", be32(0x801) .. be32(5) .. "\0")
    assert.matches("bad.idx", err(function()
      nn.datasets.idx{ images = images, labels = bad }
    end))
    assert.equals("bad argument #1 to 'idx' (options 'images' and 'labels' are required "
      .. "(labels = false: images alone))", err(function() nn.datasets.idx{ images = images } end))
    assert.matches("option 'labels' must be a string, got boolean",
      err(function() nn.datasets.idx{ images = images, labels = true } end))
    assert.matches("dataset%-fashion%-mnist", err(function()
      nn.datasets.fashion_mnist{ dir = tmp .. "/none" }
    end))
  end)

  it("reads CSV with text classes, regression, and standardises from the training set", function()
    local path = write("d.csv", "x,y,kind\n1,2,cat\n3,4,dog\n5,6,cat\n7,8,dog\n")
    local d = nn.datasets.csv{ path = path, label = "kind" }
    assert.same({ "cat", "dog" }, d:class_names())
    assert.equals(2, d:class_count())
    assert.same({ { 0 }, { 1 }, { 0 }, { 1 } }, d:t():totable())
    assert.equals("d.csv:2: column 3 ('kind'): 'cat' is not a number",
      err(function() nn.datasets.csv{ path = path, label = 1, target = "regression" } end)
        :gsub("^.*/", ""))
    local num = write("n.csv", "a;b;t\n1;10;0.5\n3;10;1.5\n")
    local r = nn.datasets.csv{ path = num, label = "t", target = "regression", delimiter = ";" }
    local test = nn.datasets.csv{ path = num, label = -1, target = "regression", delimiter = ";" }
    r:normalize("standardize")
    test:normalize_like(r:norm())
    assert.same({ { -1, 0 }, { 1, 0 } }, test:x():totable())
    assert.same({ { 0.5 }, { 1.5 } }, r:t():totable())
    assert.is_nil(r:class_count()) -- 0.5 is no class
    local mean, sd = r:target_stats()
    assert.same({ { 1 }, { 0.5 } }, { mean, sd })
    r:scale_targets(mean, sd)
    assert.same({ { -1 }, { 1 } }, r:t():totable())
    assert.same({ { 0.5 }, { 1.5 } }, test:t():totable()) -- another data set: unchanged
    assert.same({ { 5 }, { 1 } }, { nn.dataset({ { 1 } }, { { 5 } }):target_stats() }) -- constant
    assert.equals("scale targets: column 1: shift 0, div 0 (must be finite, div > 0)",
      err(function() r:scale_targets({ 0 }, { 0 }) end))
    assert.equals(7, nn.dataset({ { 1 }, { 2 } }, { { 6 }, { 0 } }):class_count())
    assert.is_nil(nn.dataset({ { 1 } }, { { 0, 1 } }):class_count())
  end)
end)

describe("metrics and checkpoints", function()
  local function data()
    return nn.datasets.digits03{ n_per_class = 30, noise = 0.2, seed = 2 }
  end
  local function net()
    return nn.sequential({ nn.dense(64, 16), nn.relu(), nn.dense(4) }, { seed = 5 })
  end
  local opts = { loss = "cross_entropy", optimizer = { lr = 0.1, momentum = 0.9 },
    batch_size = 16, epochs = 4, seed = 9 }

  it("gives classification metrics with a confusion matrix", function()
    local n, d = net(), data()
    nn.fit(n, d, opts)
    local m = nn.metrics(n, d, "cross_entropy", { top_k = 2 })
    assert.equals(120, m.samples)
    assert.is_true(m.classification)
    assert.equals(2, m.top_k)
    assert.equals(4, #m.confusion)
    local total, diag = 0, 0
    for i = 1, 4 do
      for j = 1, 4 do
        total = total + m.confusion[i][j]
      end
      diag = diag + m.confusion[i][i]
    end
    assert.equals(120, total)
    assert.near(m.accuracy, diag / 120, 1e-12)
    assert.equals(4, #m.f1)
    local reg = nn.metrics(nn.sequential{ nn.dense(1, 1) }, nn.datasets.curve{ n = 10 }, "mse")
    assert.is_false(reg.classification)
    assert.is_number(reg.r2)
    assert.is_nil(reg.accuracy)
  end)

  it("resumes from a checkpoint saved in on_epoch exactly", function()
    local d = data()
    local whole = net()
    nn.fit(whole, d, opts)
    local path = tmp .. "/ck.nnrun"
    local first = net()
    local o = {}
    for k, v in pairs(opts) do
      o[k] = v
    end
    o.on_epoch = function(s, trainer)
      first:save(path, { trainer = trainer, config = "a: 1\n", norm = d, meta = { k = "v" } })
      return s.epoch < 2 -- stop after epoch 2
    end
    nn.fit(first, d, o)
    local loaded, info = nn.load(path)
    assert.same({ 2, true, "a: 1\n", "v" }, { info.epoch, info.has_trainer, info.config,
      info.meta.k })
    local again = net() -- fresh weights: resume replaces them
    o.on_epoch, o.resume = nil, path
    local hist = nn.fit(again, d, o)
    assert.equals(2, #hist)
    assert.equals(3, hist[1].epoch)
    assert.same(weights(whole), weights(again))
    assert.same(weights(first), weights(loaded))
    assert.equals("bad argument #2 to 'save' (trainer: the trainer is closed (use it inside "
      .. "on_epoch))", err(function()
        local kept
        nn.fit(net(), d, { epochs = 1, loss = "cross_entropy", on_epoch = function(_, t)
          kept = t
        end })
        first:save(path, { trainer = kept })
      end))
  end)
end)
