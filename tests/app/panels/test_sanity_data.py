"""The sanity check's held-out inputs follow the rule of the other analysis panels: a model
card naming a data file never chooses what is read; the session's dataset is handed over."""

from __future__ import annotations

import PySide6
from gui_fixtures import loaded_session, write_tiny_data, write_tiny_model

if PySide6.__version__ == "6.12.0":  # see tests/app/test_activations.py
    _PYSIDE_NONE_GUARD = [None] * 2_000_000


def test_sanity_reads_the_sessions_data_for_a_card_naming_a_file(qtbot, tmp_path) -> None:
    from app.widgets.sanity_view import SanityView
    from eegmi.analysis.inputs import analysis_inputs

    data = write_tiny_data(tmp_path / "rec.npz", seed=2)
    # the card names a data file that is not the one loaded (moved, another machine)
    model = write_tiny_model(tmp_path / "tiny", seed=1, data=tmp_path / "elsewhere" / "rec.npz")
    s = loaded_session(qtbot, model, data)
    try:
        view = SanityView(s, {"integrated_gradients": "Integrated gradients"})
        qtbot.addWidget(view)
        opts = view.options("latent:0")
        assert opts.inputs == "heldout" and opts.data == str(s.data_name)
        inputs = analysis_inputs(s.model, opts.input_spec())  # the recipe's own input set
        assert inputs.values.shape[1] == 32 and str(data.name) in inputs.description
    finally:
        s.shutdown()
