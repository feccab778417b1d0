-- nnrun.cli: the logic of the `nnrun` command (the C host only hosts Lua).
--
--   nnrun FILE.lua [options]     run a script; if it returns an experiment
--                                table, build and train it
--   nnrun FILE.yaml [options]    train the experiment of a YAML file
--   nnrun sweep FILE [options]   hyperparameter sweep (nnrun.sweep)
--   nnrun eval MODEL DATA        metrics of a checkpoint (nnrun.eval)
--   nnrun predict MODEL DATA     predictions as CSV (nnrun.predict)
--
-- Exit status: 0 success, 1 the run failed (diverged, I/O), 2 bad usage or
-- bad configuration.  Errors are one line on stderr, `nnrun: ...`.
local nn = require "nnrun"
local config = require "nnrun.config"
local options = require "nnrun.options"
local util = require "nnrun.util"

local M = {}

M.USAGE = [[
usage: nnrun FILE [options]        FILE is .lua, .yaml or .yml
       nnrun sweep FILE [options]  hyperparameter sweep: trials in parallel
       nnrun eval MODEL DATA       metrics of a saved model (nnrun eval --help)
       nnrun predict MODEL DATA    a saved model's predictions as CSV
       nnrun export MODEL --onnx F a saved model as ONNX (or --json F)
       nnrun plot DIR              figures of a run or sweep directory
       nnrun explain FILE          the model summary, without training
       nnrun landscape DIR         the loss over a plane through a run's weights
       nnrun report DIR            one self-contained report.html of a run or sweep

A Lua FILE may just run code, or return an experiment table that nnrun
builds, trains and records in a run directory.

options:
  --out DIR            run directory (default: runs/<name>-<timestamp>)
  --threads N          threads of the numerical kernels
  --seed N             seed of the experiment
  --resume [DIR]       continue the run in DIR (default: --out, else the
                       newest run of this experiment and configuration)
                       from its model.nnrun
  --set KEY.PATH=VALUE override a value of the experiment (repeatable),
                       e.g. --set optimizer.lr=0.05 --set train.epochs=5
  --sandbox            run a Lua FILE with allow-listed globals (no io, os.execute,
                       debug, string.dump, binary chunks, modules other than
                       nnrun and nnrun.record), writes only within the run
                       directory (--out), and limits: exit 2 when reached
  --max-instructions N the instruction budget of --sandbox (default 1000000000)
  --max-memory MB      the Lua memory cap of --sandbox (default 256)
  --force              replace the run that --out DIR holds (without it,
                       --out onto a run's directory is refused)
  --quiet              print only the final summary
  --debug              show Lua tracebacks with errors
  --help               this text
  --version            print the version

sweep options (nnrun sweep FILE: --out DIR, default sweeps/<name>, holds a
run directory per trial; --threads T: threads of each trial):
  --jobs N             trials at a time (default: CPUs / T; T defaults to 1;
                       under mpirun -np R: per rank, default 1)
  --shard i/n          run only trials with (id-1) % n == i-1 (1 <= i <= n);
                       --shard slurm takes i and n from a Slurm job array
  --resume [DIR]       continue the sweep in DIR (running the same command
                       again does too): finished trials are skipped

exit status: 0 success, 1 the run failed, 2 bad usage or configuration]]

local usage_error = options.usage_error

-- The options of `nnrun FILE` and `nnrun sweep FILE` (one set: each
-- command says which of them it does not use).
local RUN_OPTIONS = {
  options.OUT, options.THREADS, options.QUIET, options.DEBUG, options.HELP,
  { "--version", key = "version" },
  options.SEED,
  { "--force", key = "force" },
  { "--jobs", key = "jobs", value = "count", min = 1, max = 4096 },
  { "--shard", key = "shard", value = "string" },
  { "--resume", value = "dir",
    optional = function(next) return require("nnrun.checkpoint").is_dir_argument(next) end,
    apply = function(o, v)
      o.resume = true
      o.resume_dir = v
    end },
  options.SET,
  { "--sandbox", key = "sandbox" },
  { "--max-instructions", key = "max_instructions", value = "count", min = 1,
    max = 1000000000000000 },
  { "--max-memory", key = "max_memory", value = "count", min = 1, max = 1048576 },
}

-- cli.parse(args) -> options table of `nnrun FILE` or `nnrun sweep FILE`;
-- raises usage errors.
function M.parse(args)
  local sweep = args[1] == "sweep"
  return options.parse(args, sweep and 2 or 1, RUN_OPTIONS, {
    init = { set = {}, sweep = sweep or nil },
    positional = function(o, a)
      if o.file then
        usage_error("unexpected argument '%s' (one FILE only; see nnrun --help)", a)
      end
      o.file = a
    end,
  })
end

local function first_line(s)
  return (tostring(s):match("^[^\n]*"))
end

-- Applies --seed, --threads and --set to an experiment table.  Returns the
-- overrides applied, for placing the errors they cause ({ path =, label =,
-- created =, order = }), and the errors ({ text =, order = }) of the --set
-- that could not be; order: the place on the command line.
local function apply_overrides(exp, o)
  local applied, errs = {}, {}
  if o.seed then
    exp.seed = o.seed
    applied[#applied + 1] = { path = "seed", label = "--seed", order = 0 }
  end
  if o.threads then
    exp.threads = o.threads
    applied[#applied + 1] = { path = "threads", label = "--threads", order = 0 }
  end
  for i, s in ipairs(o.set) do
    local path = assert(config.canonical_path(s.path))
    local label = "--set " .. path
    local v, err = config.parse_value(s.text, nn.yaml)
    local ok, created = err == nil, nil
    if ok then
      ok, created = config.set(exp, path, v)
      if not ok then
        err, created = created, nil
      end
    end
    if ok then
      applied[#applied + 1] = { path = path, label = label, created = created, order = i }
    else
      errs[#errs + 1] = { text = label .. ": " .. err, order = i }
    end
  end
  return applied, errs
end

-- Whether path is base or lies inside it.
local function within(path, base)
  if path == base then
    return true
  end
  local head = path:sub(1, #base + 1)
  return head == base .. "." or head == base .. "["
end

-- The line of a config error: placed at the override that caused it (the
-- last one whose path, or the mapping it created, holds the error's path),
-- else in the file.  Returns the text and the override that placed it.
local function error_line(e, applied, file, locate)
  for i = #applied, 1, -1 do
    local a = applied[i]
    if within(e.path, a.path) or (a.created and within(e.path, a.created)) then
      if e.path == a.path then
        return a.label .. ": " .. e.message, a
      end
      return a.label .. ": " .. config.format_error(e), a
    end
  end
  return config.format_error(e, { source = file, locate = locate }), nil
end

-- Loads FILE: returns a function running it (a Lua chunk, with env as its
-- globals when given, or one returning the YAML document) and, for YAML, a
-- locator of config errors.
function M.load_file(file, env)
  local f = io.open(file, "r")
  if not f then
    local _, err = io.open(file, "r")
    usage_error("%s", err or (file .. ": cannot open"))
  end
  f:close()
  local ext = util.extension(file)
  if ext == "lua" then
    local chunk, err
    if env then
      chunk, err = loadfile(file, "t", env)
    else
      chunk, err = loadfile(file, "t")
    end
    if not chunk then
      usage_error("%s", err)
    end
    return chunk
  elseif ext == "yaml" or ext == "yml" then
    if not (nn.yaml and nn.yaml.load) then
      usage_error("%s: this nnrun was built without YAML support", file)
    end
    local ok, doc, locate = pcall(config.load, file)
    if not ok then
      usage_error("%s", first_line(doc))
    end
    if doc == nn.yaml.null and locate("") == nil then
      usage_error("%s: empty file (expected a mapping of experiment settings)", file)
    end
    return function() return doc end, locate
  end
  usage_error("%s: unsupported file type (expected .lua, .yaml or .yml)", file)
end

-- The directory of nnrun's own scripts, to keep their paths out of
-- messages.
local SCRIPTS = debug.getinfo(1, "S").source:match("^@(.*/)[^/]*$")

-- msg without the positions in nnrun's own scripts Lua put in front of it
-- ("/.../scripts/nnrun/runner.lua:69: ", or shortened to ".../runner.lua:69: ").
local function strip_internal(msg)
  while SCRIPTS do
    local src, name, rest = msg:match("^([^\n]-([%w_]+)%.lua):%d+: (.*)$")
    local full = src and SCRIPTS .. name .. ".lua"
    local tail = src and src:match("^%.%.%.(.*)$") -- a long path, shortened
    if not src or not (src == full or (tail and #tail <= #full and full:sub(-#tail) == tail)) then
      break
    end
    msg = rest
  end
  return msg
end

-- Whether e is an error of nnrun's own ({ exit = status, message = text }),
-- not a value a user's script raised.
local function is_ours(e)
  return type(e) == "table" and math.type(e.exit) == "integer" and e.exit > 0
    and type(e.message) == "string"
end

-- Runs fn(...) and turns an error into { exit =, message =, traceback = }.
local function protect(o, fn, ...)
  local handler = function(e)
    if is_ours(e) then
      return e
    end
    local msg
    if type(e) == "string" then
      msg = strip_internal(e)
    elseif e == nil then
      msg = string.format("%s: error raised without a message", o.file or "script")
    elseif (getmetatable(e) or {}).__tostring then
      msg = tostring(e)
    else
      msg = string.format("%s: error raised with a %s value, not a message", o.file or "script",
        type(e))
    end
    local class = nn.error_class(msg)
    local exit = (class == "diverged" or class == "io" or class == "nomem") and 1 or 2
    return { exit = exit, message = msg, traceback = o.debug and debug.traceback(msg, 2) or nil }
  end
  return xpcall(fn, handler, ...)
end

local function report(e, o, err)
  err = err or io.stderr
  -- (an error of several problems: the lines before its message)
  for _, l in ipairs(type(e.before) == "table" and e.before or {}) do
    err:write("nnrun: ", l, "\n")
  end
  if o.debug and e.traceback then
    err:write("nnrun: ", e.traceback, "\n")
  else
    err:write("nnrun: ", first_line(e.message), "\n")
  end
  return e.exit or 2
end

-- Checks an experiment with the command's overrides applied: resolved, or
-- nil and its error lines (file errors in file order when they are located,
-- then those of the overrides).  Nothing is built.
function M.check_experiment(exp, o, file, locate)
  local applied, lines = {}, {}
  if type(exp) == "table" then
    local set_errs
    applied, set_errs = apply_overrides(exp, o)
    for i, se in ipairs(set_errs) do
      lines[#lines + 1] = { text = se.text, line = math.huge, order = se.order, col = 0, i = i }
    end
  end
  local r, errs = config.resolve(exp, { name = util.stem(file), file = file, ranks = o.ranks })
  for i, e in ipairs(errs or {}) do
    local text, by = error_line(e, applied, file, locate)
    local line, col = text:match("^[^\n]-:(%d+):(%d+): ")
    lines[#lines + 1] = { text = text, line = by and math.huge or tonumber(line) or 0,
      order = by and by.order or 0, col = tonumber(col) or 0, i = #lines + i }
  end
  if #lines == 0 then
    return r
  end
  table.sort(lines, function(a, b)
    if a.line ~= b.line then return a.line < b.line end
    if a.order ~= b.order then return a.order < b.order end
    if a.col ~= b.col then return a.col < b.col end
    return a.i < b.i
  end)
  local out = {}
  for i, l in ipairs(lines) do
    out[i] = l.text
  end
  return nil, out
end

-- The resolved experiment, or nil once its errors are printed on stderr.
function M.resolve_experiment(exp, o, file, locate)
  local r, lines = M.check_experiment(exp, o, file, locate)
  if not r and not o.quiet_rank then
    for _, l in ipairs(lines) do
      io.stderr:write("nnrun: ", l, "\n")
    end
  end
  return r
end

-- Resolves, builds and trains an experiment table; returns the exit status.
-- locate(path) -> "file:line:col" (optional) places config errors.
function M.run_experiment(exp, o, file, locate)
  local r = M.resolve_experiment(exp, o, file, locate)
  if not r then
    return 2
  end
  local runner = require "nnrun.runner"
  local resume = o.resume and require("nnrun.checkpoint").resume_dir(o, r,
    require("nnrun.record").config_text(r, require("nnrun.config").object_note(r, file)))
  local summary, status = runner.run(r, { out = o.out, quiet = o.quiet, resume = resume,
    file = file, locate = locate, force = o.force })
  io.stdout:write(runner.summary_line(summary), "\n")
  if status == 1 and summary.error and not o.quiet_rank then
    -- A failed run (diverged, I/O) says why on stderr too.
    io.stdout:flush()
    io.stderr:write("nnrun: ", first_line(summary.error), " (run directory ",
      summary.directory or o.out or ".", ")\n")
  end
  if summary.status == "interrupted" and not o.quiet_rank then
    io.stdout:flush()
    local dir = summary.directory or o.out or "."
    local ck = io.open(dir .. "/" .. require("nnrun.checkpoint").LATEST, "rb")
    if ck then
      ck:close()
      io.stderr:write(string.format("nnrun: interrupted by %s after %d epoch%s; continue with: "
        .. "nnrun %s --resume %s\n", summary.signal, summary.epochs,
        summary.epochs == 1 and "" or "s", file or o.file or "FILE", dir))
    else
      io.stderr:write(string.format("nnrun: interrupted by %s after %d epoch%s; no checkpoint "
        .. "to resume from (output.checkpoint_every is 0 or no epoch finished)\n",
        summary.signal, summary.epochs, summary.epochs == 1 and "" or "s"))
    end
  end
  return status
end

-- The subcommands: name -> module (or the name of one) with
--   usage            the text of `nnrun NAME --help`
--   parse(args)      -> options table (args[1] is NAME); raises usage errors
--   main(o, args)    -> exit status; raises usage errors and failures
-- A first argument that names none is the FILE of the default command.
local run, sweep = {}, {}
M.COMMANDS = {
  sweep = sweep,
  eval = "nnrun.eval",
  predict = "nnrun.predict",
  export = "nnrun.onnx",
  plot = "nnrun.plot",
  explain = "nnrun.explain",
  landscape = "nnrun.landscape",
  report = "nnrun.report",
}

-- mpirun -np N nnrun FILE: data-parallel training (nnrun.runner).
-- Every rank runs the command alike; rank 0 speaks for them all: the
-- others write nothing on stdout, and on stderr only failures of their own
-- (report_rank), since a refusal (exit status 2) is the same on every rank.
local function mpi_ranks(o)
  local mpi = nn.mpi
  if mpi and mpi.available() then
    o.ranks = mpi.size()
    if mpi.rank() > 0 then
      o.quiet_rank = mpi.rank()
      io.stdout = { write = function(self) return self end, flush = function() return true end,
        close = function() return true end, setvbuf = function() return true end }
    end
  end
end

-- nnrun FILE: runs a script or trains an experiment.
run.usage, run.parse = M.USAGE, M.parse
function run.main(o)
  mpi_ranks(o)
  if o.jobs or o.shard then
    io.stderr:write("nnrun: option ", o.jobs and "--jobs" or "--shard",
      " is for nnrun sweep (see nnrun --help)\n")
    return 2
  end
  if not o.file then
    io.stderr:write("nnrun: no FILE given (see nnrun --help)\n")
    return 2
  end
  if (o.max_instructions or o.max_memory) and not o.sandbox then
    usage_error("option %s needs --sandbox", o.max_instructions and "--max-instructions"
      or "--max-memory")
  end
  local sandbox = o.sandbox and require "nnrun.sandbox"
  local chunk, locate = M.load_file(o.file, sandbox and {} or nil) -- sandboxed: checked, not run
  if o.threads then
    nn.set_threads(o.threads)
  end
  -- A script receives the command's options as its argument (...).
  local arg = { file = o.file, out = o.out, seed = o.seed, threads = o.threads,
    quiet = o.quiet or false, debug = o.debug or false }
  local result
  if sandbox and not locate then
    result = sandbox.run(o.file, arg, o)
  else
    result = chunk(arg)
  end
  if locate then
    return M.run_experiment(result, o, o.file, locate) -- a YAML document
  elseif type(result) == "table" then
    return M.run_experiment(result, o, o.file)
  elseif result ~= nil then
    usage_error("%s: a script returns an experiment table or nothing, it returned %s",
      o.file, type(result))
  elseif #o.set > 0 then
    usage_error("%s: --set needs a script that returns an experiment table", o.file)
  end
  return 0
end

-- nnrun sweep FILE: the trials of a sweep (nnrun.sweep).
sweep.usage, sweep.parse = M.USAGE, M.parse
function sweep.main(o, args)
  for _, opt in ipairs({ { o.seed, "--seed" }, { #o.set > 0 or nil, "--set" } }) do
    if opt[1] then
      usage_error("option %s is not used by nnrun sweep (set it in the sweep file's set:)",
        opt[2])
    end
  end
  return require("nnrun.sweep").main(o, nn.exe_path() or args[0])
end

-- cli.main(args) -> exit status
function M.main(args)
  local cmd = M.COMMANDS[args[1]] or run
  if type(cmd) == "string" then
    cmd = require(cmd)
  end
  local o
  local ok, perr = pcall(function() o = cmd.parse(args) end)
  if not ok then
    return report(type(perr) == "table" and perr or { exit = 2, message = tostring(perr) }, {})
  end
  if o.help then
    io.stdout:write(cmd.usage, "\n")
    return 0
  end
  if o.version then
    io.stdout:write("nnrun ", nn.version(), " (", _VERSION, ")\n")
    return 0
  end
  local status
  ok, perr = protect(o, function() status = cmd.main(o, args) end)
  if not ok and o.quiet_rank then
    if perr.exit ~= 2 and not perr.quiet then
      io.stderr:write("nnrun: rank ", o.quiet_rank, ": ", first_line(perr.message), "\n")
    end
    return perr.exit or 2
  end
  if not ok then
    return report(perr, o)
  end
  return status
end

return M
