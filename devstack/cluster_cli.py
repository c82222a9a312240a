"""Run the test cluster by hand: `python -m devstack.cluster_cli up` starts it, prints the
KUBECONFIG to use, and stops it (cleanly, by PID) on Ctrl-C or SIGTERM. Foreground on purpose:
the processes belong to this command, so nothing is left running when it ends."""
from __future__ import annotations

import argparse
import signal
import threading

from devstack.cluster import Cluster


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m devstack.cluster_cli", description=__doc__)
    parser.add_argument("command", choices=["up"])
    parser.parse_args()
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    cluster = Cluster().start()
    try:
        print(f"export KUBECONFIG={cluster.kubeconfig}\n# API {cluster.api_url}; Ctrl-C stops it",
              flush=True)
        stop.wait()
    finally:
        cluster.stop()


if __name__ == "__main__":
    main()
