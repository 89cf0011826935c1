"""Imported by the fork server that run processes are forked from (processes.py), and
nowhere else: what every worker needs, imported once, and the server made deaf to the
stop signals a service manager sends to the whole process group (only the coordinator
decides what a stop means), and ended by the kernel when the coordinator ends (its
workers, forked from it, then see their parent gone and exit)."""

import ctypes
import signal
import sys

from xmlload.collector import collector_paused

with collector_paused():
    import lxml.etree  # noqa: F401
    import psycopg  # noqa: F401
    import sqlalchemy  # noqa: F401

    import xmlload.db.dialects
    import xmlload.parallel.pool_executor
    import xmlload.stages.records  # noqa: F401

signal.signal(signal.SIGINT, signal.SIG_IGN)
signal.signal(signal.SIGTERM, signal.SIG_IGN)
if sys.platform.startswith("linux"):  # the server dies with the coordinator, even SIGKILLed
    ctypes.CDLL(None).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
