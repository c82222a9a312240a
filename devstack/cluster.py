"""A real single-node Kubernetes cluster on 127.0.0.1, started and stopped process by process:
etcd, containerd, kube-apiserver, controller-manager, scheduler and a kubelet running real containers.

Why not kind/k3s: nothing installable here ships them. The server binaries are built once from
Debian's `kubernetes` source package by devstack/bootstrap.d/30-kubernetes.sh (v1.20).

Several test sessions may run on one machine at the same time, so each cluster takes a *slot*
(a lock file held while it runs) and keeps everything host-wide to that slot: the bridge
`pfdbrN`, the pod subnet 10.244.N.0/24 and the cgroup root `/pyfunc-deploy-N` (a kubelet removes
pod cgroups it does not know, so two kubelets must not share one). Every process is a
`ManagedProcess`, stopped by PID; clean-up touches only what this cluster created.

The files it writes before starting are rendered by `cluster_files.py`; the slot and the host-side
clean-up are `cluster_host.py`; the pause image is written by `image_archive.py`.
"""
from __future__ import annotations

import contextlib
import json
import secrets
import shutil
import ssl
import sys
import tempfile
import time
import urllib.request
import uuid
from pathlib import Path

from devstack.cluster_files import PAUSE_IMAGE, kubeconfig_text, write_containerd_config, write_pki
from devstack.cluster_host import clean_host, lock_free_slot, make_cgroup_root, unmount_under
from devstack.image_archive import write_image_archive
from devstack.procs import CACHE_DIR, InfraError, ManagedProcess, free_ports, run, wait_until

K8S_VERSION = "v1.20.2"
BIN_DIR = CACHE_DIR / "kubernetes" / K8S_VERSION
NODE_NAME = "localhost"


