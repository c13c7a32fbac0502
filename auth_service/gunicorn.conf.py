"""gunicorn settings that need code (start.sh passes the rest on the command line)."""

from prometheus_client import multiprocess


def child_exit(server, worker):
    # A worker's live metrics files go with it; its counters stay in the totals.
    multiprocess.mark_process_dead(worker.pid)
