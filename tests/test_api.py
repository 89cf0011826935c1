"""`xmlload.load(...)` from Python: from a thread and from the main thread (signal
handlers as they were, no processes left behind), from a plain script with and without the
`__main__` guard that spawn-started workers need, and typed errors for bad usage."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil
import pytest

import xmlload
from tests.conftest import CONTRACT, REPO
from xmlload.errors import ContractError, SettingsError
from xmlload.summary import RunSummary


def children() -> set[int]:
    """Running child processes, except multiprocessing's resource tracker and fork server
    (what the server forked counts): the standard library starts them once per
    interpreter and keeps them for every later use. A fork server started from a thread
    ends with that thread and stays a zombie until the next run reaps it: not running."""
    kept = ("resource_tracker", "forkserver")
    running = {c.pid: line for c in psutil.Process().children(recursive=True)
               if (line := _command_line(c)) is not None}  # fmt: skip
    helpers = {pid for pid, line in running.items() if any(name in line for name in kept)}
    direct = {c.pid for c in psutil.Process().children()}
    return set(running) - (helpers & direct)


def _command_line(process: psutil.Process) -> str | None:
    """The command line of a running process; None once it has ended or is a zombie
    (a process can end between the listing and this read)."""
    try:
        return " ".join(process.cmdline())
    except (psutil.NoSuchProcess, psutil.ZombieProcess):
        return None


def children_after(before: set[int]) -> set[int]:
    """The running children once those ending with the run have ended (up to 10 s)."""
    deadline = time.monotonic() + 10
    while (found := children()) != before and time.monotonic() < deadline:
        time.sleep(0.1)
    return found


def check_corpus_summary(summary: RunSummary) -> None:
    assert (summary.documents, summary.succeeded, summary.failed) == (82, 81, 1)
    assert dict(summary.failed_by_stage) == {"validation": 1}
    assert summary.rows_by_table["app_base"] == 81
    assert summary.exit_code == 3 and summary.elapsed > 0


def test_load_from_a_thread(corpus_dir: Path, tmp_path: Path) -> None:
    before = (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM), children())
    found: list[object] = []

    def work() -> None:
        try:
            found.append(xmlload.load(contract=CONTRACT, source=corpus_dir, workers=2,
                                      target=f"sqlite:///{tmp_path / 't.db'}",
                                      create_tables=True))  # fmt: skip
        except BaseException as error:  # the test reports it below
            found.append(error)

    thread = threading.Thread(target=work)
    thread.start()
    thread.join(timeout=300)
    assert isinstance(found[0], RunSummary), found
    check_corpus_summary(found[0])
    after = (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM),
             children_after(before[2]))  # fmt: skip
    assert after == before


def test_load_in_the_main_thread_restores_signal_handlers(corpus_dir: Path, tmp_path: Path) -> None:
    def mine(number: int, frame: object) -> None:
        raise AssertionError("not expected")

    previous = signal.signal(signal.SIGTERM, mine)
    try:
        summary = xmlload.load(CONTRACT, corpus_dir, f"sqlite:///{tmp_path / 't.db'}",
                               create_tables=True, chunk_size=10)  # fmt: skip
        assert signal.getsignal(signal.SIGTERM) is mine
        assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    finally:
        signal.signal(signal.SIGTERM, previous)
    check_corpus_summary(summary)


def run_script(tmp_path: Path, body: str) -> subprocess.CompletedProcess[str]:
    script = tmp_path / "nightly.py"
    script.write_text(body)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                          timeout=300, env=env, cwd=tmp_path)  # fmt: skip


def test_load_from_a_plain_script(corpus_dir: Path, tmp_path: Path) -> None:
    target = tmp_path / "t.db"
    done = run_script(
        tmp_path,
        f"""import xmlload

def nightly():
    return xmlload.load(contract={str(CONTRACT)!r}, source={str(corpus_dir)!r},
                        target="sqlite:///{target}", workers=2, create_tables=True)

if __name__ == "__main__":
    summary = nightly()
    print(summary.succeeded, dict(summary.failed_by_stage))
""",
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "81 {'validation': 1}"


def test_a_script_without_the_main_guard_is_told_how_to_fix_it(
    corpus_dir: Path, tmp_path: Path
) -> None:
    target = tmp_path / "t.db"
    done = run_script(
        tmp_path,
        f"""import xmlload

summary = xmlload.load(contract={str(CONTRACT)!r}, source={str(corpus_dir)!r},
                       target="sqlite:///{target}", workers=2, create_tables=True)
""",
    )
    assert done.returncode == 1
    assert "SettingsError" in done.stderr and "nightly.py (line 3)" in done.stderr
    assert 'must be under `if __name__ == "__main__":`' in done.stderr
    assert not target.exists()  # refused before anything was written
    assert "EOFError" not in done.stderr


def test_bad_usage_raises_typed_errors(corpus_dir: Path, tmp_path: Path) -> None:
    target = f"sqlite:///{tmp_path / 't.db'}"
    with pytest.raises(ContractError):
        xmlload.load(tmp_path / "missing.yaml", corpus_dir, target)
    with pytest.raises(SettingsError, match="workers"):
        xmlload.load(CONTRACT, corpus_dir, target, workers=0)
    with pytest.raises(SettingsError, match="chunk_sise"):
        xmlload.load(CONTRACT, corpus_dir, target, chunk_sise=10)
