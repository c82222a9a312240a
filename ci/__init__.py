"""pyfunc-deploy's pipeline steps, run as `python -m ci <command>` (see `ci.cli`)."""
