"""trainkit: a Lightning + Hydra template whose numbers are true by construction."""

from trainkit.cli.resolvers import register as _register_resolvers

__version__ = "0.1.0"

# ${trainkit.arrays:...} and the run-directory resolvers work in every composition: the scripts,
# Hydra's compose API in tests and notebooks.
_register_resolvers()
