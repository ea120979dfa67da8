"""Analyses of trained models, shared by ``eegmi analyze ...`` and the GUI panels.

Each analysis is a function returning a result dataclass with ``to_json()``;
long ones are job generators (see :mod:`eegmi.jobs`).  Modules:

- ``powerlaw``: the Huber power-law fit (eigenvalue ∝ k^-alpha, alpha > 0), effective
  rank, the fit window below it, and the fit's warnings.
- ``eigenspectrum``: PCA spectra of activations and their power-law exponent,
  streaming float64 covariance for large input counts.
- ``spectra`` / ``spectra_options``: per-layer spectra of a loaded model next to
  untrained networks of the same architecture and the input (CLI and GUI defaults).
- ``activations``: streaming activation collection from a model over batches
  (hook names, dimension sub-sampling, progress and cancellation).
- ``stimuli``: moving stimuli (a dipole-like blob travelling round the scalp,
  a dot moving over the image).
- ``projections``: random projections of a stimulus trajectory, their average
  action and the fraction of input variance they explain.
"""
