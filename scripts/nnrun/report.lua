-- nnrun.report: `nnrun report DIR`, one self-contained DIR/report.html:
-- for a run the summary, the curves (inline SVG), the confusion matrix and
-- the landscape when drawn (PNG data URIs), the metrics per epoch and the
-- config; for a sweep the ranked table, its plots and the best trial's
-- experiment.  Nothing is fetched from the network when it is opened.
local options = require "nnrun.options"
local rundir = require "nnrun.rundir"
local plot = require "nnrun.plot"
local util = require "nnrun.util"

local M = {}

M.usage = [[
usage: nnrun report DIR [options]

Writes DIR/report.html, one self-contained page (images inline, nothing
fetched from the network) of a run directory (summary, curves, confusion
matrix, landscape when drawn, metrics, config) or of a sweep directory
(ranked trials, plots, the best trial's experiment).  Draws the plots first
(nnrun plot); needs gnuplot (Debian gnuplot-nox).

options:
  --quiet       print nothing
  --debug       show Lua tracebacks with errors]]

local OPTIONS = { options.HELP, options.QUIET, options.DEBUG }

function M.parse(args)
  return options.parse(args, 2, OPTIONS, { command = "nnrun report", init = { files = {} } })
end

local B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"

-- s in base64 (RFC 4648, with padding).
function M.base64(s)
  local out = {}
  for i = 1, #s, 3 do
    local a, b, c = s:byte(i, i + 2)
    local n = (a << 16) | ((b or 0) << 8) | (c or 0)
    local q = {}
    for k = 1, 4 do
      local v = (n >> (6 * (4 - k))) & 63
      q[k] = B64:sub(v + 1, v + 1)
    end
    if not b then
      q[3], q[4] = "=", "="
    elseif not c then
      q[4] = "="
    end
    out[#out + 1] = table.concat(q)
  end
  return table.concat(out)
end

local function esc(s)
  return (tostring(s):gsub("[&<>\"']", { ["&"] = "&amp;", ["<"] = "&lt;", [">"] = "&gt;",
    ['"'] = "&quot;", ["'"] = "&#39;" }))
end
M.escape = esc

-- A number as shown (6 significant digits), with its exact value kept in
-- data-value.
local function num(v, key)
  if type(v) ~= "number" then
    return string.format('<span class="v"%s>%s</span>', key and
      string.format(' data-key="%s"', esc(key)) or "", esc(v))
  end
  local shown = math.type(v) == "integer" and tostring(v) or string.format("%.6g", v)
  return string.format('<span class="v"%s data-value="%s">%s</span>', key and
    string.format(' data-key="%s"', esc(key)) or "", string.format("%.17g", v), shown)
end

local function img(path, alt)
  local data = util.read_file(path)
  if not data then
    return ""
  end
  return string.format('<img alt="%s" src="data:image/png;base64,%s">', esc(alt),
    M.base64(data))
end

-- An SVG file inline (without its XML prolog).
local function svg(path)
  local text = util.read_file(path)
  if not text then
    return ""
  end
  return '<div class="svg">' .. (text:gsub("^<%?xml.-%?>%s*", "")) .. "</div>"
end

local STYLE = [[
body { font: 15px/1.45 system-ui, sans-serif; margin: 2em auto; max-width: 1400px;
  padding: 0 1em; color: #222; }
h1 { font-size: 1.6em; margin-bottom: 0.2em; }
h2 { font-size: 1.2em; margin-top: 1.8em; border-bottom: 1px solid #ddd; }
table { border-collapse: collapse; }
td, th { padding: 0.2em 0.8em; border-bottom: 1px solid #eee; text-align: left; }
td.n, th.n { text-align: right; font-variant-numeric: tabular-nums; }
pre { background: #f6f6f6; padding: 0.8em; overflow: auto; font-size: 13px; }
img, .svg svg { max-width: 100%; height: auto; }
.muted { color: #777; }
]]

local function page(title, body)
  return "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>"
    .. esc(title) .. "</title>\n<style>\n" .. STYLE .. "</style>\n</head>\n<body>\n"
    .. body .. "\n</body>\n</html>\n"
end

-- The keys of a JSON object's text, in the order they appear.
local function key_order(text)
  local keys = {}
  for k in (text or ""):gmatch('\n%s*"([^"]+)":') do
    keys[#keys + 1] = k
  end
  return keys
end

local function summary_table(dir)
  local s = rundir.summary(dir)
  if not s then
    return '<p class="muted">no summary.json (the run did not finish)</p>'
  end
  local rows = {}
  for _, k in ipairs(key_order(util.read_file(dir .. "/summary.json"))) do
    if s[k] ~= nil then
      rows[#rows + 1] = string.format('<tr><th>%s</th><td class="n" id="summary-%s">%s</td></tr>',
        esc(k), esc(k), num(s[k], k))
    end
  end
  return '<table class="summary">' .. table.concat(rows, "\n") .. "</table>", s
end

local METRIC_COLUMNS = { "epoch", "train_loss", "val_loss", "val_accuracy", "lr", "seconds" }

local function metrics_table(m)
  local cols = {}
  for _, c in ipairs(METRIC_COLUMNS) do
    for _, r in ipairs(m) do
      if r[c] ~= nil then
        cols[#cols + 1] = c
        break
      end
    end
  end
  local head = {}
  for i, c in ipairs(cols) do
    head[i] = '<th class="n">' .. esc(c) .. "</th>"
  end
  local rows = { "<tr>" .. table.concat(head) .. "</tr>" }
  for _, r in ipairs(m) do
    local cells = {}
    for i, c in ipairs(cols) do
      cells[i] = '<td class="n">' .. (r[c] ~= nil and num(r[c]) or "") .. "</td>"
    end
    rows[#rows + 1] = "<tr>" .. table.concat(cells) .. "</tr>"
  end
  return '<table class="metrics">' .. table.concat(rows, "\n") .. "</table>"
end

function M.run_page(dir)
  local written = plot.run_plots(dir)
  local out = dir .. "/plots"
  local summary, s = summary_table(dir)
  s = s or {}
  local parts = {
    string.format("<h1>%s</h1>", esc(s.name or util.basename(dir))),
    string.format('<p class="muted">run directory %s; status %s</p>', esc(dir),
      esc(s.status or "unknown")),
    "<h2>Summary</h2>", summary,
    "<h2>Curves</h2>", svg(out .. "/curves.svg"),
  }
  if util.exists(out .. "/confusion.png") then
    parts[#parts + 1] = "<h2>Confusion matrix (test set)</h2>"
    parts[#parts + 1] = img(out .. "/confusion.png", "confusion matrix")
  end
  if util.exists(out .. "/landscape.png") then
    parts[#parts + 1] = "<h2>Loss landscape</h2>"
    parts[#parts + 1] = img(out .. "/landscape.png", "loss landscape")
    parts[#parts + 1] = img(out .. "/landscape_3d.png", "loss landscape, surface")
  end
  parts[#parts + 1] = "<h2>Metrics per epoch</h2>"
  parts[#parts + 1] = metrics_table(rundir.metrics(dir))
  parts[#parts + 1] = "<h2>Configuration (config.yaml)</h2>"
  parts[#parts + 1] = "<pre>" .. esc(util.read_file(dir .. "/config.yaml") or "") .. "</pre>"
  return page((s.name or "run") .. " — nnrun report", table.concat(parts, "\n")), written
end

function M.sweep_page(dir)
  local written = plot.sweep_plots(dir, {})
  local sw = rundir.sweep(dir)
  local name = sw.doc.name or util.basename(dir)
  local head = { "<tr><th class=\"n\">rank</th><th>trial</th><th class=\"n\">"
    .. esc(sw.metric or "metric") .. "</th><th>status</th>" }
  for _, p in ipairs(sw.params) do
    head[#head + 1] = '<th class="n">' .. esc(p) .. "</th>"
  end
  local rows = { table.concat(head) .. "</tr>" }
  for _, t in ipairs(sw.trials) do
    local cells = { string.format(
      '<td class="n">%s</td><td>%s</td><td class="n">%s</td><td>%s</td>',
      t.rank and tostring(t.rank) or "-", esc(t.trial or string.format("trial-%04d", t.id)),
      t.metric ~= nil and num(t.metric) or "-", esc(t.status)) }
    for _, p in ipairs(sw.params) do
      local v = (t.parameters or {})[p]
      cells[#cells + 1] = '<td class="n">' .. (v ~= nil and num(v) or "") .. "</td>"
    end
    rows[#rows + 1] = "<tr>" .. table.concat(cells) .. "</tr>"
  end
  local parts = {
    string.format("<h1>%s</h1>", esc(name)),
    string.format('<p class="muted">sweep directory %s; %d trials, ranked by %s (%s)</p>',
      esc(dir), #sw.trials, esc(sw.metric or "?"), esc(sw.mode or "?")),
    "<h2>Trials</h2>", '<table class="trials">' .. table.concat(rows, "\n") .. "</table>",
    "<h2>Plots</h2>",
  }
  for _, path in ipairs(written) do
    parts[#parts + 1] = img(path, util.basename(path))
  end
  local best = util.read_file(dir .. "/best.yaml")
  if best then
    parts[#parts + 1] = "<h2>The best trial's experiment (best.yaml)</h2>"
    parts[#parts + 1] = "<pre>" .. esc(best) .. "</pre>"
  end
  return page(name .. " — nnrun sweep report", table.concat(parts, "\n")), written
end

function M.main(o)
  local dir = plot.one_dir(o, "report")
  local kind = rundir.check(dir)
  require("nnrun.gnuplot").need()
  local html = kind == "sweep" and M.sweep_page(dir) or M.run_page(dir)
  local path = dir .. "/report.html"
  local ok, err = util.write_file(path, html)
  if not ok then
    error({ exit = 1, message = err }, 0)
  end
  if not o.quiet then
    io.stdout:write(path, "\n")
  end
  return 0
end

return M
