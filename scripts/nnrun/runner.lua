-- nnrun.runner: builds and trains a resolved experiment (see nnrun.config)
-- and writes its run directory: config.yaml, metrics.jsonl, summary.json,
-- model.nnrun and best.nnrun (nnrun.checkpoint), confusion.csv.
local nn = require "nnrun"
local record = require "nnrun.record"
local checkpoint = require "nnrun.checkpoint"
local eval = require "nnrun.eval"

local M = {}

local function object_type(v)
  local mt = type(v) == "userdata" and getmetatable(v)
  return mt and mt.__name or nil
end

-- Builds the train / validation / test datasets.
function M.build_data(r)
  local d = r.data
  if require("nnrun.data").is_file_source(d) then
    return require("nnrun.data").build(r)
  end
  local full
  if d.train then
    full = d.train
  elseif d.generator == "xor" then
    full = nn.datasets.xor()
  elseif d.generator == "digits03" then
    full = nn.datasets.digits03{ n_per_class = d.n_per_class, noise = d.noise, seed = d.seed }
  elseif d.generator == "curve" then
    full = nn.datasets.curve{ n = d.n, noise = d.noise, seed = d.seed }
  end
  local seed = d.seed or r.seed
  local train, test = full, d.test
  if not test and d.test_split > 0 then
    train, test = full:split(d.test_split, seed)
  end
  local val
  if r.train.validation_split > 0 then
    train, val = train:split(r.train.validation_split, seed + 1)
  end
  -- Without a test set, the test figures are measured on the training data.
  return { train = train, val = val, test = test or train, test_is_train = test == nil,
    shape = full:shape() }
end

