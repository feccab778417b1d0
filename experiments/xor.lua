-- XOR, trained by hand: the forward pass, the cost, backpropagation and the
-- gradient-descent step written out one call at a time.
--   nnrun experiments/xor.lua [--out DIR] [--seed N]
local nn = require "nnrun"
local record = require "nnrun.record"

local cli = ... or {}
local seed = cli.seed or 1

-- The four XOR points and their targets.
local x = nn.tensor{ { 0, 0 }, { 0, 1 }, { 1, 0 }, { 1, 1 } }
local t = nn.tensor{ { 0 }, { 1 }, { 1 }, { 0 } }

-- 2 inputs -> 8 tanh units -> 1 sigmoid output.
local net = nn.sequential({
  nn.dense(2, 8, { init = "xavier_uniform" }), nn.tanh(),
  nn.dense(8, 1), nn.sigmoid(),
}, { seed = seed })
local loss = nn.loss("bce")                               -- binary cross-entropy
local opt = nn.optim.sgd(net, { lr = 0.5, momentum = 0.9 }) -- bound to net

-- Check backpropagation against finite differences before training.
local check = nn.gradcheck(net, x, t, loss)
assert(check.ok, "gradient check failed: " .. check.max_rel_error)

local epochs = 1000
local rec = record.new(cli, {
  name = "xor", epochs = epochs,
  config = { name = "xor", seed = seed, model = tostring(net), loss = "bce",
    optimizer = opt:config(), train = { epochs = epochs, batch_size = 4 } },
})
local start = nn.now()
for epoch = 1, epochs do
  local y = net:forward(x)         -- predictions (4, 1)
  local cost = loss:forward(y, t)  -- how wrong they are
  local g = loss:backward()        -- dcost/dy
  net:zero_grad()
  net:backward(g)                  -- dcost/dw for every layer, last to first
  opt:step()                       -- w <- w - lr * (momentum-smoothed) gradient
  if epoch % 100 == 0 then
    rec:epoch{ epoch = epoch, train_loss = cost, lr = opt:lr(), seconds = nn.now() - start }
    start = nn.now()
  end
end

local ev = nn.evaluate(net, nn.dataset(x, t), loss)
local summary = rec:finish{ test_loss = ev.loss, test_accuracy = ev.accuracy, seed = seed,
  parameters = net:param_count(), epochs = epochs, test_on_train = true }
print(record.summary_line(summary))
for i = 1, 4 do
  print(string.format("  %d xor %d -> %.3f", x[i][1], x[i][2], net:forward(x)[i][1]))
end
