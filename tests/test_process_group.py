"""Stops as service managers send them: SIGTERM to the whole process group (systemd,
`timeout`, a shell's job control), SIGKILL of the coordinator alone, and of the Manager
process holding the progress board."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import psutil

from tests.helpers import cli_command, query, table_run_args, table_source, wait_for_log

DOCUMENTS = 1500


def _group(pgid: int) -> list[psutil.Process]:
    found = []
    for process in psutil.process_iter():
        try:
            if os.getpgid(process.pid) == pgid and process.status() != psutil.STATUS_ZOMBIE:
                found.append(process)
        except (ProcessLookupError, psutil.NoSuchProcess):
            continue
    return found


def _run_under_way(tmp_path: Path, *extra: str) -> tuple[list[str], str, subprocess.Popen]:
    """(command, target, process): a 2-worker run of DOCUMENTS documents in a session of
    its own, once 50 of them are logged."""
    source, target = table_source(tmp_path, DOCUMENTS), f"sqlite:///{tmp_path / 't.db'}"
    command = cli_command(
        "run", *table_run_args(source, target), "--workers", "2", "--chunk-size", "25", *extra
    )
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True
    )
    wait_for_log(target, 50, process)
    return command, target, process


def _stopped_part_way_then_resumed(command: list[str], target: str) -> None:
    """Every success logged has its rows, not all were loaded, and the next run loads the
    rest: each document once."""
    successes = query(target, "SELECT count(*) FROM processing_log WHERE status = 'success'")
    assert successes == query(target, "SELECT count(*) FROM app_base")
    assert 0 < successes[0][0] < DOCUMENTS
    resumed = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert query(target, "SELECT count(*), count(DISTINCT app_id) FROM app_base") == [
        (DOCUMENTS, DOCUMENTS)
    ]
    assert query(target, "SELECT max(attempts) FROM processing_log") == [(1,)]


def _left_running(pgid: int) -> list[tuple[int, list[str]]]:
    """The group's processes still running after up to 30 s."""
    deadline = time.monotonic() + 30
    while _group(pgid) and time.monotonic() < deadline:
        time.sleep(0.2)
    return [(p.pid, p.cmdline()[-2:]) for p in _group(pgid)]


def test_sigterm_to_the_process_group_stops_cleanly_and_resumes(tmp_path: Path) -> None:
    command, target, process = _run_under_way(tmp_path, "--progress", "log")
    os.killpg(process.pid, signal.SIGTERM)
    stdout, stderr = process.communicate(timeout=120)
    assert process.returncode == 143, stderr.decode()[-3000:]
    assert "Traceback" not in stderr.decode(), stderr.decode()[-3000:]
    assert "SIGTERM" in stdout.decode()  # the summary says why the run stopped
    _stopped_part_way_then_resumed(command, target)


def test_helper_processes_exit_when_the_coordinator_is_killed(tmp_path: Path) -> None:
    _, _, process = _run_under_way(tmp_path)
    assert len(_group(process.pid)) >= 4  # coordinator, Manager, 2 workers (+ tracker)
    process.kill()
    process.communicate(timeout=10)
    assert not _left_running(process.pid)


def test_a_killed_progress_board_ends_the_run_with_one_clear_error_and_resumes(
    tmp_path: Path,
) -> None:
    """The Manager process holding the progress board is SIGKILLed mid-run (an OOM kill).
    Before, the run ended with a BrokenPipeError traceback; now it says what went away,
    exits 2, leaves every finished document logged with its rows, and the next run resumes."""
    command, target, process = _run_under_way(tmp_path)
    (server,) = [
        child
        for child in psutil.Process(process.pid).children()
        if "forkserver" in " ".join(child.cmdline())
    ]
    manager = min(server.children(), key=lambda child: child.create_time())  # started first
    manager.kill()
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 2, stderr.decode()[-3000:]
    assert "Traceback" not in stderr.decode(), stderr.decode()[-3000:]
    assert "progress board (its Manager process) went away mid-run" in stderr.decode()
    _stopped_part_way_then_resumed(command, target)
    assert not _left_running(process.pid)