class Cluster:
    """Start with `start()`, stop with `stop()`; see the attributes below for how to use it.

    - `kubeconfig` (Path) and `env` ({"KUBECONFIG": ...}) for kubectl;
    - `api_url`, `token`, `ca_file` for raw HTTPS; `api_client()` for the `kubernetes` package;
    - `load_image(tar)` imports a docker-archive into the node; images named
      `127.0.0.1:PORT/...` are pulled from a local plain-HTTP registry with no configuration, and
      `map_registry(name, url)` sends pulls of any other registry name to such a registry.
    """

    def __init__(self, startup_timeout: float = 120.0) -> None:
        self.startup_timeout = startup_timeout
        self.processes: dict[str, ManagedProcess] = {}
        self.slot = -1
        self._lock_file = None
        self.state_dir: Path | None = None
        self.etcd_dir: Path | None = None
        self.timings: dict[str, float] = {}

    # -- public API -------------------------------------------------------------------------

    def start(self) -> Cluster:
        started = time.monotonic()
        if not (BIN_DIR / ".complete").exists():
            raise InfraError(f"Kubernetes binaries missing in {BIN_DIR}: run `make test` "
                             "(devstack/bootstrap.sh test builds them, ~5 min once).")
        self._take_slot()
        try:
            self._start_all()
        except BaseException as exc:
            tails = self.log_tails()  # before stop() removes the logs
            self.stop()
            if isinstance(exc, InfraError):
                raise InfraError(f"{exc}\n{tails}") from exc
            raise
        self.timings["total"] = time.monotonic() - started
        print(f"[cluster] slot {self.slot} ready in {self.timings['total']:.1f}s "
              f"({', '.join(f'{k} {v:.1f}s' for k, v in self.timings.items() if k != 'total')}); "
              f"KUBECONFIG={self.kubeconfig}", file=sys.stderr, flush=True)
        return self

    def stop(self) -> None:
        """Kubelet first, then the pods' tasks, the control plane, containerd, etcd; then the
        host-side leftovers (netns, bridge, CNI results, cgroups, mounts) and the state dir."""
        started = time.monotonic()
        sandboxes = self._pod_sandboxes() if "containerd" in self.processes else {}
        self._stop_process("kubelet")
        if "containerd" in self.processes:
            self._kill_tasks()
        for name in ("kube-scheduler", "kube-controller-manager", "kube-apiserver", "containerd",
                     "etcd"):
            self._stop_process(name)
        if self.slot >= 0:
            self._clean_host(sandboxes)
            self._release_slot()
        if self.state_dir is not None:
            unmount_under(self.state_dir)
            shutil.rmtree(self.state_dir, ignore_errors=True)
            self.state_dir = None
        if self.etcd_dir is not None:
            shutil.rmtree(self.etcd_dir, ignore_errors=True)
            self.etcd_dir = None
        print(f"[cluster] stopped in {time.monotonic() - started:.1f}s", file=sys.stderr, flush=True)

    @property
    def env(self) -> dict[str, str]:
        return {"KUBECONFIG": str(self.kubeconfig)}

    def api_client(self):
        """A new `kubernetes.client.ApiClient` authenticated as a cluster admin."""
        from kubernetes import config

        return config.new_client_from_config(config_file=str(self.kubeconfig))

    def load_image(self, archive: Path) -> None:
        """Import a docker-archive (or OCI) tar into the node's image store."""
        self.ctr("images", "import", str(archive))

    def map_registry(self, name: str, url: str) -> None:
        """Make pulls of `name/...` go to `url` (e.g. "http://127.0.0.1:5000"); read per pull."""
        host_dir = self.state_dir / "containerd" / "certs.d" / name
        host_dir.mkdir(parents=True, exist_ok=True)
        (host_dir / "hosts.toml").write_text(
            f'server = "{url}"\n\n[host."{url}"]\n  capabilities = ["pull", "resolve"]\n'
            '  skip_verify = true\n')

    def ctr(self, *args: str) -> str:
        return run("ctr", "--address", str(self.containerd_socket), "-n", "k8s.io", *args)

    def log_tails(self, lines: int = 20) -> str:
        return "\n".join(f"--- {name} ({proc.log}) ---\n{proc.log_tail(lines)}"
                         for name, proc in self.processes.items())

    # -- start --------------------------------------------------------------------------------

    def _take_slot(self) -> None:
        self.slot, self._lock_file = lock_free_slot()
        slot = self.slot
        self.bridge, self.subnet = f"pfdbr{slot}", f"10.244.{slot}.0/24"
        self.network_name = self.cgroup_root = f"pyfunc-deploy-{slot}"
        self._clean_host({})  # leftovers of a run of this slot that was killed
        self.state_dir = Path(tempfile.mkdtemp(prefix=f"pyfunc-k8s-{slot}-", dir="/var/tmp"))

    def _start_all(self) -> None:
        s = self.state_dir
        self.etcd_dir = Path(tempfile.mkdtemp(prefix="pyfunc-etcd-", dir="/dev/shm"))
        self.containerd_socket = s / "containerd" / "containerd.sock"
        names = ("etcd", "etcd-peer", "apiserver", "kubelet", "healthz")
        ports = dict(zip(names, free_ports(len(names)), strict=True))
        self.api_url = f"https://127.0.0.1:{ports['apiserver']}"
        self.token = secrets.token_hex(16)

        t = time.monotonic()
        pki = write_pki(s / "pki")
        self.ca_file = pki / "ca.crt"
        (s / "tokens.csv").write_text(f'{self.token},admin,admin,"system:masters"\n')
        self.kubeconfig = s / "kubeconfig"
        self.kubeconfig.write_text(kubeconfig_text(self.api_url, self.ca_file, self.token))
        self.timings["pki"] = time.monotonic() - t

        t = time.monotonic()
        self._spawn("etcd", [
            "etcd", "--name=default", f"--data-dir={self.etcd_dir / 'data'}",
            f"--listen-client-urls=http://127.0.0.1:{ports['etcd']}",
            f"--advertise-client-urls=http://127.0.0.1:{ports['etcd']}",
            f"--listen-peer-urls=http://127.0.0.1:{ports['etcd-peer']}",
            f"--initial-advertise-peer-urls=http://127.0.0.1:{ports['etcd-peer']}",
            f"--initial-cluster=default=http://127.0.0.1:{ports['etcd-peer']}"])
        self._start_containerd()
        self._spawn("kube-apiserver", [
            str(BIN_DIR / "kube-apiserver"), "--bind-address=127.0.0.1",
            "--advertise-address=127.0.0.1", f"--secure-port={ports['apiserver']}",
            "--insecure-port=0", f"--etcd-servers=http://127.0.0.1:{ports['etcd']}",
            f"--tls-cert-file={pki / 'apiserver.crt'}", f"--tls-private-key-file={pki / 'apiserver.key'}",
            f"--client-ca-file={self.ca_file}", f"--token-auth-file={s / 'tokens.csv'}",
            f"--kubelet-client-certificate={pki / 'kubelet-client.crt'}",
            f"--kubelet-client-key={pki / 'kubelet-client.key'}",
            f"--service-account-key-file={pki / 'sa.pub'}",
            f"--service-account-signing-key-file={pki / 'sa.key'}",
            "--service-account-issuer=https://kubernetes.default.svc",
            "--service-cluster-ip-range=10.0.0.0/24", "--authorization-mode=RBAC",
            "--endpoint-reconciler-type=none", "--kubelet-preferred-address-types=Hostname",
            "--profiling=false"])
        self._wait_http("kube-apiserver", "/readyz")
        self.timings["apiserver"] = time.monotonic() - t

        t = time.monotonic()
        common = [f"--kubeconfig={self.kubeconfig}", "--leader-elect=false", "--port=0",
                  "--secure-port=0", "--profiling=false"]
        self._spawn("kube-controller-manager", [
            str(BIN_DIR / "kube-controller-manager"), *common,
            f"--service-account-private-key-file={pki / 'sa.key'}", f"--root-ca-file={self.ca_file}",
            "--use-service-account-credentials=false"])
        self._spawn("kube-scheduler", [str(BIN_DIR / "kube-scheduler"), *common])
        make_cgroup_root(self.cgroup_root)
        self._spawn("kubelet", [
            str(BIN_DIR / "kubelet"), f"--kubeconfig={self.kubeconfig}",
            "--container-runtime=remote", f"--container-runtime-endpoint=unix://{self.containerd_socket}",
            "--cgroup-driver=cgroupfs", f"--cgroup-root=/{self.cgroup_root}", "--fail-swap-on=false",
            f"--hostname-override={NODE_NAME}", "--address=127.0.0.1",
            f"--port={ports['kubelet']}", "--read-only-port=0", f"--healthz-port={ports['healthz']}",
            "--healthz-bind-address=127.0.0.1", f"--root-dir={s / 'kubelet'}",
            f"--cert-dir={s / 'kubelet' / 'pki'}", f"--volume-plugin-dir={s / 'kubelet' / 'plugins'}",
            "--anonymous-auth=false", f"--client-ca-file={self.ca_file}",
            "--make-iptables-util-chains=false", "--serialize-image-pulls=false",
            # pods see a changed ConfigMap volume within seconds (the shadow step's copy targets); the
            # default 1 min sync is what production pays
            "--sync-frequency=5s",
            # No disk-pressure eviction: reclaiming, the kubelet deletes every image no running pod uses,
            # the pause image too, and every later pod fails to start (seen on a machine whose shared
            # disk filled up mid-run). The test cluster lives as long as a run; disk is the machine's.
            "--eviction-hard=memory.available<100Mi",
            "--image-gc-high-threshold=100", "--image-gc-low-threshold=99"])
        wait_until(self._node_ready, self.startup_timeout, "node Ready", interval=0.5,
                   log=self.processes["kubelet"].log)
        self.timings["node"] = time.monotonic() - t

    def restart(self, name: str, down_seconds: float) -> None:
        """Stop component `name` (kube-apiserver, kubelet, ...), leave it down `down_seconds`, start it
        again with the same command line (for the tests of an outage in the middle of a rollout)."""
        stopped = self.processes.pop(name)
        stopped.stop()
        time.sleep(down_seconds)
        self._spawn(name, stopped.argv)
        if name == "kube-apiserver":
            self._wait_http(name, "/readyz")

    def _start_containerd(self) -> None:
        config = write_containerd_config(self.state_dir / "containerd", self.state_dir / "cni",
                                         self.containerd_socket, self.network_name, self.bridge,
                                         self.subnet)
        self._spawn("containerd", ["containerd", "--config", str(config)])
        wait_until(lambda: self.ctr("version") != "", 30, "containerd",
                   log=self.processes["containerd"].log)
        pause = self.state_dir / "pause.tar"
        write_image_archive(pause, PAUSE_IMAGE, {"pause": BIN_DIR / "pause"}, entrypoint=["/pause"])
        self.load_image(pause)

    def _spawn(self, name: str, argv: list[str]) -> None:
        self.processes[name] = ManagedProcess(argv, self.state_dir / "logs" / f"{name}.log")

    def _wait_http(self, name: str, path: str) -> None:
        context = ssl.create_default_context(cafile=str(self.ca_file))
        request = urllib.request.Request(self.api_url + path,  # noqa: S310 - https on loopback
                                         headers={"Authorization": f"Bearer {self.token}"})

        def ok() -> bool:
            with urllib.request.urlopen(request, context=context, timeout=2) as response:  # noqa: S310
                return response.status == 200
        wait_until(ok, self.startup_timeout, name, log=self.processes[name].log)

    def _node_ready(self) -> bool:
        out = run("kubectl", "--kubeconfig", str(self.kubeconfig), "get", "node", NODE_NAME,
                  "-o", "jsonpath={.status.conditions[?(@.type=='Ready')].status}", check=False)
        return out.strip() == "True"

    # -- stop ---------------------------------------------------------------------------------

    def _stop_process(self, name: str) -> None:
        proc = self.processes.pop(name, None)
        if proc is not None:
            proc.stop()

    def _pod_sandboxes(self) -> dict[str, str]:
        """Our containers and their network namespaces (read from the OCI specs): what the CNI
        plugins leave on the host when pods are not torn down by the kubelet."""
        sandboxes = {}
        with contextlib.suppress(InfraError):
            for cid in self.ctr("containers", "list", "-q").split():
                spec = json.loads(self.ctr("containers", "info", cid)).get("Spec") or {}
                netns = [ns.get("path", "") for ns in spec.get("linux", {}).get("namespaces", [])
                         if ns.get("type") == "network"]
                sandboxes[cid] = netns[0] if netns else ""
        return sandboxes

    def _kill_tasks(self) -> None:
        with contextlib.suppress(InfraError):
            for task in self.ctr("tasks", "list", "-q").split():
                with contextlib.suppress(InfraError):
                    self.ctr("tasks", "delete", "--force", task)

    def _clean_host(self, sandboxes: dict[str, str]) -> None:
        clean_host(self.bridge, self.network_name, self.cgroup_root, sandboxes)

    def _release_slot(self) -> None:
        if self._lock_file is not None:
            self._lock_file.close()
            self._lock_file = None
        self.slot = -1


def new_namespace(cluster: Cluster, prefix: str = "t") -> str:
    """A fresh namespace whose default service account can already run pods."""
    from kubernetes import client

    name = f"{prefix}-{uuid.uuid4().hex[:10]}"
    with cluster.api_client() as api_client:
        core = client.CoreV1Api(api_client)
        core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=name)))

        def default_sa_has_token() -> bool:  # v1.20: pods are refused until its secret exists
            return bool(core.read_namespaced_service_account("default", name).secrets)

        wait_until(default_sa_has_token, 30, f"service account default in {name}")
    return name


def delete_namespace(cluster: Cluster, name: str) -> None:
    from kubernetes import client

    with cluster.api_client() as api_client:
        client.CoreV1Api(api_client).delete_namespace(name)
