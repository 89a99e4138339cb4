"""The firmware twin: bit-exact NumPy evaluation of a converted hls4ml model.

hls4ml's own ``predict`` calls the compiled C++ one sample at a time, after a g++ compile of
seconds; the twin reads the converted ``ModelGraph`` (layers, the weights exactly as written
into the C++, every type and table) and computes what the ``io_parallel`` C++ computes for a
whole batch with NumPy. It is trusted for a model only after :func:`compare` found it equal
to the compiled C++ on that model, bit for bit.

One module per layer family (:mod:`.dense`, :mod:`.activation`, :mod:`.pooling`,
:mod:`.normalization`, :mod:`.merge`, :mod:`.inputs`), registered by hls4ml layer class in
:mod:`.registry` (a model family registers its own layers' handlers there too); fixed-point
arithmetic in :mod:`.fixed`.
"""

from deepsets_trigger.emulate.registry import TwinUnsupported
from deepsets_trigger.emulate.twin import Twin, build_twin, unsupported_layers
from deepsets_trigger.emulate.verify import check_against_cpp, compare

__all__ = ["Twin", "TwinUnsupported", "build_twin", "check_against_cpp", "compare", "unsupported_layers"]
