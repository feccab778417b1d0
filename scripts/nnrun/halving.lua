-- nnrun.halving: asynchronous successive halving (ASHA, Li et al. 2018) for
-- sweeps: the `halving:` section of a sweep file and the decision of what a
-- free worker does next.  Pure Lua: it starts nothing and reads no file
-- (tests/spec/halving_spec.lua); nnrun.sweep runs the jobs it hands out.
--
-- Rungs: rung 0 trains min_epochs, rung k min_epochs * eta^k, the last rung
-- max_epochs (min 1, max 9, eta 3: 1, 3, 9 epochs).  A free worker takes
-- the first promotable trial, looking from the highest rung down: a trial
-- of rung k (not the last) whose result ranks in the top floor(n / eta) of
-- the n results rung k holds so far (by metric and mode, ties to the lower
-- trial id), that completed (a trial early stopping ended has nothing left
-- to train), and that was not promoted yet.  With none, it starts the next
-- new trial at rung 0.  It never waits for a rung to fill: a rung of n
-- results promotes floor(n / eta) of them, whoever is still running.
local schema = require "nnrun.schema"
local util = require "nnrun.util"

local M = {}

local KEYS = { "min_epochs", "max_epochs", "eta", "metric", "mode" }

-- halving.resolve(c, h, metrics, sweep_metric, sweep_mode) -> halving | nil
-- Checks the sweep's halving section into c (schema's context, paths
-- "halving.*").  metric defaults to the sweep's metric and mode to the
-- sweep's mode for it (else the metric's natural direction).  Returns
-- { min_epochs, max_epochs, eta, metric, mode, rungs = { epochs... } }.
function M.resolve(c, h, metrics, sweep_metric, sweep_mode)
  if not schema.is_mapping(h) then
    schema.fail(c, "halving", "expected a mapping (min_epochs, max_epochs, eta, metric, mode), "
      .. "got %s", schema.describe(h))
    return nil
  end
  local n = #c.errors
  schema.check_keys(c, h, "halving", KEYS)
  local out = {
    min_epochs = schema.field(c, h, "halving", "min_epochs", { type = "integer", required = true,
      min = 1 }),
    max_epochs = schema.field(c, h, "halving", "max_epochs", { type = "integer", required = true,
      min = 1 }),
    eta = schema.field(c, h, "halving", "eta", { type = "integer", default = 3, min = 2 }),
    metric = schema.field(c, h, "halving", "metric", { type = "string", enum = metrics }),
  }
  if out.min_epochs and out.max_epochs and out.max_epochs <= out.min_epochs then
    schema.fail(c, "halving.max_epochs", "must be > halving.min_epochs (%d), got %d",
      out.min_epochs, out.max_epochs)
  end
  local metric = out.metric or sweep_metric
  out.metric = metric
  out.mode = schema.field(c, h, "halving", "mode", { type = "string", enum = { "max", "min" } })
  if not out.mode and h.mode == nil and metric then
    out.mode = (metric == sweep_metric and sweep_mode)
      or (util.higher_is_better(metric) and "max" or "min")
  end
  if #c.errors > n then
    return nil
  end
  out.rungs = M.rungs(out)
  return out
end

