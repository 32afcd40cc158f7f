"""Training data, the training step and the evaluation step of StanceFrame."""
