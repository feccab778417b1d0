-- scripts/nnrun/halving.lua: the rungs and the decisions of asynchronous
-- successive halving, on problems whose answer is worked out by hand in
-- the comments (nothing is trained: results are given).
local halving = require "nnrun.halving"
local sweep = require "nnrun.sweep"

local function h(min, max, eta, mode)
  local t = { min_epochs = min, max_epochs = max, eta = eta, mode = mode or "max" }
  t.rungs = halving.rungs(t)
  return t
end

-- Runs a halving sweep with one worker: every job's result is metric(id,
-- rung).  Returns the jobs in the order they were handed out, "id@rung".
local function serial(hv, n, metric, status)
  local ids = {}
  for i = 1, n do
    ids[i] = i
  end
  local st = halving.new(hv, ids)
  local seq = {}
  for _ = 1, 100 do
    local j = halving.next(st)
    if not j then
      break
    end
    assert.equals(hv.rungs[j.rung + 1], j.epochs)
    seq[#seq + 1] = j.id .. "@" .. j.rung
    halving.done(st, j.id, j.rung, status and status(j.id, j.rung) or "completed",
      metric(j.id, j.rung))
  end
  assert.is_true(halving.finished(st))
  return seq, st
end

local VALUES = { 0.5, 0.9, 0.1, 0.7, 0.3, 0.8, 0.2, 0.6, 0.4 }
local function by_value(id, rung)
  return VALUES[id] + rung
end

describe("halving.rungs", function()
  it("multiplies by eta below max_epochs, then ends at max_epochs", function()
    assert.same({ 1, 3, 9 }, h(1, 9, 3).rungs)
    assert.same({ 2, 6, 9 }, h(2, 9, 3).rungs)
    assert.same({ 1, 2, 4, 8 }, h(1, 8, 2).rungs)
    assert.same({ 1, 2, 4, 8, 10 }, h(1, 10, 2).rungs)
    assert.same({ 5, 6 }, h(5, 6, 3).rungs)
  end)
end)

describe("halving decisions", function()
  -- eta 3, max: rung 0 promotes floor(n/3) of its n results.  After 1, 2,
  -- 3: top 1 of {.5, .9, .1} is 2.  2@1 alone in rung 1 promotes nothing;
  -- 4, 5 (top 1 still 2); 6: top 2 of six is {2 (.9), 6 (.8)}: 6 goes up.
  -- 7, 8; 9: top 3 adds 4 (.7).  4@1 makes rung 1 three: its top 1 (2)
  -- goes to rung 2.  Then nothing is left.
  it("promotes the top 1/eta of a rung (eta 3, max), highest rung first", function()
    local seq = serial(h(1, 9, 3, "max"), 9, by_value)
    assert.same({ "1@0", "2@0", "3@0", "2@1", "4@0", "5@0", "6@0", "6@1", "7@0", "8@0", "9@0",
      "4@1", "2@2" }, seq)
  end)

  -- min: best are 3 (.1), 7 (.2), 5 (.3), 9 (.4).  1, 2, 3 -> 3 up; 4, 5,
  -- 6: top 2 = {3, 5}: 5 up.  7: top 2 of seven is now {3, 7}: 7 up (5
  -- stays promoted: a decision is never taken back).  Rung 1 {3, 5, 7}:
  -- top 1 is 3 (1.1): to rung 2.  8, 9: top 3 {3, 7, 5} all promoted.
  it("ranks the other way for mode min, and never waits for a rung to fill", function()
    local seq = serial(h(1, 9, 3, "min"), 9, by_value)
    assert.same({ "1@0", "2@0", "3@0", "3@1", "4@0", "5@0", "6@0", "5@1", "7@0", "7@1", "3@2",
      "8@0", "9@0" }, seq)
  end)

  -- eta 2, every metric equal: ties go to the lower id.  1, 2 -> 1 up;
  -- 1@1; 3, 4 -> top 2 of rung 0 {1, 2}: 2 up; rung 1 {1, 2}: 1 up.
  it("breaks ties by the lower trial id (eta 2)", function()
    local seq = serial(h(1, 4, 2), 4, function() return 0.5 end)
    assert.same({ "1@0", "2@0", "1@1", "3@0", "4@0", "2@1", "1@2" }, seq)
  end)

  -- Two workers, eta 2, max; values 1: .2, 2: .9, 3: .5, 4: .1.
  it("decides as results come, in any order (two workers)", function()
    local v = { 0.2, 0.9, 0.5, 0.1 }
    local st = halving.new(h(1, 4, 2), { 1, 2, 3, 4 })
    local function take()
      local j = halving.next(st)
      return j and (j.id .. "@" .. j.rung)
    end
    local function done(id, rung)
      halving.done(st, id, rung, "completed", v[id] + rung)
    end
    assert.equals("1@0", take())
    assert.equals("2@0", take())
    done(1, 0) -- rung 0 {1}: nothing to promote
    assert.equals("3@0", take())
    done(3, 0) -- rung 0 {1, 3}: 3 goes up while 2 still runs
    assert.equals("3@1", take())
    assert.is_false(halving.finished(st))
    done(2, 0) -- rung 0 {1, 3, 2}: top 1 is 2
    assert.equals("2@1", take())
    done(3, 1) -- rung 1 {3}; rung 0's top 1 (2) is promoted: a new trial
    assert.equals("4@0", take())
    done(2, 1) -- rung 1 {3, 2}: 2 (1.9) to rung 2
    assert.equals("2@2", take())
    done(4, 0) -- rung 0's top 2 {2, 3} are promoted, no trial is left
    assert.is_nil(take())
    assert.is_false(halving.finished(st)) -- 2@2 runs
    done(2, 2)
    assert.is_nil(take())
    assert.is_true(halving.finished(st))
  end)

  -- eta 2.  Rung 0 holds six results, top 3 {5 (.95), 1 (.9), 6 (.85)};
  -- rung 1 holds 1 (1.9) and 2 (1.8), top 1 {1}.  Both can promote: the
  -- higher rung goes first, then rung 0's best not promoted yet.
  it("promotes from the highest rung first", function()
    local st = halving.new(h(1, 4, 2), { 1, 2, 3, 4, 5, 6 })
    for id, m in ipairs({ 0.9, 0.8, 0.1, 0.2, 0.95, 0.85 }) do
      halving.done(st, id, 0, "completed", m)
    end
    st.promoted[0][1], st.promoted[0][2] = true, true
    halving.done(st, 1, 1, "completed", 1.9)
    halving.done(st, 2, 1, "completed", 1.8)
    st.next_new = 7
    local seq = {}
    for _ = 1, 3 do
      local j = halving.next(st)
      seq[#seq + 1] = j.id .. "@" .. j.rung .. " from " .. j.from
    end
    assert.same({ "1@2 from 1", "5@1 from 0", "6@1 from 0" }, seq)
    assert.is_nil(halving.next(st))
  end)

  it("counts failed results in a rung but never promotes them", function()
    -- eta 2: trial 1 failed, trial 2 completed: top 1 of two is 2.
    local seq = serial(h(1, 2, 2), 2, function(id) return id == 1 and 0 / 0 or 0.3 end,
      function(id) return id == 1 and "failed" or "completed" end)
    assert.same({ "1@0", "2@0", "2@1" }, seq)
    -- A trial early stopping ended holds its place in the top: no promotion.
    seq = serial(h(1, 2, 2), 2, function(id) return id == 1 and 0.9 or 0.3 end,
      function(id) return id == 1 and "stopped_early" or "completed" end)
    assert.same({ "1@0", "2@0" }, seq)
  end)

  it("continues from trials.jsonl lines: a promotion without its result runs first", function()
    local hv = h(1, 4, 2)
    local st = halving.new(hv, { 1, 2, 3 })
    for _, l in ipairs({
      { id = 1, rung = 0, status = "completed", metric = 0.1 },
      { id = 2, rung = 0, status = "completed", metric = 0.7 },
      { id = 2, rung = 0, status = "promoted", promoted_to = 1 },
    }) do
      halving.record(st, l)
    end
    local j = halving.next(st)
    assert.same({ id = 2, rung = 1, epochs = 2, from = 0, again = true }, j)
    halving.done(st, 2, 1, "completed", 1.7)
    assert.equals("3@0", (function() local k = halving.next(st) return k.id .. "@" .. k.rung end)())
    -- A promotion whose result was recorded is not run again.
    st = halving.new(hv, { 1, 2, 3 })
    for _, l in ipairs({
      { id = 1, rung = 0, status = "completed", metric = 0.1 },
      { id = 2, rung = 0, status = "completed", metric = 0.7 },
      { id = 2, rung = 0, status = "promoted", promoted_to = 1 },
      { id = 2, rung = 1, status = "completed", metric = 1.7, promoted_from = 0 },
    }) do
      halving.record(st, l)
    end
    assert.same({ id = 3, rung = 0, epochs = 1 }, halving.next(st))
  end)
end)

describe("the halving section of a sweep", function()
  local BASE = {
    data = { generator = "xor" },
    model = { layers = { { dense = 4, activation = "tanh" }, { dense = 1, activation = "sigmoid" } } },
    loss = "bce",
    train = { epochs = 3, batch_size = 4 },
  }
  local function errors(hv, extra)
    local doc = { base = BASE, metric = "train_loss", grid = { ["optimizer.lr"] = { 0.1 } },
      halving = hv }
    for k, v in pairs(extra or {}) do
      doc[k] = v
    end
    local s, errs = sweep.resolve(doc)
    assert.is_nil(s)
    local out = {}
    for i, e in ipairs(errs) do
      out[i] = e.path .. ": " .. e.message
    end
    return out
  end

  it("fills eta, metric and mode from the sweep", function()
    local s = assert(sweep.resolve({ base = BASE, metric = "val_accuracy", grid = { seed = { 1 } },
      halving = { min_epochs = 1, max_epochs = 9 } }))
    assert.same({ min_epochs = 1, max_epochs = 9, eta = 3, metric = "val_accuracy", mode = "max",
      rungs = { 1, 3, 9 } }, s.halving)
    s = assert(sweep.resolve({ base = BASE, metric = "val_accuracy", grid = { seed = { 1 } },
      halving = { min_epochs = 2, max_epochs = 4, eta = 2, metric = "val_loss" } }))
    assert.equals("min", s.halving.mode)
  end)

  it("checks its keys and values", function()
    assert.same({ "halving.eta: must be >= 2, got 1" },
      errors({ min_epochs = 1, max_epochs = 9, eta = 1 }))
    assert.same({ "halving.max_epochs: must be > halving.min_epochs (3), got 3" },
      errors({ min_epochs = 3, max_epochs = 3 }))
    assert.same({ "halving.etta: unknown key (did you mean 'eta'?)",
      "halving.min_epochs: missing (required)", "halving.max_epochs: expected an integer, got 2.5",
      "halving.mode: unknown value 'up' (expected one of: max, min)" },
      errors({ etta = 3, max_epochs = 2.5, mode = "up" }))
    assert.same({ "halving: expected a mapping (min_epochs, max_epochs, eta, metric, mode), got 3" },
      errors(3))
    assert.same({ "grid.train.epochs: halving sets train.epochs (halving.min_epochs to "
      .. "max_epochs)" }, errors({ min_epochs = 1, max_epochs = 3 },
      { grid = { ["train.epochs"] = { 1, 2 } } }))
  end)

  it("ranks a halving sweep's results by rung first", function()
    local list = sweep.rank({
      { id = 1, rung = 0, status = "completed", metric = 0.1 },
      { id = 2, rung = 2, status = "completed", metric = 0.5 },
      { id = 3, rung = 2, status = "completed", metric = 0.3 },
      { id = 4, rung = 1, status = "completed", metric = 0.2 },
    }, "min")
    local ids = {}
    for i, t in ipairs(list) do
      ids[i] = t.id
    end
    assert.same({ 3, 2, 4, 1 }, ids)
  end)
end)
