"""Output people read: to a pipe or file, nothing is wrapped at 80 columns; progress
log lines are whole, one per event, with an ISO timestamp; both rates are labelled."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from tests.conftest import CONTRACT
from tests.helpers import cli_command

LINE = re.compile(
    r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d Progress: [\d,]+/[\d,]+ \([\d.]+%\) - Rate: [\d,.]+ "
    r"docs/min - ETA: [\d.]+ min - Success: [\d,]+, Failed: [\d,]+ - Workers: \d+$"
)


def test_piped_output_is_not_wrapped_and_progress_lines_are_whole(
    corpus_dir: Path, tmp_path: Path
) -> None:
    deep = tmp_path / ("a-rather-long-directory-name-" * 3) / "xml"
    deep.mkdir(parents=True)
    wrong = "sample-source-xml-wrong-schema--600000.xml"
    for name in ("sample--127582.xml", wrong):
        (deep / name).write_bytes((corpus_dir / name).read_bytes())
    target = f"sqlite:///{tmp_path / 't.db'}"
    done = subprocess.run(cli_command("run", "--contract", str(CONTRACT), "--source", str(deep),
                                      "--target", target, "--create-tables", "--progress", "log"),
                          capture_output=True, text=True, timeout=300)  # fmt: skip
    assert done.returncode == 3, done.stderr
    progress = [line for line in done.stderr.splitlines() if "Progress:" in line]
    assert progress and all(LINE.match(line) for line in progress), done.stderr
    assert f"{deep / wrong} [validation] document element" in done.stdout  # one line
    assert "docs/s overall" in done.stdout and "docs/s after start-up" in done.stdout
    status = subprocess.run(cli_command("status", "--target", target), capture_output=True,
                            text=True, timeout=60)  # fmt: skip
    assert "docs/s after start-up (first document started to last finished" in status.stdout


def test_the_live_bar_pulses_until_counted_then_moves_with_documents() -> None:
    import io
    import time

    from rich.console import Console

    from xmlload.parallel.board import BoardSnapshot, Totals, WorkerEntry
    from xmlload.parallel.progress import BarProgress

    screen = io.StringIO()
    bar = BarProgress(Console(file=screen, force_terminal=True, width=160))
    now = time.time()
    busy = WorkerEntry(1, now, now, chunk=7, in_chunk=12)
    idle = WorkerEntry(2, now, now)
    lines = []
    for snapshot in (
        BoardSnapshot(Totals(0, 0, 0, 0, now), {}),
        BoardSnapshot(Totals(2460, 700, 692, 8, now - 3), {"w1": busy, "w2": idle}),
        BoardSnapshot(Totals(2460, 2460, 2430, 30, now - 9), {"w1": idle, "w2": idle}),
    ):
        bar.update(snapshot)
        lines.append(bar.progress.get_renderable())
    rendered = []
    for renderable in lines:
        capture = Console(file=io.StringIO(), width=160, force_terminal=False)
        capture.print(renderable)
        rendered.append(capture.file.getvalue().rstrip("\n"))
    assert "0/?" in rendered[0] and "0 workers" in rendered[0]
    assert "712/2,460" in rendered[1] and "2 workers" in rendered[1]  # 700 + 12 in chunk 7
    assert "2,460/2,460" in rendered[2] and "failed       30" in rendered[2]
    widths = {len(line) for line in rendered[1:]}
    assert len(widths) == 1  # the line keeps its width as the numbers grow
