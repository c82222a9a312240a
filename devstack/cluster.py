"""A real single-node Kubernetes cluster for the tests: etcd, containerd, kube-apiserver,
controller-manager, scheduler and a kubelet running real containers, all on 127.0.0.1.

Why not kind/k3s: nothing installable here ships them. The server binaries are built once from
Debian's `kubernetes` source package by devstack/bootstrap.d/30-kubernetes.sh (v1.20).

Several test sessions may run on one machine at the same time, so each cluster takes a *slot*
(a lock file held while it runs) and keeps everything host-wide to that slot: the bridge
`pfdbrN`, the pod subnet 10.244.N.0/24 and the cgroup root `/pyfunc-deploy-N` (a kubelet removes
pod cgroups it does not know, so two kubelets must not share one). Every process is a
`ManagedProcess`, stopped by PID; clean-up touches only what this cluster created.
"""
from __future__ import annotations

import contextlib
import fcntl
import hashlib
import io
import json
import os
import secrets
import shutil
import ssl
import subprocess
import sys
import tarfile
import tempfile
import time
import urllib.request
from collections.abc import Mapping, Sequence
from pathlib import Path

from devstack.procs import CACHE_DIR, InfraError, ManagedProcess, free_port, wait_until

K8S_VERSION = "v1.20.2"
BIN_DIR = CACHE_DIR / "kubernetes" / K8S_VERSION
NODE_NAME = "localhost"
PAUSE_IMAGE = "localhost/pyfunc-deploy/pause:3.4.1"
LOCK_DIR = Path("/run/pyfunc-deploy")
MAX_SLOTS = 32


def _run(*argv: str, check: bool = True) -> str:
    result = subprocess.run(argv, capture_output=True, text=True, timeout=120)
    if check and result.returncode != 0:
        raise InfraError(f"{' '.join(argv)} failed: {result.stderr.strip()}")
    return result.stdout


def write_image_archive(path: Path, ref: str, files: Mapping[str, Path | bytes],
                        entrypoint: Sequence[str], cmd: Sequence[str] = ()) -> Path:
    """Write a one-layer, FROM-scratch image as a docker-archive tar (what `ctr images import`
    and `skopeo copy docker-archive:...` read) - no image builder needed for tiny test images."""
    layer = io.BytesIO()
    with tarfile.open(fileobj=layer, mode="w") as tar:
        dirs: set[str] = set()
        for name, content in sorted(files.items()):
            for parent in reversed(Path(name).parents[:-1]):
                if str(parent) not in dirs:
                    dirs.add(str(parent))
                    info = tarfile.TarInfo(str(parent))
                    info.type, info.mode = tarfile.DIRTYPE, 0o755
                    tar.addfile(info)
            data = content.read_bytes() if isinstance(content, Path) else content
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(data), 0o755
            tar.addfile(info, io.BytesIO(data))
    layer_bytes = layer.getvalue()
    config = json.dumps({
        "architecture": "amd64", "os": "linux",
        "config": {"Entrypoint": list(entrypoint), "Cmd": list(cmd) or None, "Env": ["PATH=/bin"]},
        "rootfs": {"type": "layers",
                   "diff_ids": ["sha256:" + hashlib.sha256(layer_bytes).hexdigest()]}}).encode()
    config_name = hashlib.sha256(config).hexdigest() + ".json"
    manifest = json.dumps([{"Config": config_name, "RepoTags": [ref], "Layers": ["layer.tar"]}])
    with tarfile.open(path, "w") as archive:
        for name, data in ((config_name, config), ("layer.tar", layer_bytes),
                           ("manifest.json", manifest.encode())):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return path


