"""Analyses of trained models, shared by ``eegmi analyze ...`` and the GUI panels.

Each analysis is a function returning a result dataclass with ``to_json()``;
long ones are job generators (see :mod:`eegmi.jobs`).  Modules:

- ``eigenspectrum``: PCA spectra of activations, power-law exponent (Huber fit),
  streaming float64 covariance for large input counts, per-layer spectra.
- ``activations``: streaming activation collection from a model over batches
  (hook names, dimension sub-sampling, progress and cancellation).
- ``stimuli``: moving stimuli (a dipole-like blob travelling round the scalp,
  a dot moving over the image).
- ``projections``: random projections of a stimulus trajectory, their average
  action and the fraction of input variance they explain.
"""
