-- The default experiment on Fashion-MNIST (Debian's dataset-fashion-mnist):
-- a 784-256-128-10 ReLU MLP, SGD with Nesterov momentum, a per-batch cosine
-- schedule after one epoch of warm-up.  The twin of
-- experiments/fashion_mnist.yaml; returns an experiment table that nnrun
-- builds, trains, checkpoints and records.
--   nnrun experiments/fashion_mnist.lua [--out DIR] [--resume [DIR]]
local batches = 422 -- per epoch: 54000 training images (after validation) / 128
return {
  name = "fashion_mnist",
  seed = 1,
  data = { fashion_mnist = {}, normalize = "scale", stratify = true },
  model = {
    input = 784,
    layers = {
      { dense = 256, activation = "relu", init = "he_normal" },
      { dense = 128, activation = "relu", init = "he_normal" },
      { dense = 10 },
    },
  },
  loss = "cross_entropy",
  optimizer = { name = "sgd", lr = 0.08, momentum = 0.9, nesterov = true },
  -- total: the batches after the warm-up, 14 * batches (follows train.epochs)
  schedule = { name = "cosine", per_batch = true, warmup = batches, warmup_start = 0.1 },
  train = { epochs = 15, batch_size = 128, shuffle = true, validation_split = 0.1 },
  output = { checkpoint_every = 1, checkpoint_best = "val_accuracy" },
}
