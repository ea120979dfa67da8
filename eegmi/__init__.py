"""eegmi: mechanistic interpretability of neural networks trained on EEG topographic maps.

The library never imports Qt; the GUI lives in the separate ``app`` package.
"""

import os

# MKL's own memory manager keeps a buffer for every matrix size a product has seen
# (about 0.2 MB per new batch size for a 32x512 layer) and never gives it back, so a
# long GUI session running analyses of varying size kept growing.  MKL reads this
# once, when torch loads it, hence here, before anything imports torch; training steps
# took 0.98-1.07x the time without it (benchmarks/shape_caches.py).  A value the user
# set wins.
os.environ.setdefault("MKL_DISABLE_FAST_MM", "1")

__version__ = "0.1.0"
