"""Nets of this project: plain torch.nn.Modules that return raw scores (logits or values)."""
