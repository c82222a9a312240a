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
reply() { printf 'HTTP/1.1 %s\r\nContent-Type: %s\r\nContent-Length: %s\r\nConnection: close\r\n\r\n%s' "$1" "${3:-application/json}" "${#2}" "$2"; }
invocations() {
  . /www/behaviour
  read -r started _ < /proc/uptime
  [ "$delay" = 0 ] || /bin/busybox sleep "$delay"
  if [ $((RANDOM % 100)) -lt "$error_percent" ]; then
    status=500 score=; reply "500 Internal Server Error" '{"error_code": "MODEL_ERROR", "message": "fake model error"}'
  else
    status=200 score=$(/bin/busybox awk "BEGIN { printf \"%.3f\", $score_base + ($RANDOM % 200) / 1000 }")
    reply "200 OK" "{\"predictions\": [$score], \"served_by\": \"$version\"}"
  fi
  read -r ended _ < /proc/uptime
  echo "$status $(/bin/busybox awk "BEGIN { print $ended - $started }") $score" >> /tmp/requests.log
}
case "$path" in
  /healthz) reply "200 OK" '{"status":"ok"}';;
  /readyz) if [ -f /www/ready ] || [ -f /tmp/ready ]; then reply "200 OK" '{"status":"ready"}'; else reply "503 Service Unavailable" '{"status":"loading"}'; fi;;
  /version) reply "200 OK" "$(/bin/busybox cat /www/version.json)";;
  /invocations) invocations;;
  /metrics) reply "200 OK" "$(/bin/busybox cat /tmp/requests.log 2>/dev/null | /bin/busybox awk -f /www/metrics.awk)" "text/plain; version=0.0.4";;
  *) reply "404 Not Found" '{}';;
esac
"""  # noqa: E501 - a shell script, kept readable
# /metrics from the request log, in the names and shapes the real service exposes (service/metrics.py).
METRICS_AWK = b"""BEGIN { nl = split("0.005 0.01 0.025 0.05 0.1 0.25 0.5 1 2.5 5", lb, " ")
        np = split("0 0.1 0.2 0.3 0.4 0.5 0.6 0.7 0.8 0.9 1", pb, " ") }
{ requests[$1]++; n++; total += $2; for (i = 1; i <= nl; i++) if ($2 <= lb[i]) lc[i]++
  if ($3 != "") { p++; ptotal += $3; for (i = 1; i <= np; i++) if ($3 <= pb[i]) pc[i]++ } }
END {
  print "# TYPE service_requests_total counter"
  for (s in requests) printf "service_requests_total{route=\\"/invocations\\",method=\\"POST\\",status=\\"%s\\"} %d\\n", s, requests[s]
  print "# TYPE service_request_duration_seconds histogram"
  for (i = 1; i <= nl; i++) printf "service_request_duration_seconds_bucket{route=\\"/invocations\\",le=\\"%s\\"} %d\\n", lb[i], lc[i]
  printf "service_request_duration_seconds_bucket{route=\\"/invocations\\",le=\\"+Inf\\"} %d\\n", n
  printf "service_request_duration_seconds_count{route=\\"/invocations\\"} %d\\n", n
  printf "service_request_duration_seconds_sum{route=\\"/invocations\\"} %f\\n", total
  print "# TYPE service_prediction_value histogram"
  for (i = 1; i <= np; i++) printf "service_prediction_value_bucket{output=\\"0\\",le=\\"%s\\"} %d\\n", pb[i], pc[i]
  printf "service_prediction_value_bucket{output=\\"0\\",le=\\"+Inf\\"} %d\\n", p
  printf "service_prediction_value_count{output=\\"0\\"} %d\\n", p
  printf "service_prediction_value_sum{output=\\"0\\"} %f\\n", ptotal
}
"""  # noqa: E501 - an awk program, kept readable
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
               start_after: int = 0, ready_after: int = 0, error_percent: int = 0, delay: float = 0,
               score_base: float = 0.2) -> tuple[str, Path]:
    """(image reference, docker-archive) of a fake server reporting model `version`. Its
    /invocations answers `error_percent`% of requests with 500, after `delay` s, with a score drawn
    from [score_base, score_base + 0.2); /metrics counts them like the real service does."""
    ref = f"{REPOSITORY}:{tag}"
    behaviour = f"error_percent={error_percent} delay={delay:g} score_base={score_base:g} version={version}\n"
    files: dict[str, Path | bytes] = {"bin/busybox": BUSYBOX, "bin/sleep": BUSYBOX, "bin/serve": SERVE,
                                      "www/version.json": f'{{"model_version": "{version}"}}'.encode(),
                                      "www/behaviour": behaviour.encode(), "www/metrics.awk": METRICS_AWK}
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
             "slow-start": ("6", {"start_after": 40}),
             # canary analysis: a good version 2, and three bad ones that start and smoke fine
             "errors": ("7", {"error_percent": 30}), "slower": ("8", {"delay": 0.5}),
             "shifted": ("9", {"score_base": 0.6})}
    images = {}
    for name, (version, kwargs) in specs.items():
        ref, archive = fake_image(directory, name, version, **kwargs)
        cluster.load_image(archive)
        images[name] = ref
    images["missing"] = f"{REPOSITORY}:does-not-exist"
    return images
