"""The pipeline in a box: `python -m devstack.pipeline_box` brings up the local stack
(MLflow, registry + builder, cluster), trains and registers the example model, runs the real
`.gitlab-ci.yml` push pipeline with gitlab-ci-local, then prints how to reach the live service and
where the reports are. The stack stays up until Ctrl-C (`--once`: stop right after).

gitlab-ci-local writes `.gitlab-ci-local/` into the project, so it runs in a throw-away clone of
the working tree, never in the repo itself.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from devstack import pipeline_image
from devstack.gitlab_ci import GITLAB_CI_LOCAL, REPO
from devstack.oci import ContainerTools
from devstack.procs import CACHE_DIR, ManagedProcess, free_port, wait_until
from devstack.stack import NAMESPACES, LocalStack, host_path_with_venv

BOX_DIR = CACHE_DIR / "pipeline-box"
SERVICE = "pyfunc-model"
_JOB_RESULT = re.compile(r"^\s*(PASS|FAIL|WARN)\s+(\S+)\s*$", re.MULTILINE)


@dataclass
class PipelineRun:
    returncode: int
    output: str
    checkout: Path

    @property
    def failed(self) -> list[str]:
        return [job for status, job in _JOB_RESULT.findall(self.output) if status == "FAIL"]

    @property
    def passed(self) -> list[str]:
        return [job for status, job in _JOB_RESULT.findall(self.output) if status == "PASS"]

    def reports(self, job: str) -> Path:
        """The job's saved artifacts (gitlab-ci-local spells `:` in job names as `Og`)."""
        return self.checkout / ".gitlab-ci-local" / "artifacts" / job.replace(":", "Og") / "reports"


def checkout(dest: Path) -> Path:
    """A git clone of the repo with the working tree copied over it (tracked and new files, not
    ignored ones): the pipeline runs what the developer sees, as gitlab-ci-local in place would."""
    if dest.exists():
        shutil.rmtree(dest)
    subprocess.run(["git", "clone", "--quiet", "--no-hardlinks", str(REPO), str(dest)], check=True)
    listing = ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"]
    tracked = subprocess.run(listing, cwd=REPO, capture_output=True, check=True).stdout
    subprocess.run(["rsync", "-a", "--from0", "--files-from=-", "--ignore-missing-args", f"{REPO}/",
                    f"{dest}/"], input=tracked, check=True)
    # gitlab-ci-local copies only what git tracks into a job's build dir: commit the copy (in the clone).
    subprocess.run(["git", "add", "-A"], cwd=dest, check=True)
    subprocess.run(["git", "-c", "user.name=pipeline-box", "-c", "user.email=pipeline-box@localhost", "commit",
                    "--quiet", "--allow-empty", "--no-verify", "-m", "working tree"], cwd=dest, check=True)
    return dest


def run_pipeline(checkout_dir: Path, variables: dict[str, str], *args: str, source: str = "push",
                 echo: bool = False) -> PipelineRun:
    """Run gitlab-ci-local in `checkout_dir` as a `source` pipeline on the default branch; `echo`
    streams its output while it runs (the box), the tests read it afterwards."""
    argv = [str(GITLAB_CI_LOCAL), "--force-shell-executor", "--shell-isolation",
            "--no-artifacts-to-source", "--no-color"]
    predefined = {"CI_PIPELINE_SOURCE": source, "CI_COMMIT_BRANCH": "main", "CI_DEFAULT_BRANCH": "main"}
    path = host_path_with_venv()  # a job variable too: jobs must never pip-install into another Python
    for name, value in {**predefined, "PATH": path, **variables}.items():
        argv += ["--variable", f"{name}={value}"]
    env = {**os.environ, "PATH": path, "GCL_IGNORE_PREDEFINED_VARS": ",".join(predefined)}
    lines = []
    with subprocess.Popen([*argv, *args], cwd=checkout_dir, env=env, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True) as process:
        for line in process.stdout:
            lines.append(line)
            if echo:
                print(line, end="", flush=True)
    return PipelineRun(process.returncode, "".join(lines), checkout_dir)


