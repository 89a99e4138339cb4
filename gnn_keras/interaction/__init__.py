"""Interaction network for edge classification, converted by hls4ml through its Extension API.

Modules: :mod:`.layers` (Keras gather / aggregate), :mod:`.model` (builder), :mod:`.hls` (hls4ml
layers, templates, C++ header, registration), :mod:`.conversion` (types, rules, Keras-side
preparation, the config fix), :mod:`.data` (sector graphs → model inputs, checks),
:mod:`.metrics` (edge-level Keras vs firmware), :mod:`.resources` (analytic costs),
:mod:`.family` (the plugin interface's functions), :mod:`.examples` (a user's custom layer).
"""
