"""``eegmi figures`` renders the figure set headless, with the CLI error contract."""

import json

from eegmi.cli import main


def test_figures_for_a_bundled_model(tmp_path, capsys) -> None:
    out = tmp_path / "figs"
    code = main(["figures", "--out", str(out), "--models", "E1", "--frames", "0", "7", "--json"])
    assert code == 0
    manifest = json.loads(capsys.readouterr().out)
    assert manifest["frames"] == [0, 7]
    assert (out / "E1.png").stat().st_size > 1000 and (out / "E1.pdf").exists()
    on_disk = json.loads((out / "figure_set.json").read_text())
    assert on_disk["frames"] == [0, 7]


def test_figures_unknown_model_is_one_line_error(tmp_path, capsys) -> None:
    code = main(["figures", "--out", str(tmp_path / "f"), "--models", str(tmp_path / "nope")])
    assert code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "nope" in err
    assert not (tmp_path / "f" / "figure_set.json").exists()
