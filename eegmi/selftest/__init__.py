"""``eegmi selftest``: every analysis run on planted ground truths and controls.

Each analysis family contributes a module here with one function
``checks(quick: bool = False, cancel: CancelToken | None = None) -> Job[list[Check]]``
(a job generator, see :mod:`eegmi.jobs`) returning :class:`Check` rows: a planted case or
control, the score the analysis gave, the bar it must meet and whether it did.
"""

from eegmi.selftest.check import Check

__all__ = ["Check"]
