-- Regression: fit y = sin(2 pi x) from noisy samples with a small tanh
-- network under mean squared error.  Built from Lua objects and returned as
-- an experiment, so nnrun trains and records it; experiments/regression.yaml
-- is the same experiment written as a config file (same figures).
--   nnrun experiments/regression.lua [--out DIR]
local nn = require "nnrun"

local data = nn.datasets.curve{ n = 400, noise = 0.1, seed = 7 }
local train, test = data:split(0.25, 7)

return {
  name = "regression",
  seed = 3,
  data = { train = train, test = test, seed = 7 }, -- seed: of the validation split
  model = nn.sequential({
    nn.dense(1, 32, { init = "xavier_uniform" }), nn.tanh(),
    nn.dense(32, 32), nn.tanh(),
    nn.dense(32, 1),
  }, { seed = 3 }),
  loss = "mse",
  optimizer = nn.optim.sgd{ lr = 0.05, momentum = 0.9 },
  schedule = nn.schedule{ name = "step", step_size = 100, gamma = 0.5 },
  train = { epochs = 300, batch_size = 16, validation_split = 0.2 },
  output = { checkpoint_every = 0 }, -- 300 short epochs: save at the end only
}
