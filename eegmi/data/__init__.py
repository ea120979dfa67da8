"""EEG data: electrode geometry, the topomap operator, preprocessing and the injection layer.

Modules (import them directly; this package imports none of them so that
``import eegmi.data`` stays cheap):

- :mod:`eegmi.data.montage`     electrode names and head-frame positions (MNE montages)
- :mod:`eegmi.data.projection`  head-sphere fit and azimuthal equidistant projection
- :mod:`eegmi.data.topomap`     electrodes -> image as one cached linear operator
- :mod:`eegmi.data.preprocess`  percentile clipping and [0, 1] scaling
- :mod:`eegmi.data.injection`   reference marks, occlusion and loss mask (paper section 3.2)
- :mod:`eegmi.data.recording`, :mod:`eegmi.data.synthetic`, :mod:`eegmi.data.loaders`,
  :mod:`eegmi.data.deap`, :mod:`eegmi.data.dataset`  recordings, loaders and batches
"""
