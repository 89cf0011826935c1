"""A real `xmlload run` process stopped by SIGTERM/SIGINT: exit 143/130, nothing half
written, and the next run finishes every document exactly once."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
import sqlalchemy as sa

from tests.helpers import cli_command, query, table_run_args, table_source


def logged(target: str) -> int:
    try:
        return query(target, "SELECT count(*) FROM processing_log")[0][0]
    except sa.exc.OperationalError:  # no such table yet
        return 0


@pytest.mark.parametrize(
    ("signal_number", "exit_code"), [(signal.SIGTERM, 143), (signal.SIGINT, 130)]
)
def test_stop_then_resume_loads_each_document_once(
    tmp_path: Path, signal_number: int, exit_code: int
) -> None:
    source, target = (
        table_source(tmp_path, 1500, seed=11, median_kb=20),
        f"sqlite:///{tmp_path / 't.db'}",
    )
    command = cli_command("run", *table_run_args(source, target), "--chunk-size", "10")
    process = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    deadline = time.monotonic() + 60
    while logged(target) < 20 and time.monotonic() < deadline and process.poll() is None:
        time.sleep(0.05)
    process.send_signal(signal_number)
    stdout, stderr = process.communicate(timeout=60)
    assert process.returncode == exit_code, stderr.decode()
    assert f"stopped by {signal.Signals(signal_number).name}" in stdout.decode()
    partial = logged(target)
    assert 20 <= partial < 1500
    # every logged document is complete: one app_base row per success
    assert query(target, "SELECT count(*) FROM processing_log WHERE status = 'success'") == query(
        target, "SELECT count(*) FROM app_base"
    )

    resumed = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    assert f"{partial:,} skipped" in resumed.stdout
    assert query(
        target, "SELECT count(*), count(DISTINCT source_key), max(attempts) FROM processing_log"
    ) == [(1500, 1500, 1)]
    assert query(target, "SELECT count(*), count(DISTINCT app_id) FROM app_base") == [(1500, 1500)]
