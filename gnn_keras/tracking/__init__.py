"""Tracking graphs: barrel hits → candidate edges → graph quality, FPGA cost and GNN datasets.

Modules, one job each: ``geometry`` (the TrackML barrel), ``helix`` (helices crossing cylinders),
``collisions`` (Pythia 8 settings and particles), ``hits`` (particles → smeared hits and noise),
``generate`` (event directories from both), ``trackml`` (CSV files), ``event`` (hits + true
edges), ``builders`` (k-NN, ε-NN, pattern, module map), ``sensors`` (static sensor links),
``metrics``, ``scan`` (``deepsets-trigger graphs``; with ``scan_config``, ``scan_work``,
``scan_store``), ``plots``, ``sectors`` (padded φ-sector graphs), ``graph_file`` (their HDF5
file), ``datasets`` (study data), ``cli`` (argument parsers and handlers). Nothing is imported
here, so the CLI stays fast.
"""
