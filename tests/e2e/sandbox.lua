-- End-to-end cases of `nnrun --sandbox FILE.lua` (run under the stock
-- lua5.4, loading no nnrun code):
--   lua5.4 sandbox.lua NNRUN SOURCE_DIR WORK_DIR CASE
local exe, src, work, case = arg[1], arg[2], arg[3], arg[4]
local here = arg[0]:match("^(.*)/[^/]*$") or "."
local harness = dofile(here .. "/harness.lua")
local dir = work .. "/sandbox_" .. case
local h = harness.new(exe, dir)
local read, write, check, expect_exit = h.read, h.write, h.check, h.expect_exit

-- The names in dir (sorted, one string).
local function listing()
  local p = assert(io.popen("ls " .. h.q(dir)))
  local names = {}
  for l in p:lines() do
    names[#names + 1] = l
  end
  p:close()
  table.sort(names)
  return table.concat(names, "\n") .. "\n"

end

-- Each script, run with --sandbox: exit 2, its one-line error, nothing
-- written (no run directory, no file the script meant to make).
local function refused(name, body, message, extra)
  write(dir .. "/" .. name, body)
  local code, out, err = h.nnrun("--sandbox " .. (extra or "") .. " " .. name .. " --out r")
  expect_exit(code, 2, out, err)
  check(err == "nnrun: " .. message .. "\n", "%s: stderr %q", name, err)
  check(out == "", "%s: stdout %q", name, out)
  local want = { "err.txt", name, "out.txt" }
  table.sort(want)
  check(listing() == table.concat(want, "\n") .. "\n", "%s: files %q", name, listing())
  os.remove(dir .. "/" .. name)
end

local cases = {}

function cases.refused()
  refused("exec.lua", 'os.execute("touch pwned")\n',
    "exec.lua:1: os.execute is not allowed in the sandbox")
  refused("open.lua", 'local f = io.open("pwned", "w")\nf:write("x")\n',
    "open.lua:1: io.open is not allowed in the sandbox")
  refused("cmod.lua", 'local lpeg = require "lpeg"\n',
    "cmod.lua:1: require 'lpeg' is not allowed in the sandbox (only nnrun, nnrun.record)")
  refused("cpath.lua", 'package.cpath = "./?.so"\n',
    "cpath.lua:1: package is not allowed in the sandbox")
  refused("bytecode.lua", 'local f = load("\\27LuaT\\0\\25\\147\\r\\n\\26\\n", "blob")\n',
    "bytecode.lua:1: load of a binary chunk is not allowed in the sandbox")
  refused("bmode.lua", 'local f = load("return 1", "c", "bt")\n',
    "bmode.lua:1: load of a binary chunk is not allowed in the sandbox")
  refused("dump.lua", "local s = string.dump(function() end)\n",
    "dump.lua:1: string.dump is not allowed in the sandbox")
  refused("method.lua", 'local s = ("x").dump(print)\n',
    "method.lua:1: string.dump is not allowed in the sandbox")
  refused("hook.lua", 'debug.sethook(function() end, "", 0)\n',
    "hook.lua:1: debug.sethook is not allowed in the sandbox")
  refused("spawn.lua", 'local nn = require "nnrun"\nnn.spawn({ "touch", "pwned" })\n',
    "spawn.lua:2: attempt to call a nil value (field 'spawn')")
  refused("tostr.lua", "error(setmetatable({}, { __tostring = function() while true do end end }))\n",
    "tostr.lua: error raised with a table value, not a message")
  -- a module the script patches is its own copy, not the one nnrun runs
  refused("patch.lua", 'require("nnrun.record").new = nil\n'
    .. 'error("intact: " .. tostring(require("nnrun.record").new ~= nil))\n',
    "patch.lua:2: intact: true")
  refused("dofile.lua", 'dofile("/etc/passwd")\n',
    "dofile.lua:1: dofile is not allowed in the sandbox")
end

-- The limits: pcall cannot swallow them.
function cases.limits()
  refused("loop.lua", "while true do pcall(function() while true do end end) end\n",
    "loop.lua: instruction limit of 1000000 reached (--sandbox; see --max-instructions)",
    "--max-instructions 1000000")
  refused("xloop.lua", "local function h() while true do end end\n"
    .. "while true do xpcall(function() while true do end end, h) end\n",
    "xloop.lua: instruction limit of 1000000 reached (--sandbox; see --max-instructions)",
    "--max-instructions 1000000")
  refused("gc.lua", "setmetatable({}, { __gc = function() while true do end end })\n",
    "gc.lua:1: __gc metamethods are not allowed in the sandbox")
  refused("coloop.lua", "while true do coroutine.resume(coroutine.create(function() "
    .. "while true do pcall(function() while true do end end) end end)) end\n",
    "coloop.lua: instruction limit of 1000000 reached (--sandbox; see --max-instructions)",
    "--max-instructions 1000000")
  refused("bomb.lua", "local t = {}\nwhile true do pcall(function()\n"
    .. "  for i = 1, math.huge do t[#t + 1] = string.rep('x', 100000) .. i end\nend) end\n",
    "bomb.lua: memory limit of 16 MB reached (--sandbox; see --max-memory)", "--max-memory 16")
  refused("bomb256.lua", "local t = {}\nwhile true do pcall(function()\n"
    .. "  for i = 1, math.huge do t[#t + 1] = string.rep('x', 1000000) .. i end\nend) end\n",
    "bomb256.lua: memory limit of 256 MB reached (--sandbox; see --max-memory)")
  -- the limit options need --sandbox
  write(dir .. "/ok.lua", "print('hi')\n")
  local code, out, err = h.nnrun("ok.lua --max-memory 4")
  expect_exit(code, 2, out, err)
  check(err == "nnrun: option --max-memory needs --sandbox\n", "stderr %q", err)
end

local PLAIN = " (only plain data leaves --sandbox: tables, strings, numbers, booleans)"
local EXP = 'name = "meta", data = { generator = "xor" }, loss = "bce", '
  .. 'model = { layers = { { dense = 4, activation = "tanh" }, { dense = 1, activation = "sigmoid" } } }, '
  .. 'train = { epochs = 2, batch_size = 4 }'

-- What a script returns reaches the runner as a copy of plain data: no
-- metamethod of the script runs outside the sandbox, functions and cycles
-- are refused.
function cases.plain()
  refused("fn.lua", "return { " .. EXP .. ", on_epoch = function() end }\n",
    "fn.lua: the script returned a function at on_epoch" .. PLAIN)
  refused("fnl.lua", 'return { name = "f", model = { layers = { { dense = 1, init = print } } } }\n',
    "fnl.lua: the script returned a function at model.layers[1].init" .. PLAIN)
  refused("cycle.lua", 'local t = { name = "c" }\nt.data = { up = t }\nreturn t\n',
    "cycle.lua: the script returned a table that contains itself at data.up" .. PLAIN)
  refused("co.lua", "return coroutine.create(print)\n", "co.lua: the script returned a thread" .. PLAIN)
  refused("closed.lua", 'local nn = require "nnrun"\nlocal net = nn.sequential{ nn.dense(2, 1) }\n'
    .. "net:close()\nreturn { name = 'c', model = net }\n",
    "closed.lua: the script returned a closed network at model" .. PLAIN)
  refused("bound.lua", 'local nn = require "nnrun"\nlocal net = nn.sequential{ nn.dense(2, 1) }\n'
    .. "return { name = 'b', model = net, optimizer = nn.optim.sgd(net, { lr = 0.1 }) }\n",
    "bound.lua: the script returned an optimizer bound to a network at optimizer" .. PLAIN)
  -- the runner reads missing keys (seed, optimizer, ...): the script's
  -- __index would raise if it ran there
  write(dir .. "/meta.lua", "local exp = { " .. EXP .. " }\n"
    .. "local trap = { __index = function(_, k) error('script code ran outside the sandbox: ' .. k) end,\n"
    .. "  __pairs = function() while true do end end }\n"
    .. "setmetatable(exp.train, trap)\nreturn setmetatable(exp, trap)\n")
  local code, out, err = h.nnrun("--sandbox meta.lua --out m --quiet")
  expect_exit(code, 0, out, err)
  check(out:match("^meta: completed after 2 epochs"), "stdout %q", out)
end

-- Writes (net:save, nn.yaml.write, nnrun.record) only within the run
-- directory (--out): elsewhere one line, exit 2, nothing written.
function cases.confined()
  local net = 'local nn = require "nnrun"\nlocal net = nn.sequential{ nn.dense(2, 1) }\n'
  local outside = ": writing outside the run directory is not allowed in the sandbox"
  refused("save.lua", net .. 'net:save("m.nnrun")\n', "save.lua:3: m.nnrun" .. outside)
  refused("up.lua", net .. 'net:save("r/../m.nnrun")\n', "up.lua:3: r/../m.nnrun" .. outside)
  refused("abs.lua", net .. 'net:save("' .. dir .. '/m.nnrun")\n', "abs.lua:3: " .. dir .. "/m.nnrun" .. outside)
  refused("yaml.lua", 'require("nnrun").yaml.write("x.yaml", { a = 1 })\n', "yaml.lua:1: x.yaml" .. outside)
  refused("rec.lua", 'require("nnrun.record").new({ out = "elsewhere" }, { name = "x" })\n',
    "elsewhere" .. outside)
  -- within it: allowed
  refused("mkdir.lua", 'require("nnrun").mkdir("/tmp/x")\n', "mkdir.lua:1: /tmp/x" .. outside)
  write(dir .. "/in.lua", net .. "local cli = ...\nnn.mkdir(cli.out)\nnet:save(cli.out .. '/m.nnrun')\n"
    .. "nn.yaml.write(cli.out .. '/sub.yaml', { a = 1 })\n")
  local code, out, err = h.nnrun("--sandbox in.lua --out r")
  expect_exit(code, 0, out, err)
  check(read(dir .. "/r/m.nnrun") and read(dir .. "/r/sub.yaml") == "a: 1\n", "r/: %q",
    read(dir .. "/r/sub.yaml"))
  -- not through a symbolic link in it
  os.execute("ln -s .. " .. h.q(dir .. "/r/up"))
  write(dir .. "/link.lua", net .. "net:save('r/up/m.nnrun')\n")
  code, out, err = h.nnrun("--sandbox link.lua --out r")
  expect_exit(code, 2, out, err)
  check(err == "nnrun: link.lua:3: r/up/m.nnrun" .. outside .. "\n" and not read(dir .. "/m.nnrun"),
    "stderr %q", err)
end

-- A sweep's Lua base experiment always runs in the sandbox: refused at
-- once (exit 2, one line, no sweep directory, nothing the script meant to
-- make); a plain one is swept as a YAML base is.
function cases.sweep()
  local sweep = "experiment: base.lua\nmetric: test_loss\ngrid:\n  optimizer.lr: [0.1, 0.5]\n"
  write(dir .. "/s.yaml", sweep)
  local function refused_base(body, message)
    write(dir .. "/base.lua", body)
    local code, out, err = h.nnrun("sweep s.yaml --out sw")
    expect_exit(code, 2, out, err)
    check(err == "nnrun: " .. message .. "\n", "stderr %q", err)
    check(listing() == "base.lua\nerr.txt\nout.txt\ns.yaml\n", "files %q", listing())
  end
  refused_base('os.execute("touch pwned")\nreturn {}\n',
    "base.lua:1: os.execute is not allowed in the sandbox")
  refused_base('io.open("pwned", "w")\n', "base.lua:1: io.open is not allowed in the sandbox")
  refused_base('require("nnrun").sequential{ require("nnrun").dense(2, 1) }:save("pwned")\n'
    .. "return {}\n", "base.lua:1: pwned: writing files is not allowed in the sandbox")
  refused_base("return { " .. EXP .. ", on_epoch = print }\n",
    "base.lua: the script returned a function at on_epoch" .. PLAIN)
  refused_base("return 42\n",
    "base.lua: a sweep's base script returns an experiment table, it returned number")
  write(dir .. "/base.lua", "return setmetatable({ " .. EXP .. " }, { __index = function(_, k)\n"
    .. "  error('script code ran outside the sandbox: ' .. k) end })\n")
  local code, out, err = h.nnrun("sweep s.yaml --out sw --quiet --jobs 1")
  expect_exit(code, 0, out, err)
  local trials = read(dir .. "/sw/trials.jsonl") or ""
  local n = select(2, trials:gsub('"status":"completed"', ""))
  check(n == 2, "trials.jsonl:\n%s", trials)
  check((read(dir .. "/sw/trial-0002/experiment.yaml") or ""):find("lr: 0.5", 1, true),
    "trial 2: %s", read(dir .. "/sw/trial-0002/experiment.yaml"))
end

-- experiments/regression.lua returns runtime objects (data sets, network,
-- optimiser, schedule): moved out of the sandbox, they train as without it.
function cases.objects()
  local reg = h.q(src .. "/experiments/regression.lua")
  local code, out, err = h.nnrun(reg .. " --out a --quiet")
  expect_exit(code, 0, out, err)
  local scode, sout, serr = h.nnrun("--sandbox " .. reg .. " --out b --quiet")
  expect_exit(scode, 0, sout, serr)
  -- the same line but the wall time
  local function line(o, d)
    return (o:gsub(" in [%d.]+s,", ","):gsub("%-> " .. d .. "\n", "->\n"))
  end
  check(out:match("test R² 0%.97") and line(out, "a") == line(sout, "b"), "stdout %q vs %q",
    out, sout)
  local function losses(d)
    return (read(dir .. "/" .. d .. "/metrics.jsonl") or ""):gsub(',"seconds":[^}]*', "")
  end
  check(#losses("a") > 0 and losses("a") == losses("b"), "losses differ")
  -- one data set met twice is one object
  write(dir .. "/twice.lua", 'local nn = require "nnrun"\nlocal d = nn.datasets.xor()\n'
    .. "return { name = 't', data = { train = d, test = d }, loss = 'mse', train = { epochs = 1 },\n"
    .. "  model = nn.sequential{ nn.dense(2, 1) } }\n")
  code, out, err = h.nnrun("--sandbox twice.lua --out t --quiet")
  expect_exit(code, 0, out, err)
end

-- experiments/xor.lua runs under --sandbox as without it: the same summary
-- and losses.
function cases.xor()
  local xor = h.q(src .. "/experiments/xor.lua")
  local code, out, err = h.nnrun(xor .. " --out a --quiet")
  expect_exit(code, 0, out, err)
  local scode, sout, serr = h.nnrun("--sandbox " .. xor .. " --out b --quiet")
  expect_exit(scode, 0, sout, serr)
  check(out:match("test accuracy 100%.0%%"), "stdout %q", out)
  check((out:gsub(" in [%d.]+s,", ","):gsub("%-> a\n", "-> b\n")) == sout:gsub(" in [%d.]+s,", ","),
    "stdout %q vs %q", out, sout)
  local function losses(d)
    return (read(dir .. "/" .. d .. "/metrics.jsonl") or ""):gsub(',"seconds":[^}]*', "")
  end
  check(#losses("a") > 0 and losses("a") == losses("b"), "losses differ:\n%s\n%s", losses("a"),
    losses("b"))
end

h.main(cases, case)