-- runner.build_model(r [, refuse]) -> the network of a resolved experiment
-- (a Lua experiment's own nn.sequential as it is).  The first layer takes
-- model.input (a width or [C, H, W]); a conv2d's activation: is a layer
-- after it, as a dense's.  A layer the runtime refuses (a shape that does
-- not fit) calls refuse(path, message) with the key of its list item,
-- model.layers[3].maxpool (else the runtime's message is raised).
function M.build_model(r, refuse)
  local m = r.model
  if object_type(m) == "nnrun.Net" then
    return m
  end
  local config = require "nnrun.config"
  local layers, paths = { input = m.input }, {}
  local function add(layer, path)
    layers[#layers + 1] = layer
    paths[#layers] = path
  end
  for i, l in ipairs(m.layers) do
    local p = string.format("model.layers[%d]", i)
    if l.dense then
      add(nn.dense(l.dense, { init = l.init, bias_init = l.bias_init }), p .. ".dense")
    end
    local kind, settings = config.nested_kind(l)
    local act, param = l.activation, l.slope or l.alpha
    if kind then
      local own = {}
      for k, v in pairs(settings) do
        own[k] = v
      end
      if config.ACTIVATED_KINDS[kind] then
        act, param = own.activation, own.slope or own.alpha
        own.activation, own.slope, own.alpha = nil, nil, nil
      end
      add(nn.layer(kind, own), p .. "." .. kind)
    end
    if act then
      add(nn.activation(act, param), p .. (kind and ("." .. kind) or "") .. ".activation")
    end
  end
  local ok, net = pcall(nn.sequential, layers, { seed = r.seed })
  if ok then
    return net
  end
  -- The runtime names the layer: "layer 3 (maxpool): ..." (nnrun.h).
  local k, rest = tostring(net):match("^layer (%d+) %([%w_]+%): (.*)$")
  if refuse and k and paths[tonumber(k)] then
    refuse(paths[tonumber(k)], rest)
  end
  error(net, 0)
end

function M.build_optimizer(r)
  local o = r.optimizer
  if object_type(o) == "nnrun.Optimizer" then
    return o
  end
  -- Every key but the name is one of the kind's parameters (nnrun.config).
  local t = {}
  for k, v in pairs(o) do
    if k ~= "name" then
      t[k] = v
    end
  end
  return nn.optim[o.name](t)
end

function M.build_schedule(r)
  local s = r.schedule
  if object_type(s) == "nnrun.Schedule" then
    return s
  end
  local t = {}
  for k, v in pairs(s) do
    t[k] = v
  end
  return nn.schedule(t)
end

-- Early stopping on a metric of the epoch stats: stop after `patience`
-- epochs without an improvement of more than min_delta.
function M.early_stopper(es)
  local best, waited = nil, 0
  local maximise = require("nnrun.util").higher_is_better(es.metric)
  return function(stats)
    local v = stats[es.metric]
    if v == nil then
      return false
    end
    local better = best == nil
      or (maximise and v > best + es.min_delta)
      or (not maximise and v < best - es.min_delta)
    if better then
      best, waited = v, 0
      return false
    end
    waited = waited + 1
    return waited >= es.patience
  end
end

-- A refusal of the command line (exit status 2, nothing written).
local function refuse(fmt, ...)
  error({ exit = 2, message = string.format(fmt, ...) }, 0)
end

-- An error of the runtime without the position Lua put in front of it.
local function bare(err)
  return (tostring(err):gsub("^[^\n]-%.lua:%d+: ", ""))
end

-- The files of a run's record, which --force replaces.
local RECORD_FILES = { "config.yaml", "metrics.jsonl", "summary.json", "confusion.csv",
  checkpoint.LATEST, checkpoint.BEST }

-- --out onto a directory that holds a run is refused (exit status 2),
-- unless force: its record is then removed, to be written anew.
function M.check_fresh(dir, force)
  local util = require "nnrun.util"
  local summary = record.read_summary(dir)
  if not summary and not util.exists(dir .. "/" .. checkpoint.LATEST) then
    return
  end
  if not force then
    local status = summary and summary.status or "unfinished"
    refuse("--out %s holds a%s run (%s): continue it with --resume %s, or replace it with "
      .. "--force", dir, (status == "interrupted" or status == "unfinished") and "n unfinished"
      or " finished", status, dir)
  end
  for _, f in ipairs(RECORD_FILES) do
    os.remove(dir .. "/" .. f)
  end
end

-- Checks that the run in dir can continue as this experiment, before
-- anything is written: dir is locked (not claimed) and its checkpoint is
-- tried by nn.fit with every check resuming makes (architecture, training
-- configuration), training nothing.  Refusals have exit status 2 and leave
-- dir as it was.  Returns the checkpoint's path, its epoch count and
-- whether early stopping had ended the run (replayed over the epochs kept).
function M.check_resume(dir, net, data, fit, stop, es, writer)
  if writer ~= false then
    record.lock(dir, false)
  end
  local path = dir .. "/" .. checkpoint.LATEST
  local ok, loaded, info = pcall(nn.load, path)
  if not ok then
    refuse("--resume %s: %s", dir, bare(loaded))
  end
  if not info.epoch or info.epoch < 1 then
    refuse("--resume %s: %s holds no training state (cannot resume from it)", dir, path)
  end
  -- nn.fit trains the epochs left to reach `epochs`: none here.
  local try = {}
  for k, v in pairs(fit) do
    try[k] = v
  end
  try.epochs, try.resume = info.epoch, path
  local fok, ferr = pcall(nn.fit, net, data.train, try)
  if not fok then
    refuse("--resume %s: %s", dir, bare(type(ferr) == "table" and ferr.message or ferr))
  end
  -- A resumed run stops where the uninterrupted run would: the stopper
  -- sees the epochs already done again (metrics.jsonl holds their figures
  -- exactly, to 17 digits).
  local stopped = false
  if stop then
    for _, line in ipairs(record.kept_lines(dir, info.epoch)) do
      stopped = stop({ [es.metric] = tonumber(line:match('"' .. es.metric .. '":([-%d.eE+]+)')) })
    end
  end
  return path, info.epoch, stopped
end

-- The part of a run a rank of a data-parallel job (mpirun -np N nnrun FILE)
-- takes: { rank, size, writer } (writer: rank 0, which alone writes the run
-- directory and the output), or nil for one process.
function M.ranks()
  local mpi = nn.mpi
  if mpi and mpi.available() and mpi.size() > 1 then
    return { rank = mpi.rank(), size = mpi.size(), writer = mpi.rank() == 0 }
  end
  return nil
end

-- What a rank that is not rank 0 keeps of a run's record: the epoch count
-- and the last figures, nothing written.
local function silent_record(resume_epochs)
  local self = { epochs = resume_epochs or 0, history = {}, mode = "quiet" }
  function self.epoch(_, stats)
    self.epochs = self.epochs + 1
    self.history[#self.history + 1] = stats
  end
  function self.finish(_, fields)
    local s = {}
    for k, v in pairs(fields or {}) do
      s[k] = v
    end
    s.status, s.epochs = s.status or "completed", self.epochs
    return s
  end
  return self
end

-- The ranks agree that every one of them is ready to train (status 0) or
-- they all stop: an error raised by setup on one rank (rank 0 alone
-- claims the run directory) is raised there, and the others return its
-- exit status without a word, instead of waiting for it in a reduction.
local function agree(ranks, ok, err)
  local code = ok and 0 or (type(err) == "table" and math.type(err.exit) == "integer" and err.exit
    or 1)
  local worst = nn.mpi.max(code)
  if not ok then
    error(err, 0)
  end
  if worst ~= 0 then
    if ranks.writer then
      error({ exit = worst, message = "another rank could not start the run" }, 0)
    end
    error({ exit = worst, message = "", quiet = true }, 0)
  end
end

-- runner.prepare(r, cli) -> data, net, warning
-- The data read and the network built for a resolved experiment, with the
-- checks that need the data as read (data.check_input, data.check) and the
-- shapes the runtime infers: a problem is raised as { exit = 2, message =
-- "file:line:col: key.path: problem" } (cli.file, cli.locate), before
-- anything is written.  warning: config.complete's, or nil.
function M.prepare(r, cli)
  local config, files = require "nnrun.config", require "nnrun.data"
  local function refuse(path, why)
    error({ exit = 2, message = config.format_error({ path = path, message = why },
      { source = cli.file, locate = cli.locate }) }, 0)
  end
  local data = M.build_data(r)
  local late = config.complete(r, data)
  local bad, why = files.check_input(r, data)
  if bad then
    refuse(bad, why)
  end
  local net = M.build_model(r, refuse)
  bad, why = files.check(r, data, net)
  if bad then
    refuse(bad, why)
  end
  return data, net, late
end

-- runner.run(resolved, cli) -> summary, exit status (0 ok, 1 run failed)
--   cli: out (run directory; default output.directory/<name>-<timestamp>),
--        mode ("tty" | "lines" | "quiet", see nnrun.progress), quiet,
--        resume (a run directory holding model.nnrun: continue that run;
--        refused, exit status 2, before anything is written when it cannot;
--        a finished run with nothing left to train is left as it is),
--        force (replace the run a directory given by out holds),
--        file (the experiment's file, named when its config cannot run again),
--        locate (path -> "file:line:col", placing errors found in the data)
-- Errors in building (bad arguments) are raised; a failing run (divergence,
-- I/O) is reported in summary.status and the exit status.
function M.run(r, cli)
  cli = cli or {}
  local ranks = M.ranks()
  local writer = not ranks or ranks.writer
  local data, net, fit, stop, rec, saver, resume_path, resume_epochs, already_stopped
  local function setup()
    if r.threads > 0 then
      nn.set_threads(r.threads)
    end
    local late
    data, net, late = M.prepare(r, cli)
    if late and writer then
      io.stderr:write("nnrun: warning: ", late, "\n")
    end
    local opt = M.build_optimizer(r)
    local sched = M.build_schedule(r)
    local note = require("nnrun.config").object_note(r, cli.file)
    stop = r.train.early_stopping and M.early_stopper(r.train.early_stopping)
    fit = {
      loss = r.loss, optimizer = opt, schedule = sched, epochs = r.train.epochs,
      batch_size = r.train.batch_size, shuffle = r.train.shuffle, seed = r.seed,
      validation = data.val, clip_norm = r.train.clip_norm, clip_value = r.train.clip_value,
      parallel = (r.parallel.shards > 0 or ranks) and { shards = r.parallel.shards } or nil,
    }
    already_stopped = false -- resuming a run that early stopping ended
    if cli.resume then
      resume_path, resume_epochs, already_stopped = M.check_resume(cli.resume, net, data, fit, stop,
        r.train.early_stopping, writer)
      if already_stopped or resume_epochs >= r.train.epochs then
        -- Nothing to train: a finished run keeps its record as it is.
        local done = record.read_summary(cli.resume)
        if done and (done.status == "completed" or done.status == "stopped_early") then
          return done
        end
      end
    end
    if not writer then
      rec = silent_record(resume_epochs)
      return
    end
    rec = record.new({ out = cli.resume or cli.out, quiet = cli.quiet, mode = cli.mode },
      { name = r.name, config = r, config_note = note, directory = r.output.directory,
        epochs = r.train.epochs, resume_epochs = resume_epochs,
        check = not cli.resume and function(dir) M.check_fresh(dir, cli.force) end })
    if note then
      io.stderr:write(string.format("nnrun: %s/config.yaml cannot be run again: %s\n",
        rec.directory, note))
    end
    local out = r.output
    saver = checkpoint.new(rec.directory, { every = out.checkpoint_every or 1,
      best = out.checkpoint_best ~= "none" and out.checkpoint_best or nil, keep = out.keep_epochs,
      config = record.config_text(r, note), norm = data.train, net = net,
      meta = require("nnrun.data").checkpoint_meta(data) })
  end
  local done
  if ranks then
    local ok, err = pcall(function() done = setup() end)
    agree(ranks, ok, err)
  else
    done = setup()
  end
  if done then
    return done, 0
  end

  local stopped_early = already_stopped
  local function on_epoch(stats, trainer)
    rec:epoch(stats)
    local stopping = stop and stop(stats)
    if saver then
      saver:epoch(stats, trainer, stopping or stats.epoch >= r.train.epochs)
    end
    if stopping then
      stopped_early = true
      return false
    end
  end

  -- Ctrl-C / SIGTERM stop training at the next batch boundary; the run
  -- directory then keeps its last checkpoint and says "interrupted".
  nn.trap_signals()
  local train_start = nn.now()
  fit.epochs = already_stopped and resume_epochs or r.train.epochs
  fit.on_epoch, fit.on_batch, fit.resume = on_epoch, rec.on_batch, resume_path
  local ok, err = pcall(nn.fit, net, data.train, fit)
  local train_seconds = nn.now() - train_start
  if ranks and not ok and nn.error_class(err) ~= "diverged" then
    -- One rank failed while the others may wait for it in a reduction:
    -- it says why and ends them all (a divergence is seen by all alike).
    io.stdout:flush()
    io.stderr:write(string.format("nnrun: rank %d: %s\n", ranks.rank,
      tostring(type(err) == "table" and err.message or err):match("^[^\n]*")))
    io.stderr:flush()
    nn.mpi.abort(1)
  end
  if not ok and type(err) == "table" then
    error(err, 0) -- an I/O failure of the record itself
  end
  local fields = { seed = r.seed, parameters = net:param_count(),
    shards = r.parallel.shards > 0 and r.parallel.shards or nil, ranks = ranks and ranks.size }
  local status = 0
  local m
  local signal = nn.interrupted()
  if not ok then
    fields.status = nn.error_class(err) == "diverged" and "diverged" or "failed"
    fields.error = tostring(err)
    status = 1
  elseif signal then
    -- No test figures: the user asked to stop now.
    fields.status = "interrupted"
    fields.signal = "SIG" .. signal
    status = signal == "INT" and 130 or 143
  else
    fields.status = stopped_early and "stopped_early" or "completed"
    -- Under MPI the test set's batches are split over the ranks (the same
    -- figures, bit for bit).
    m = require("nnrun.data").destandardize(nn.metrics(net, data.test, r.loss,
      ranks and { parallel = true } or nil), data.targets)
    for k, v in pairs(eval.summary_fields(m)) do
      fields[k] = v
    end
    fields.test_on_train = data.test_is_train or nil
    if m.classification and writer then
      local okw, werr = require("nnrun.util").write_file(rec.directory .. "/confusion.csv",
        eval.confusion_csv(m, data.class_names))
      if not okw then
        error({ exit = 1, message = werr }, 0)
      end
    end
  end
  local trained = rec.epochs - (resume_epochs or 0)
  fields.samples_per_second = train_seconds > 0
    and (trained * data.train:size()) / train_seconds or 0
  local summary = rec:finish(fields)
  if m and m.classification and rec.mode ~= "quiet" then
    io.stdout:write(eval.confusion_table(m, data.class_names))
  end
  return summary, status
end

M.summary_line = record.summary_line

return M
