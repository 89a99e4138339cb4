"""Tracking graphs: barrel hits → candidate edges → graph quality, FPGA cost and GNN datasets.

Modules, one job each: ``geometry`` (the TrackML barrel), ``helix`` (helices crossing cylinders),
``generate`` (Pythia 8 events → hits), ``trackml`` (CSV files), ``event`` (hits + true edges),
``builders`` (k-NN, ε-NN, pattern, module map), ``sensors`` (static sensor links), ``metrics``,
``scan`` (``deepsets-trigger graphs``), ``plots``, ``datasets`` (padded sector graphs, study
data), ``cli`` (argument parsers and handlers). Nothing is imported here, so the CLI stays fast.
"""
