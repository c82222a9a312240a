"""Gunicorn configuration for the model server (loaded by `python -m service`).

Bind address, worker count, worker recycling and the timeouts that depend on the deployment come
from the `SERVICE_*` settings and are set by the entry point; this file holds what does not change.
"""
import gc

from service import tracing
from service.metrics import mark_worker_dead

worker_class = "service.worker.DrainingUvicornWorker"
# Load the model once in the master and fork: workers share its pages (see gc.freeze below).
preload_app = True
# Read-only root file system: no control socket (gunicorn >= 25), heartbeat files in /tmp.
control_socket_disable = True
worker_tmp_dir = "/tmp"  # noqa: S108 - the pod's writable emptyDir
# A worker silent for this long (a predict stuck forever) is killed and replaced.
timeout = 60
accesslog = None
errorlog = "-"


def pre_fork(server, worker):
    """Move everything the master allocated (the model) out of the GC's reach before fork: the
    collector would otherwise touch every object's header and copy the pages into each worker."""
    gc.freeze()


def child_exit(server, worker):
    mark_worker_dead(worker.pid)


def post_fork(server, worker):
    """Traces are exported from each worker, set up after fork (service.tracing): off unless an OTLP
    endpoint is configured."""
    tracing.start_exporting()


def worker_exit(server, worker):
    tracing.stop_exporting()  # send the spans still queued
