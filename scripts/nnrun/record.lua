-- nnrun.record: the run directory of DESIGN.md, and the progress printed
-- while training.  Used by the experiment runner, and by scripts that train
-- by hand and want the same record:
--
--   local rec = require("nnrun.record").new(..., { name = "xor", config = {...} })
--   rec:epoch{ epoch = 1, train_loss = 0.25, lr = 0.1, seconds = 0.01 }
--   rec:finish{ test_loss = 0.01, test_accuracy = 1, parameters = 33, seed = 1 }
--
-- The directory holds config.yaml, metrics.jsonl (one JSON object per epoch)
-- and summary.json.
local nn = require "nnrun"
local json = require "nnrun.json"
local util = require "nnrun.util"
local progress = require "nnrun.progress"

local M = {}

local METRIC_ORDER = { "epoch", "train_loss", "val_loss", "val_accuracy", "lr", "seconds" }
local SUMMARY_ORDER = { "name", "status", "test_loss", "test_accuracy", "test_top5_accuracy",
  "test_macro_f1", "test_mse", "test_mae", "test_r2", "test_on_train", "train_loss", "val_loss",
  "val_accuracy", "epochs", "wall_seconds", "samples_per_second", "parameters", "threads",
  "seed", "error" }

-- config.yaml lists keys in the order of the schema's documentation.
local KEY_ORDER = { "name", "generator", "input", "layers", "dense", "activation", "seed",
  "threads", "data", "model", "loss", "optimizer", "schedule", "train", "output" }

-- A run failure (I/O): the CLI exits with status 1.
local function io_fail(msg)
  error({ exit = 1, message = msg }, 0)
end

-- The configuration as a document: runtime objects are described.
local function dumpable(v)
  if type(v) == "table" then
    local out = {}
    for k, x in pairs(v) do
      out[k] = dumpable(x)
    end
    return out
  elseif type(v) == "userdata" or type(v) == "function" then
    return tostring(v)
  end
  return v
end

-- note: why the configuration cannot run again (config.object_note), put
-- first as a comment.
function M.config_text(cfg, note)
  if note then
    return "# This configuration cannot be run again: " .. note:gsub(" are ", "\n# are ", 1)
      .. ".\n" .. M.config_text(cfg)
  end
  local doc = dumpable(cfg)
  if nn.yaml and nn.yaml.dump then
    local ok, text = pcall(nn.yaml.dump, doc, { key_order = KEY_ORDER })
    if ok and type(text) == "string" then
      return text
    end
  end
  -- JSON is YAML too.
  return json.encode(doc, { indent = "  " }) .. "\n"
end

-- record.new(cli, opts) -> recorder
--   cli: the options the command passes to a script (its `...`), or nil:
--        out (run directory), quiet, mode ("tty" | "lines" | "quiet")
--   opts: name, config (table written to config.yaml), config_note (why it
--         cannot run again, see config.object_note), directory (parent of
--         the default run directory, "runs"), epochs (for the progress),
--         resume_epochs (continuing the run in cli.out: keep that many
--         lines of its metrics.jsonl), check (function(dir), called once
--         cli.out is locked and before anything is written to it: raises to
--         refuse it)
-- The directory is locked for this process (record.lock); another run
-- holding it is refused (exit status 2, naming its pid).
-- Locks the run directory dir (which exists) for this process, or raises
-- (exit status 2) when another run holds it, naming its pid.  claim false:
-- dir is left exactly as it was (to check it before writing anything).
function M.lock(dir, claim)
  local ok, err, holder = nn.lock_dir(dir, claim)
  if not ok then
    error({ exit = holder ~= nil and 2 or 1, message = err }, 0)
  end
end

-- Appends text to the open file f of path; a failed write or flush (a full
-- disk) stops the run, naming the file (after before_fail(), if given).
local function append(f, path, text, before_fail)
  local ok, err = f:write(text)
  if ok then
    ok, err = f:flush()
  end
  if not ok then
    if before_fail then
      before_fail()
    end
    io_fail(string.format("%s: cannot write: %s", path, tostring(err)))
  end
end

