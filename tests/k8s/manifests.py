"""The rendered Kubernetes manifests, for the offline checks (tests/k8s/test_manifests.py) and the
root test that runs the producer with the DaemonSet's capabilities (integration/test_deploy.py)."""
import os
import re
import subprocess

import yaml

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
K8S = os.path.join(REPO, "k8s")


def kubectl():
    """kubectl with Kustomize v4 or later (kubectl 1.21+): the kustomizations use directories
    under `resources:` and components, which Kustomize before v4 cannot load."""
    out = subprocess.run(["kubectl", "version", "--client"], capture_output=True, text=True,
                         check=True).stdout
    m = re.search(r"Kustomize Version: v(\d+)", out)
    if not m or int(m.group(1)) < 4:
        raise RuntimeError("kubectl's Kustomize is older than v4 (%s): the manifests need "
                           "kubectl 1.21 or later" % out.strip().replace("\n", "; "))
    return "kubectl"


def render(directory):
    """The objects `kubectl kustomize DIRECTORY` makes, as a list of dicts."""
    out = subprocess.run([kubectl(), "kustomize", directory], capture_output=True, text=True)
    if out.returncode != 0:
        raise AssertionError("kubectl kustomize %s: %s" % (directory, out.stderr))
    return [d for d in yaml.safe_load_all(out.stdout) if d], out.stdout


def find(objects, kind, name=None):
    found = [o for o in objects
             if o["kind"] == kind and (name is None or o["metadata"]["name"] == name)]
    if len(found) != 1:
        raise AssertionError("%d %s %s in the rendered manifests" % (len(found), kind, name or ""))
    return found[0]


def container(workload, name):
    for c in workload["spec"]["template"]["spec"]["containers"]:
        if c["name"] == name:
            return c
    raise AssertionError("no container %s in %s" % (name, workload["metadata"]["name"]))


def node_capabilities():
    """The capabilities the node DaemonSet's producer container adds, as shipped."""
    objects, _ = render(os.path.join(K8S, "overlays", "node"))
    producer = container(find(objects, "DaemonSet", "tapio-node"), "producer")
    caps = producer["securityContext"]["capabilities"]
    assert caps["drop"] == ["ALL"], caps
    return list(caps["add"])
