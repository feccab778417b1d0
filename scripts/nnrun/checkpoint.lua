-- nnrun.checkpoint: the checkpoints of a run directory.
--
--   model.nnrun  the latest state: written after every output.checkpoint_every
--                epochs (0: only at the end) and after the last epoch
--   best.nnrun   the network of the best epoch by output.checkpoint_best
--                (val_loss, val_accuracy or train_loss; none: not written)
--   epoch-NNN.nnrun  the network after epoch NNN, every epoch, when
--                output.keep_epochs is true (the path nnrun landscape draws)
--
-- Both hold the weights, the training state (momentum, shuffle generator,
-- epoch and step), the normalisation of the training inputs and the
-- resolved config text; nn_save writes them atomically (temporary file,
-- fsync, rename, directory fsync).  Saving happens only in nn.fit's
-- on_epoch, at an epoch boundary, which is what makes resuming exact.
local nn = require "nnrun"

local M = {}

M.LATEST, M.BEST = "model.nnrun", "best.nnrun"

local util = require "nnrun.util"
local exists = util.exists

-- "epoch-007.nnrun"
function M.epoch_file(e)
  return string.format("epoch-%03d.nnrun", e)
end
M.exists = exists

-- checkpoint.new(dir, opts) -> saver
--   opts: every (epochs, 0 = only the last), best (metric name or nil),
--         keep (true: epoch-NNN.nnrun after every epoch),
--         config (text), norm (the training Dataset), net, epochs (total),
--         meta (strings saved with every checkpoint: data.checkpoint_meta)
function M.new(dir, opts)
  local self = { dir = dir, every = opts.every or 1, metric = opts.best, epochs = opts.epochs }
  local extra = { config = opts.config, norm = opts.norm, meta = opts.meta }
  local maximise = util.higher_is_better(self.metric)
  local best
  -- A resumed run continues the best of before.
  if self.metric and exists(dir .. "/" .. M.BEST) then
    local ok, _, info = pcall(nn.load, dir .. "/" .. M.BEST)
    if ok and info.meta and info.meta.best_metric == self.metric then
      best = tonumber(info.meta.best_value)
    end
  end

  -- saver:epoch(stats, trainer, last): after each completed epoch.
  function self.epoch(_, stats, trainer, last)
    local e = stats.epoch
    if last or (self.every > 0 and e % self.every == 0) then
      opts.net:save(dir .. "/" .. M.LATEST, { trainer = trainer, config = extra.config,
        norm = extra.norm, meta = extra.meta })
    end
    if opts.keep then
      opts.net:save(dir .. "/" .. M.epoch_file(e), { config = extra.config, norm = extra.norm,
        meta = extra.meta })
    end
    local v = self.metric and stats[self.metric]
    if v ~= nil and (best == nil or (maximise and v > best) or (not maximise and v < best)) then
      best = v
      local meta = { best_metric = self.metric, best_value = string.format("%.17g", v),
        best_epoch = tostring(e) }
      for k, x in pairs(extra.meta or {}) do
        meta[k] = x
      end
      opts.net:save(dir .. "/" .. M.BEST, { trainer = trainer, config = extra.config,
        norm = extra.norm, meta = meta })
    end
  end
  return self
end

-- A config text as compared for resuming: the thread count does not change
-- the figures and train.epochs may grow (continuing for more epochs), so
-- they may differ (nn.fit refuses what would change the trajectory).
local function comparable(text)
  return (text:gsub("\nthreads: [^\n]*", ""):gsub("\ntrain:(.-)\n  epochs: [^\n]*", "\ntrain:%1"))
end

-- The run directory to resume: dir when given, else the newest
-- <directory>/<name>-* that holds a model.nnrun and, when config (a
-- config.yaml text) is given, whose config.yaml is the same experiment
-- (apart from threads).  nil, message if none.
function M.find_run(dir, directory, name, config)
  if dir then
    if not exists(dir .. "/" .. M.LATEST) then
      return nil, string.format("%s: no %s to resume from", dir, M.LATEST)
    end
    return dir
  end
  local runs = nn.listdir and nn.listdir(directory) or {}
  -- Oldest first: by name and timestamp, then by the -N that tells apart
  -- runs started in the same second (so that -10 comes after -9).
  local function key(r)
    local head, n = r:match("^(.-%d+%-%d+)%-(%d+)$")
    return head or r, tonumber(n) or 1
  end
  table.sort(runs, function(a, b)
    local ha, na = key(a)
    local hb, nb = key(b)
    if ha ~= hb then
      return ha < hb
    end
    return na < nb
  end)
  local differs
  for i = #runs, 1, -1 do
    local r = runs[i]
    local stamp = r:sub(#name + 2)
    local run = directory .. "/" .. r
    if r:sub(1, #name + 1) == name .. "-" and stamp:match("^%d+%-%d+") and exists(run .. "/"
      .. M.LATEST) then
      local f = config and io.open(run .. "/config.yaml", "rb")
      local text = f and f:read("a")
      if f then
        f:close()
      end
      if not config or (text and comparable(text) == comparable(config)) then
        return run
      end
      differs = differs or run
    end
  end
  if differs then
    return nil, string.format("no run of '%s' in %s/ has this configuration (the newest, %s, "
      .. "has another config.yaml); give --resume DIR to continue one", name, directory, differs)
  end
  return nil, string.format("no run of '%s' with a %s in %s/ to resume (give --resume DIR)",
    name, M.LATEST, directory)
end

-- Whether the argument after --resume is its DIR (not an option, not the
-- experiment FILE).
function M.is_dir_argument(a)
  if a == nil or a:sub(1, 1) == "-" then
    return false
  end
  local ext = a:match("%.([^./]+)$")
  ext = ext and ext:lower()
  return ext ~= "lua" and ext ~= "yaml" and ext ~= "yml"
end

-- The run directory `--resume [DIR]` names for the resolved experiment r:
-- DIR, else --out, else the newest run of r.name whose config.yaml is
-- config (the text this run would write).  Raises a usage error
-- (exit status 2) when there is nothing to resume.
function M.resume_dir(o, r, config)
  local dir, err = M.find_run(o.resume_dir or o.out, r.output.directory, r.name, config)
  if not dir then
    error({ exit = 2, message = "--resume: " .. err }, 0)
  end
  return dir
end

return M