-- The first n lines of dir/metrics.jsonl (fewer if it has fewer).
function M.kept_lines(dir, n)
  local kept = {}
  local old = io.open(dir .. "/metrics.jsonl", "r")
  for line in old and old:lines() or function() end do
    if #kept < n then
      kept[#kept + 1] = line
    end
  end
  if old then
    old:close()
  end
  return kept
end

-- The summary.json of dir as a table (with directory = dir), or nil when
-- there is none or it cannot be read.
function M.read_summary(dir)
  local f = io.open(dir .. "/summary.json", "rb")
  if not f then
    return nil
  end
  f:close()
  local ok, s = pcall(nn.yaml.load, dir .. "/summary.json") -- JSON is YAML
  if not ok or type(s) ~= "table" then
    return nil
  end
  s.directory = dir
  return s
end

function M.new(cli, opts)
  cli, opts = cli or {}, opts or {}
  local name = opts.name or "run"
  local dir = cli.out or opts.out
  local ok, err
  if dir then
    ok, err = util.mkdir_p(nn.mkdir, dir)
    if not ok then
      io_fail(string.format("cannot create the run directory %s (%s)", dir, err))
    end
    M.lock(dir, false)
    if opts.check then
      opts.check(dir)
    end
  else
    -- runs/<name>-<timestamp>, made unique: two runs started in the same
    -- second must not share (and overwrite) one directory; the lock decides
    -- between two that try the same one at once.
    local base = string.format("%s/%s-%s", opts.directory or "runs", name, os.date("%Y%m%d-%H%M%S"))
    for i = 1, math.huge do
      dir = i == 1 and base or (base .. "-" .. i)
      if not util.exists(dir .. "/config.yaml") then
        ok, err = util.mkdir_p(nn.mkdir, dir)
        if not ok then
          io_fail(string.format("cannot create the run directory %s (%s)", dir, err))
        end
        local locked, lerr, holder = nn.lock_dir(dir, false)
        if locked and not util.exists(dir .. "/config.yaml") then
          break
        elseif not locked and holder == nil then
          io_fail(lerr)
        end
      end
    end
  end
  M.lock(dir, true)
  ok, err = util.write_file(dir .. "/config.yaml", M.config_text(opts.config or { name = name },
    opts.config_note))
  if not ok then
    io_fail(err)
  end
  -- A resumed run keeps the lines of the epochs its checkpoint holds (a
  -- killed run may have written more, which are trained again).
  local kept = opts.resume_epochs and M.kept_lines(dir, opts.resume_epochs) or {}
  local metrics_path = dir .. "/metrics.jsonl"
  local metrics, merr = io.open(metrics_path, "w")
  if not metrics then
    io_fail(merr)
  end
  for _, line in ipairs(kept) do
    append(metrics, metrics_path, line .. "\n")
  end
  local mode = cli.mode or (cli.quiet and "quiet") or (nn.isatty(1) and "tty" or "lines")
  local self = {
    name = name, directory = dir, start = nn.now(), epochs = #kept, history = {}, mode = mode,
    kept = kept, -- the metrics.jsonl lines of the epochs a resumed run keeps
  }
  if #kept > 0 then
    -- The last kept epoch's losses, for the summary.
    local last = {}
    for _, k in ipairs({ "train_loss", "val_loss", "val_accuracy" }) do
      last[k] = tonumber(kept[#kept]:match('"' .. k .. '":([-%d.eE+]+)'))
    end
    self.history[1] = last
  end
  local show = progress.new{ mode = mode, now = nn.now, epochs = opts.epochs or 0,
    width = function() return nn.term_width(1) or tonumber(os.getenv("COLUMNS")) or 80 end }
  self.progress = show
  -- For nn.fit's on_batch: the live bar on a terminal, else nil.
  self.on_batch = show.batch

  function self.epoch(_, stats)
    -- (a live bar ends its line before the message)
    append(metrics, metrics_path, json.encode(stats, { order = METRIC_ORDER }) .. "\n",
      show.finish)
    self.epochs = self.epochs + 1
    self.history[#self.history + 1] = stats
    show.epoch(stats)
  end

  -- Writes summary.json from fields (status defaults to "completed"; the
  -- last epoch's losses, the epoch count, threads and wall time are filled
  -- in) and returns the summary.
  function self.finish(_, fields)
    show.finish() -- a bar an interrupt left drawn ends with its line
    if metrics then
      local cok, cerr = metrics:close()
      metrics = nil
      if not cok then
        io_fail(string.format("%s: cannot write: %s", metrics_path, tostring(cerr)))
      end
    end
    local s = {}
    for k, v in pairs(fields or {}) do
      s[k] = v
    end
    local last = self.history[#self.history] or {}
    s.name = s.name or name
    s.status = s.status or "completed"
    s.epochs = s.epochs or self.epochs
    if s.train_loss == nil then s.train_loss = last.train_loss end
    if s.val_loss == nil then s.val_loss = last.val_loss end
    if s.val_accuracy == nil then s.val_accuracy = last.val_accuracy end
    s.threads = s.threads or nn.get_threads()
    s.wall_seconds = s.wall_seconds or (nn.now() - self.start)
    local wok, werr = util.write_file(dir .. "/summary.json",
      json.encode(s, { indent = "  ", order = SUMMARY_ORDER }) .. "\n")
    if not wok then
      io_fail(werr)
    end
    s.directory = dir
    return s
  end

  return self
end

-- The one-line result printed at the end of a run.
function M.summary_line(s)
  local parts = { string.format("%s: %s after %d epoch%s in %s", s.name, s.status, s.epochs,
    s.epochs == 1 and "" or "s", progress.fmt_seconds(s.wall_seconds or 0)) }
  if s.test_loss then
    parts[#parts + 1] = string.format("test loss %.4g", s.test_loss)
  end
  if s.test_accuracy then
    parts[#parts + 1] = string.format("test accuracy %.1f%%", 100 * s.test_accuracy)
  elseif s.test_r2 then
    parts[#parts + 1] = string.format("test R² %.4f", s.test_r2)
  end
  if s.error then
    parts[#parts + 1] = s.error
  end
  return table.concat(parts, ", ") .. (s.directory and (" -> " .. s.directory) or "")
end

return M
