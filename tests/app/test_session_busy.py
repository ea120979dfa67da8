"""The status bar's busy state clears when a panel's own long job ends."""

from app.session import Session
from eegmi.jobs import Progress


def test_busy_clears_after_a_panel_job(qtbot) -> None:
    session = Session()
    seen: list[tuple[str, float]] = []
    session.busy.connect(lambda msg, frac: seen.append((msg, frac)))

    def job(cancel):
        for i in range(3):
            cancel.raise_if_cancelled()
            yield Progress(i + 1, 3, "step")
        return 42

    handle = session.submit(job, "panel job")
    with qtbot.waitSignal(handle.finished, timeout=10000) as blocker:
        pass
    assert blocker.args == [42]
    assert seen and seen[-1] == ("", 1.0)
    session.shutdown()