-- halving.rungs(h) -> the epochs of each rung: min_epochs * eta^k below
-- max_epochs, then max_epochs.
function M.rungs(h)
  local out, e = {}, h.min_epochs
  while e < h.max_epochs do
    out[#out + 1] = e
    e = e * h.eta
  end
  out[#out + 1] = h.max_epochs
  return out
end

-- ---- the state of a halving sweep -------------------------------------------

-- A result can rank when its trial finished with a figure.
local DONE = { completed = true, stopped_early = true }
local function ranked(r)
  return DONE[r.status] and type(r.metric) == "number" and r.metric == r.metric
end

-- halving.new(h, ids) -> state.  ids: the trial ids in the order new trials
-- start.  state.results[k]: the results of rung k (k from 0) in the order
-- they came, { id, status, metric }; state.promoted[k][id]: id left rung k.
function M.new(h, ids)
  local st = { h = h, rungs = h.rungs or M.rungs(h), ids = ids, next_new = 1, started = {},
    results = {}, promoted = {}, running = {}, redo = {} }
  for k = 0, #st.rungs - 1 do
    st.results[k], st.promoted[k] = {}, {}
  end
  return st
end

-- halving.before(mode) -> the order of results, best first, for
-- table.sort: the ranked ones (finished with a figure) by their rung (the
-- highest first; no rung is rung 0), then metric and mode, ties to the
-- lower id; then the unranked, by id.  (The sweep's ranking too.)
function M.before(mode)
  local max = mode == "max"
  return function(a, b)
    local ra, rb = ranked(a), ranked(b)
    if ra ~= rb then
      return ra
    end
    local ka, kb = math.tointeger(a.rung) or 0, math.tointeger(b.rung) or 0
    if ra and ka ~= kb then
      return ka > kb
    end
    if ra and a.metric ~= b.metric then
      if max then
        return a.metric > b.metric
      end
      return a.metric < b.metric
    end
    return a.id < b.id
  end
end
M.ranked = ranked

-- The results of rung k, best first (halving.before).
function M.ranking(st, k)
  local list = {}
  for i, r in ipairs(st.results[k]) do
    list[i] = r
  end
  table.sort(list, M.before(st.h.mode))
  return list
end

-- halving.promotable(st) -> id, k | nil: the trial to promote out of rung
-- k now, if any.
function M.promotable(st)
  for k = #st.rungs - 2, 0, -1 do
    local list = M.ranking(st, k)
    local top = #list // st.h.eta
    for i = 1, top do
      local r = list[i]
      if ranked(r) and r.status == "completed" and not st.promoted[k][r.id] then
        return r.id, k
      end
    end
  end
  return nil
end

-- A job: { id, rung, epochs, from, again } (from: the rung a promotion
-- leaves; again: a promotion recorded before, run again).
local function job(st, id, rung, from, again)
  st.running[id] = rung
  return { id = id, rung = rung, epochs = st.rungs[rung + 1], from = from, again = again }
end

-- halving.next(st) -> job | nil.  A promotion is marked at once (the caller
-- records it: halving.record of its promotion line on resume); nil means
-- nothing to start now (the results of running jobs may promote some).
function M.next(st)
  local redo = table.remove(st.redo, 1)
  if redo then
    return job(st, redo.id, redo.rung, redo.from, true)
  end
  local id, k = M.promotable(st)
  if id then
    st.promoted[k][id] = true
    return job(st, id, k + 1, k)
  end
  while st.next_new <= #st.ids do
    id = st.ids[st.next_new]
    st.next_new = st.next_new + 1
    if not st.started[id] then
      st.started[id] = true
      return job(st, id, 0)
    end
  end
  return nil
end

-- halving.finished(st) -> whether nothing runs and nothing is left to start.
function M.finished(st)
  if next(st.running) or #st.redo > 0 or M.promotable(st) then
    return false
  end
  for i = st.next_new, #st.ids do
    if not st.started[st.ids[i]] then
      return false
    end
  end
  return true
end

-- halving.done(st, id, rung, status, metric): the result of a job.
function M.done(st, id, rung, status, metric)
  st.running[id] = nil
  st.started[id] = true
  local rs = st.results[rung]
  rs[#rs + 1] = { id = id, status = status, metric = metric }
end

-- halving.record(st, line): one line of trials.jsonl, read back on resume:
-- a result ({ id, rung, status, metric }) or a promotion ({ id, rung,
-- status = "promoted", promoted_to }).  A promotion whose result was not
-- recorded (the sweep stopped while it ran) is run again first.
function M.record(st, line)
  local k = math.tointeger(line.rung)
  if not k or not st.results[k] then
    return
  end
  if line.status == "promoted" then
    st.promoted[k][line.id] = true
    st.started[line.id] = true
    st.redo[#st.redo + 1] = { id = line.id, rung = k + 1, from = k }
    return
  end
  for i, r in ipairs(st.redo) do
    if r.id == line.id and r.rung == k then
      table.remove(st.redo, i)
      break
    end
  end
  M.done(st, line.id, k, line.status, line.metric)
end

return M
