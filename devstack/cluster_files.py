"""What a cluster renders to disk before it starts: its PKI, kubeconfig, containerd configuration
and CNI network. Pure file writing (plus the openssl CLI); `cluster.py` starts the processes."""
from __future__ import annotations

import json
from pathlib import Path

from devstack.procs import run

PAUSE_IMAGE = "localhost/pyfunc-deploy/pause:3.4.1"


def write_pki(d: Path) -> Path:
    """CA, serving and client certs (EC P-256, openssl CLI) and the service-account key pair."""
    d.mkdir(parents=True)
    cnf = d / "openssl.cnf"
    cnf.write_text("[req]\ndistinguished_name=dn\n[dn]\n")
    new_key = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "7"]
    run("openssl", "req", "-config", str(cnf), "-x509", *new_key, "-keyout", str(d / "ca.key"),
        "-out", str(d / "ca.crt"), "-subj", "/CN=pyfunc-deploy-test-ca",
        "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign")
    leaves = {"apiserver": ("/CN=kube-apiserver", "serverAuth",
                            "subjectAltName=IP:127.0.0.1,IP:10.0.0.1,DNS:localhost,DNS:kubernetes"),
              "kubelet-client": ("/O=system:masters/CN=kube-apiserver-kubelet-client", "clientAuth",
                                 None)}
    for name, (subject, usage, san) in leaves.items():
        run("openssl", "req", "-config", str(cnf), "-x509", "-CA", str(d / "ca.crt"),
            "-CAkey", str(d / "ca.key"), *new_key, "-keyout", str(d / f"{name}.key"),
            "-out", str(d / f"{name}.crt"), "-subj", subject,
            "-addext", f"extendedKeyUsage={usage}", *(["-addext", san] if san else []))
    run("openssl", "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256",
        "-out", str(d / "sa.key"))
    run("openssl", "pkey", "-in", str(d / "sa.key"), "-pubout", "-out", str(d / "sa.pub"))
    return d


def kubeconfig_text(api_url: str, ca_file: Path, token: str) -> str:
    return json.dumps({
        "apiVersion": "v1", "kind": "Config", "current-context": "pyfunc-deploy-test",
        "clusters": [{"name": "local", "cluster": {
            "server": api_url, "certificate-authority": str(ca_file)}}],
        "users": [{"name": "admin", "user": {"token": token}}],
        "contexts": [{"name": "pyfunc-deploy-test",
                      "context": {"cluster": "local", "user": "admin"}}]}, indent=2)


def write_containerd_config(d: Path, cni: Path, socket: Path, network_name: str, bridge: str,
                            subnet: str) -> Path:
    """containerd's config.toml in `d` (CRI plugin, runc, registry hosts in `d/certs.d`) and the
    bridge network in `cni/net.d`; returns the config file."""
    (cni / "net.d").mkdir(parents=True)
    (d / "certs.d").mkdir(parents=True)
    (cni / "net.d" / "10-bridge.conflist").write_text(json.dumps({
        "cniVersion": "0.4.0", "name": network_name, "plugins": [{
            "type": "bridge", "bridge": bridge, "isGateway": True, "ipMasq": False,
            "ipam": {"type": "host-local", "ranges": [[{"subnet": subnet}]],
                     "routes": [{"dst": "0.0.0.0/0"}], "dataDir": str(cni / "ipam")}}]}))
    cri = 'plugins."io.containerd.grpc.v1.cri"'
    (d / "config.toml").write_text(f"""version = 2
root = "{d / 'root'}"
state = "{d / 'state'}"
[grpc]
  address = "{socket}"
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
    return d / "config.toml"
