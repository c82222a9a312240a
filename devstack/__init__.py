"""The local real-infrastructure stack (devstack): MLflow, PostgreSQL, OCI registry and builder, a
single-node Kubernetes cluster and the pipeline in a box, all on 127.0.0.1.

The tests, `examples/demo.py`, `benchmarks/` and `make pipeline` start their infrastructure from
here; `bootstrap.sh` installs and builds what it needs. Every process is a `procs.ManagedProcess`.
"""
