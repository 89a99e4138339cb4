"""DeepSets and GNN trigger models from training to a measured FPGA-firmware gap (hls4ml)."""

__version__ = "0.1.0"
