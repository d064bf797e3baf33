"""The few library internals the kit needs, one adapter module per library.

Everything else uses the libraries' public APIs. Each function here names the internal it
touches, and tests/kit/test_compat.py fails with that name when an upgrade changes it.
"""