def port_forward(kubeconfig: str, namespace: str, log: Path) -> tuple[ManagedProcess, str]:
    """`kubectl port-forward` to the Service: no kube-proxy here, and a CI job outside would do this."""
    port = free_port()
    process = ManagedProcess(["kubectl", "--kubeconfig", kubeconfig, "-n", namespace, "port-forward",
                              "--address", "127.0.0.1", f"svc/{SERVICE}", f"{port}:80"], log)
    url = f"http://127.0.0.1:{port}"
    wait_until(lambda: process.alive() and _answers(f"{url}/version"), 60, f"port-forward to {namespace}",
               log=log)
    return process, url


def _answers(url: str) -> bool:
    import urllib.request

    with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 - loopback
        return response.status == 200


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m devstack.pipeline_box", description=__doc__)
    parser.add_argument("--once", action="store_true", help="stop the stack when the pipeline ends")
    args = parser.parse_args()
    for sig in (signal.SIGINT, signal.SIGTERM):  # the `finally` below stops the stack
        signal.signal(sig, _interrupt)
    started = time.monotonic()
    BOX_DIR.mkdir(parents=True, exist_ok=True)
    for old in BOX_DIR.glob("run-*"):  # the previous run's reports are kept until the next run
        shutil.rmtree(old, ignore_errors=True)
    work = Path(tempfile.mkdtemp(prefix="run-", dir=BOX_DIR))
    # The builder's storage is the layer cache kept between runs (warm builds skip the pip installs).
    stack = LocalStack(work / "stack", tools=ContainerTools.with_layer_cache(work / "containers"))
    forward = None
    try:
        stack.start()
        pipeline_image.ensure(stack.registry.address, stack.tools)  # cached: the job then only tags it
        version = stack.register_model()
        print(f"[box] stack up and {version.name} v{version.version} registered in "
              f"{time.monotonic() - started:.0f}s ({_timings(stack.timings)})", flush=True)
        pipeline_started = time.monotonic()
        run = run_pipeline(checkout(work / "project"), stack.variables(), echo=True)
        stack.tools.close()  # the builds are done: the layer cache is free for the next run or a test session
        print(f"[box] pipeline exit {run.returncode} in {time.monotonic() - pipeline_started:.0f}s "
              f"(passed: {', '.join(run.passed) or '-'}; failed: {', '.join(run.failed) or '-'}); "
              f"total {time.monotonic() - started:.0f}s", flush=True)
        print(f"[box] reports: {run.checkout / '.gitlab-ci-local' / 'artifacts'}/<job>/reports/")
        if run.returncode == 0:
            kubeconfig = stack.cluster.env["KUBECONFIG"]
            forward, url = port_forward(kubeconfig, NAMESPACES["production"], work / "port-forward.log")
            body = _write_request(work / "request.json")
            print(f"[box] live service (production): curl {url}/version\n"
                  f"      curl -X POST {url}/invocations -H 'Content-Type: application/json' -d @{body}\n"
                  f"      export KUBECONFIG={kubeconfig}; kubectl -n {NAMESPACES['production']} get pods\n"
                  f"      MLflow UI: {stack.mlflow.url}", flush=True)
        if not args.once:
            print("[box] the stack stays up; Ctrl-C stops it", flush=True)
            signal.pause()
        return run.returncode
    except KeyboardInterrupt:
        return 130
    finally:
        if forward is not None:
            forward.stop()
        stack.stop()
        print(f"[box] stopped; work dir {work} (reports kept)", flush=True)


def _interrupt(*_) -> None:
    raise KeyboardInterrupt


def _write_request(path: Path) -> Path:
    """A request body for the example model, to try the live service with curl."""
    from examples.credit_risk.data import input_example

    path.write_text(json.dumps({"dataframe_split": input_example().to_dict(orient="split", index=False)},
                               default=str))
    return path


def _timings(timings: dict[str, float]) -> str:
    return ", ".join(f"{name} {seconds:.0f}s" for name, seconds in timings.items())


if __name__ == "__main__":
    sys.exit(main())
