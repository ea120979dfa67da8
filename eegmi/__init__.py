"""eegmi: mechanistic interpretability of neural networks trained on EEG topographic maps.

The library never imports Qt; the GUI lives in the separate ``app`` package.
"""

__version__ = "0.1.0"
