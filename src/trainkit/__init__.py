"""trainkit: a Lightning + Hydra template whose numbers are true by construction."""

__version__ = "0.1.0"
