"""The memory plan of a run: memory.py (the arithmetic: weights, gradients, AdamW state, activations per token,
runtime; what fits) <- build.py (the model built on the meta device with the method applied, for exact counts;
the check train() makes) <- report.py (`tunesmith plan`)."""
