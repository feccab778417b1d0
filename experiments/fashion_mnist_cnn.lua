-- A convolutional network on Fashion-MNIST, the twin of
-- experiments/fashion_mnist_cnn.yaml written with the Lua API: the network
-- is an nn.sequential of the input shape {C, H, W} and its layers, the
-- rest an experiment table that nnrun trains, checkpoints and records (its
-- config.yaml says the model is a Lua object: run this script again).
-- The same figures as the YAML, bit for bit.
--   nnrun experiments/fashion_mnist_cnn.lua [--out DIR] [--resume [DIR]]
local nn = require "nnrun"
local seed = 1
local batches = 422 -- per epoch: 54000 training images (after validation) / 128

local net = nn.sequential({
  input = { 1, 28, 28 },
  nn.conv2d{ filters = 32, kernel = 3, padding = "same" }, nn.relu(), -- (B, 32, 28, 28)
  nn.batchnorm(),
  nn.maxpool(2),                                                       -- (B, 32, 14, 14)
  nn.conv2d{ filters = 64, kernel = 3, padding = "same" }, nn.relu(), -- (B, 64, 14, 14)
  nn.batchnorm(),
  nn.maxpool(2),                                                       -- (B, 64, 7, 7)
  nn.flatten(),                                                        -- (B, 3136)
  nn.dense(128, { init = "he_normal" }), nn.relu(),
  nn.dropout(0.3),
  nn.dense(10),
}, { seed = seed })

return {
  name = "fashion_mnist_cnn",
  seed = seed,
  data = { fashion_mnist = {}, normalize = "scale", stratify = true },
  model = net,
  loss = "cross_entropy",
  optimizer = { name = "sgd", lr = 0.05, momentum = 0.9, nesterov = true, weight_decay = 0.0005 },
  schedule = { name = "cosine", per_batch = true, warmup = batches, warmup_start = 0.1 },
  train = { epochs = 12, batch_size = 128, shuffle = true, validation_split = 0.1 },
  output = { checkpoint_every = 1, checkpoint_best = "val_accuracy" },
}
