"""The entry point, `python -m service`: settings, logging, and Gunicorn serving the preloaded model.

It reads the settings, configures logging, loads the model in the Gunicorn master (preload) and
serves it with uvicorn workers. Takes no arguments: configure with SERVICE_*."""
from __future__ import annotations

import logging
import os
import tempfile
from pathlib import Path

from gunicorn.app.base import Application

from service.cgroup import cpu_limit
from service.logs import configure_logging, logging_config
from service.settings import Settings

CONFIG_FILE = Path(__file__).with_name("gunicorn.conf.py")
logger = logging.getLogger("service")


class ServiceApplication(Application):
    """Gunicorn with our config file and the settings; `load()` runs once, in the master."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        super().__init__()

    def load_config(self) -> None:  # replaces argv parsing: the settings are the only input
        self.load_config_from_file(str(CONFIG_FILE))
        settings = self.settings
        self.cfg.set("bind", [f"{settings.host}:{settings.port}"])
        self.cfg.set("workers", settings.workers or cpu_limit())
        self.cfg.set("keepalive", settings.keepalive_seconds)
        self.cfg.set("graceful_timeout", settings.graceful_timeout_seconds)
        self.cfg.set("max_requests", settings.max_requests)
        self.cfg.set("max_requests_jitter", settings.max_requests // 10)
        self.cfg.set("logconfig_dict", logging_config(settings.log_level))

    def load(self):
        from service.app import create_app
        from service.loading import load_model

        app = create_app(self.settings, load_model(self.settings),
                         image_tag=os.environ.get("IMAGE_TAG"), image_digest=os.environ.get("IMAGE_DIGEST"))
        app.state.readiness.prime()
        return app


def prepare_metrics_dir() -> None:
    """Give prometheus-client's multiprocess mode an existing, empty directory (a private one under
    /tmp unless PROMETHEUS_MULTIPROC_DIR names one). Files left by an earlier run would be counted
    again, so they are removed, as prometheus-client's docs ask. Runs before prometheus_client is
    imported (by service.app): it picks its value store at import."""
    configured = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if not configured:
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="prometheus-")
        return
    directory = Path(configured)
    directory.mkdir(parents=True, exist_ok=True)
    for stale in directory.glob("*.db"):
        stale.unlink()


# One worker per core already uses every core: a BLAS/OpenMP thread pool in each worker would only
# oversubscribe them (and each pool's buffers cost memory per worker). It also keeps the master's
# priming prediction from starting an OpenMP pool, which forked workers could deadlock on. Set
# before numpy is imported; an explicit value in the environment wins.
SINGLE_THREADED_MATH = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def main() -> None:
    for variable in SINGLE_THREADED_MATH:
        os.environ.setdefault(variable, "1")
    settings = Settings()
    configure_logging(settings.log_level)
    prepare_metrics_dir()
    logger.info("starting", extra={"workers": settings.workers or cpu_limit(), "port": settings.port,
                                   "batching": settings.batching_enabled})
    ServiceApplication(settings).run()


if __name__ == "__main__":
    main()
