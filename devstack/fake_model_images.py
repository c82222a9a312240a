"""Tiny FROM-scratch images that behave like the model server on the outside (/healthz, /readyz,
/version, POST /invocations) or fail the way a broken release does, so deploy tests need no Python
image build: busybox `nc -ll -e` runs a shell script per connection."""
from __future__ import annotations

from pathlib import Path

from devstack.cluster import Cluster
from devstack.image_archive import write_image_archive

BUSYBOX = Path("/bin/busybox")
REPOSITORY = "localhost/pyfunc-deploy/fake-model"
SERVE = br"""#!/bin/busybox sh
read -r method path rest
len=0
while read -r line; do
  line=$(echo "$line" | /bin/busybox tr -d '\r')
  [ -z "$line" ] && break
  case "$line" in [Cc]ontent-[Ll]ength:*) len=${line#*: };; esac
done
[ "$len" -gt 0 ] && /bin/busybox head -c "$len" >/dev/null
reply() { printf 'HTTP/1.1 %s\r\nContent-Type: application/json\r\nContent-Length: %s\r\nConnection: close\r\n\r\n%s' "$1" "${#2}" "$2"; }
case "$path" in
  /healthz) reply "200 OK" '{"status":"ok"}';;
  /readyz) if [ -f /www/ready ] || [ -f /tmp/ready ]; then reply "200 OK" '{"status":"ready"}'; else reply "503 Service Unavailable" '{"status":"loading"}'; fi;;
  /version) reply "200 OK" "$(/bin/busybox cat /www/version.json)";;
  /invocations) reply "200 OK" '{"predictions": [0]}';;
  *) reply "404 Not Found" '{}';;
esac
"""  # noqa: E501 - a shell script, kept readable
SERVER = ["/bin/busybox", "nc", "-ll", "-p", "8080", "-e", "/bin/serve"]
CRASH = ["/bin/busybox", "sh", "-c", "echo 'loading model: cannot import sklearn' >&2; exit 3"]


def _entrypoint(crash: bool, start_after: int, ready_after: int) -> list[str]:
    """The server, after `start_after` s of "loading the model" (no port open: the startup probe
    fails), answering /readyz with 503 for `ready_after` s more (the readiness probe holds the pod)."""
    if crash:
        return CRASH
    if not (start_after or ready_after):
        return SERVER
    serve = " ".join(SERVER)
    load = f"echo 'loading model ({start_after}s)'; /bin/busybox sleep {start_after}; " if start_after else ""
    ready = f"(/bin/busybox sleep {ready_after}; /bin/busybox touch /tmp/ready) & " if ready_after else ""
    return ["/bin/busybox", "sh", "-c", f"{load}{ready}exec {serve}"]


def fake_image(directory: Path, tag: str, version: str, *, ready: bool = True, crash: bool = False,
               start_after: int = 0, ready_after: int = 0) -> tuple[str, Path]:
    """(image reference, docker-archive) of a fake server reporting model `version`."""
    ref = f"{REPOSITORY}:{tag}"
    files: dict[str, Path | bytes] = {"bin/busybox": BUSYBOX, "bin/sleep": BUSYBOX, "bin/serve": SERVE,
                                      "www/version.json": f'{{"model_version": "{version}"}}'.encode()}
    if ready and not ready_after:
        files["www/ready"] = b""
    archive = write_image_archive(directory / f"{tag}.tar", ref, files,
                                  entrypoint=_entrypoint(crash, start_after, ready_after))
    return ref, archive


def load_fake_images(cluster: Cluster, directory: Path) -> dict[str, str]:
    """Import the set the deploy tests use into the node; name -> image reference."""
    specs = {"v1": ("1", {}), "v2": ("2", {}), "wrong-version": ("99", {}),
             "never-ready": ("4", {"ready": False}), "crash": ("5", {"crash": True}), "v3": ("3", {}),
             # ready 8 s after it starts: a rollout that lasts long enough to be interfered with
             "v2-slow-ready": ("2", {"ready_after": 8}),
             # "loads the model" for 40 s before it listens: longer than a short startup probe allows
             "slow-start": ("6", {"start_after": 40})}
    images = {}
    for name, (version, kwargs) in specs.items():
        ref, archive = fake_image(directory, name, version, **kwargs)
        cluster.load_image(archive)
        images[name] = ref
    images["missing"] = f"{REPOSITORY}:does-not-exist"
    return images
