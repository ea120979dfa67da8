"""``eegmi analyze``: headless analyses of trained models.

This module only builds the ``analyze`` parser: each analysis registers its own
sub-command from its module (``analyze_spectra``: eigenspectrum; ``analyze_projections``:
random projections; ``analyze_mech``: propagation, pick & interpolate, linearity,
saliency, sanity). The commands share helpers through ``analyze_common`` and never
import each other.
"""

from __future__ import annotations

import argparse
from typing import Any

from eegmi.cli import analyze_mech, analyze_projections, analyze_saliency, analyze_spectra
from eegmi.cli.options import add_threads_option


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "analyze", help="run an analysis of a model headless",
        description="Analyses of trained models; each prints one JSON object with --json.")
    sub = parser.add_subparsers(dest="analysis", metavar="ANALYSIS")
    analyze_spectra.register_eigenspectrum(sub)
    analyze_projections.register(sub)
    analyze_mech.register_analyze(sub)
    analyze_saliency.register(sub)
    for command in sub.choices.values():  # every analysis takes --threads
        add_threads_option(command)

    def show_help(args: argparse.Namespace) -> None:
        parser.print_help()

    parser.set_defaults(func=show_help)
