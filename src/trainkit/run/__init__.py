"""A run as a plain function of its config: train, evaluate, predict, tune the learning rate."""
