"""The toolkit's own model families (DeepSets) and building blocks (a QKeras MLP).

Families register through :mod:`deepsets_trigger.registry` (this package's by
:mod:`deepsets_trigger.builtin`); the pipeline, CLI and study code never branch on a kind.
"""
