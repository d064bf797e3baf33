"""Your project: data sources, nets and anything else of your own that the configs name.

trainkit (the kit) never imports this package; conf/ points at it with `_target_` keys.
"""