def _write_pki(d: Path) -> Path:
    """CA, serving and client certs (EC P-256, openssl CLI) and the service-account key pair."""
    d.mkdir(parents=True)
    cnf = d / "openssl.cnf"
    cnf.write_text("[req]\ndistinguished_name=dn\n[dn]\n")
    new_key = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "7"]
    _run("openssl", "req", "-config", str(cnf), "-x509", *new_key, "-keyout", str(d / "ca.key"),
         "-out", str(d / "ca.crt"), "-subj", "/CN=pyfunc-deploy-test-ca",
         "-addext", "basicConstraints=critical,CA:TRUE",
         "-addext", "keyUsage=critical,keyCertSign,cRLSign")
    leaves = {"apiserver": ("/CN=kube-apiserver", "serverAuth",
                            "subjectAltName=IP:127.0.0.1,IP:10.0.0.1,DNS:localhost,DNS:kubernetes"),
              "kubelet-client": ("/O=system:masters/CN=kube-apiserver-kubelet-client", "clientAuth",
                                 None)}
    for name, (subject, usage, san) in leaves.items():
        _run("openssl", "req", "-config", str(cnf), "-x509", "-CA", str(d / "ca.crt"),
             "-CAkey", str(d / "ca.key"), *new_key, "-keyout", str(d / f"{name}.key"),
             "-out", str(d / f"{name}.crt"), "-subj", subject,
             "-addext", f"extendedKeyUsage={usage}", *(["-addext", san] if san else []))
    _run("openssl", "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256",
         "-out", str(d / "sa.key"))
    _run("openssl", "pkey", "-in", str(d / "sa.key"), "-pubout", "-out", str(d / "sa.pub"))
    return d


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
            self._unmount_under(self.state_dir)
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
        return _run("ctr", "--address", str(self.containerd_socket), "-n", "k8s.io", *args)

    def log_tails(self, lines: int = 20) -> str:
        return "\n".join(f"--- {name} ({proc.log}) ---\n{proc.log_tail(lines)}"
                         for name, proc in self.processes.items())

    # -- start --------------------------------------------------------------------------------

    def _take_slot(self) -> None:
        LOCK_DIR.mkdir(parents=True, exist_ok=True)
        for slot in range(MAX_SLOTS):
            lock = open(LOCK_DIR / f"cluster-{slot}.lock", "w")  # noqa: SIM115 - held until stop()
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                lock.close()
                continue
            self.slot, self._lock_file = slot, lock
            self.bridge, self.subnet = f"pfdbr{slot}", f"10.244.{slot}.0/24"
            self.network_name = self.cgroup_root = f"pyfunc-deploy-{slot}"
            self._clean_host({})  # leftovers of a run of this slot that was killed
            self.state_dir = Path(tempfile.mkdtemp(prefix=f"pyfunc-k8s-{slot}-", dir="/var/tmp"))
            return
        raise InfraError(f"all {MAX_SLOTS} cluster slots in {LOCK_DIR} are taken")

    def _start_all(self) -> None:
        s = self.state_dir
        self.etcd_dir = Path(tempfile.mkdtemp(prefix="pyfunc-etcd-", dir="/dev/shm"))
        self.containerd_socket = s / "containerd" / "containerd.sock"
        ports = {n: free_port() for n in ("etcd", "etcd-peer", "apiserver", "kubelet", "healthz")}
        self.api_url = f"https://127.0.0.1:{ports['apiserver']}"
        self.token = secrets.token_hex(16)

        t = time.monotonic()
        pki = _write_pki(s / "pki")
        self.ca_file = pki / "ca.crt"
        (s / "tokens.csv").write_text(f'{self.token},admin,admin,"system:masters"\n')
        self.kubeconfig = s / "kubeconfig"
        self.kubeconfig.write_text(self._kubeconfig_text())
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
        self._make_cgroup_root()
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
            "--eviction-hard=memory.available<100Mi,nodefs.available<1%,imagefs.available<1%",
            "--image-gc-high-threshold=100", "--image-gc-low-threshold=99"])
        wait_until(self._node_ready, self.startup_timeout, "node Ready", interval=0.5,
                   log=self.processes["kubelet"].log)
        self.timings["node"] = time.monotonic() - t

    def _start_containerd(self) -> None:
        d = self.state_dir / "containerd"
        cni = self.state_dir / "cni"
        (cni / "net.d").mkdir(parents=True)
        (d / "certs.d").mkdir(parents=True)
        (cni / "net.d" / "10-bridge.conflist").write_text(json.dumps({
            "cniVersion": "0.4.0", "name": self.network_name, "plugins": [{
                "type": "bridge", "bridge": self.bridge, "isGateway": True, "ipMasq": False,
                "ipam": {"type": "host-local", "ranges": [[{"subnet": self.subnet}]],
                         "routes": [{"dst": "0.0.0.0/0"}], "dataDir": str(cni / "ipam")}}]}))
        cri = 'plugins."io.containerd.grpc.v1.cri"'
        (d / "config.toml").write_text(f"""version = 2
root = "{d / 'root'}"
state = "{d / 'state'}"
[grpc]
  address = "{self.containerd_socket}"
[plugins."io.containerd.internal.v1.opt"]
  path = "{d / 'opt'}"
[{cri}]
  sandbox_image = "{PAUSE_IMAGE}"
  restrict_oom_score_adj = true
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
[{cri}.containerd]
  snapshotter = "overlayfs"
  default_runtime_name = "runc"
[{cri}.containerd.runtimes.runc]
  runtime_type = "io.containerd.runc.v2"
[{cri}.cni]
  bin_dir = "/usr/lib/cni"
  conf_dir = "{cni / 'net.d'}"
[{cri}.registry]
  config_path = "{d / 'certs.d'}"
""")
        self._spawn("containerd", ["containerd", "--config", str(d / "config.toml")])
        wait_until(lambda: self.ctr("version") != "", 30, "containerd",
                   log=self.processes["containerd"].log)
        pause = self.state_dir / "pause.tar"
        write_image_archive(pause, PAUSE_IMAGE, {"pause": BIN_DIR / "pause"}, entrypoint=["/pause"])
        self.load_image(pause)

    def _make_cgroup_root(self) -> None:
        """The kubelet insists its --cgroup-root exists in every (v1) hierarchy."""
        for hierarchy in Path("/sys/fs/cgroup").iterdir():
            if hierarchy.name == "unified" or not hierarchy.is_dir():
                continue
            path = hierarchy / self.cgroup_root
            path.mkdir(exist_ok=True)
            if hierarchy.name == "cpuset":
                for knob in ("cpuset.cpus", "cpuset.mems"):
                    (path / knob).write_text((hierarchy / knob).read_text())

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
        out = _run("kubectl", "--kubeconfig", str(self.kubeconfig), "get", "node", NODE_NAME,
                   "-o", "jsonpath={.status.conditions[?(@.type=='Ready')].status}", check=False)
        return out.strip() == "True"

    def _kubeconfig_text(self) -> str:
        return json.dumps({
            "apiVersion": "v1", "kind": "Config", "current-context": "pyfunc-deploy-test",
            "clusters": [{"name": "local", "cluster": {
                "server": self.api_url, "certificate-authority": str(self.ca_file)}}],
            "users": [{"name": "admin", "user": {"token": self.token}}],
            "contexts": [{"name": "pyfunc-deploy-test",
                          "context": {"cluster": "local", "user": "admin"}}]}, indent=2)

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
        """Host-wide leftovers of this slot: pod netns, bridge, CNI result cache, cgroups."""
        for netns in filter(None, set(sandboxes.values())):
            _run("ip", "netns", "delete", Path(netns).name, check=False)
        if Path("/sys/class/net", self.bridge).exists():
            _run("ip", "link", "delete", self.bridge, check=False)
        results = Path("/var/lib/cni/results")
        if results.is_dir():
            for entry in results.iterdir():  # named NETWORK-CONTAINERID-IFNAME
                if entry.name.startswith(self.network_name + "-") or any(
                        f"-{cid}-" in entry.name for cid in sandboxes):
                    entry.unlink(missing_ok=True)
        self._remove_cgroups(self.cgroup_root)

    @staticmethod
    def _remove_cgroups(name: str) -> None:
        for hierarchy in Path("/sys/fs/cgroup").iterdir():
            root = hierarchy / name
            if not root.is_dir():
                continue
            for dirpath, _, _ in sorted(os.walk(root), key=lambda w: -len(w[0])):
                with contextlib.suppress(OSError):  # still in use: leave it
                    os.rmdir(dirpath)

    @staticmethod
    def _unmount_under(directory: Path) -> None:
        prefix = str(directory)
        with open("/proc/self/mountinfo") as mountinfo:
            targets = [line.split()[4] for line in mountinfo]
        for target in sorted({t for t in targets if t == prefix or t.startswith(prefix + "/")},
                             key=len, reverse=True):
            _run("umount", "--lazy", target, check=False)

    def _release_slot(self) -> None:
        if self._lock_file is not None:
            self._lock_file.close()
            self._lock_file = None
        self.slot = -1
