-- The seed's classifier of the digits 0-3: 8x8 glyphs, 64 inputs, a hidden
-- ReLU layer and 4 outputs under a softmax cross-entropy.  Returns an
-- experiment table; nnrun builds, trains and records it.
--   nnrun experiments/digits03.lua [--set optimizer.lr=0.05] [--out DIR]
return {
  name = "digits03",
  seed = 1,
  data = { generator = "digits03", n_per_class = 300, noise = 0.3, test_split = 0.2 },
  model = {
    input = 64,
    layers = {
      { dense = 32, activation = "relu", init = "he_normal" },
      { dense = 4 },
    },
  },
  loss = "cross_entropy",
  optimizer = { name = "sgd", lr = 0.1, momentum = 0.9 },
  schedule = { name = "cosine", warmup = 2, warmup_start = 0.1 },
  train = {
    epochs = 20, batch_size = 32, shuffle = true, validation_split = 0.2,
    early_stopping = { metric = "val_loss", patience = 5 },
  },
}
