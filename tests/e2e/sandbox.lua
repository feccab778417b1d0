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
    "exec.lua:1: os.execute is not allowed under --sandbox")
  refused("open.lua", 'local f = io.open("pwned", "w")\nf:write("x")\n',
    "open.lua:1: io.open is not allowed under --sandbox")
  refused("cmod.lua", 'local lpeg = require "lpeg"\n',
    "cmod.lua:1: require 'lpeg' is not allowed under --sandbox (only nnrun and nnrun.record)")
  refused("cpath.lua", 'package.cpath = "./?.so"\n',
    "cpath.lua:1: package is not allowed under --sandbox")
  refused("bytecode.lua", 'local f = load("\\27LuaT\\0\\25\\147\\r\\n\\26\\n", "blob")\n',
    "bytecode.lua:1: load of a binary chunk is not allowed under --sandbox")
  refused("bmode.lua", 'local f = load("return 1", "c", "bt")\n',
    "bmode.lua:1: load of a binary chunk is not allowed under --sandbox")
  refused("dump.lua", "local s = string.dump(function() end)\n",
    "dump.lua:1: string.dump is not allowed under --sandbox")
  refused("method.lua", 'local s = ("x").dump(print)\n',
    "method.lua:1: string.dump is not allowed under --sandbox")
  refused("hook.lua", 'debug.sethook(function() end, "", 0)\n',
    "hook.lua:1: debug.sethook is not allowed under --sandbox")
  refused("spawn.lua", 'local nn = require "nnrun"\nnn.spawn({ "touch", "pwned" })\n',
    "spawn.lua:2: attempt to call a nil value (field 'spawn')")
  refused("tostr.lua", "error(setmetatable({}, { __tostring = function() while true do end end }))\n",
    "tostr.lua: error raised with a table value, not a message")
  -- a module the script patches is its own copy, not the one nnrun runs
  refused("patch.lua", 'require("nnrun.record").new = nil\n'
    .. 'error("intact: " .. tostring(require("nnrun.record").new ~= nil))\n',
    "patch.lua:2: intact: true")
  refused("dofile.lua", 'dofile("/etc/passwd")\n',
    "dofile.lua:1: dofile is not allowed under --sandbox")
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
    "gc.lua:1: __gc metamethods are not allowed under --sandbox")
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

-- experiments/xor.lua runs under --sandbox as without it: the same summary
-- and losses.
function cases.xor()
  local xor = h.q(src .. "/experiments/xor.lua")
  local code, out, err = h.nnrun(xor .. " --out a --quiet")
  expect_exit(code, 0, out, err)
  local scode, sout, serr = h.nnrun("--sandbox " .. xor .. " --out b --quiet")
  expect_exit(scode, 0, sout, serr)
  check(out:match("test accuracy 100%.0%%"), "stdout %q", out)
  check(out:gsub("%-> a\n", "-> b\n") == sout, "stdout %q vs %q", out, sout)
  local function losses(d)
    return (read(dir .. "/" .. d .. "/metrics.jsonl") or ""):gsub(',"seconds":[^}]*', "")
  end
  check(#losses("a") > 0 and losses("a") == losses("b"), "losses differ:\n%s\n%s", losses("a"),
    losses("b"))
end

h.main(cases, case)
