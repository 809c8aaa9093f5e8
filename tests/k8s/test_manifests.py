#!/usr/bin/python3
"""Offline checks of everything Tapio ships for deploying it (no root, no cluster, no Docker
engine): every Kustomize overlay rendered by kubectl and validated against the Kubernetes API
schemas (tests/k8s/validate.mjs, npm packages pinned in package-lock.json), what the manifests
must say (capabilities, probes, RBAC, one replica, ...), the producers' tapio.conf files read by
today's binary, the topics from --print-topics, docker-compose.yml read by docker-compose, and
the image's build context. Run by `make k8s-check` (part of `make test`)."""
import fnmatch
import glob
import os
import re
import shutil
import subprocess
import sys
import tempfile
import traceback

import yaml

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import manifests  # noqa: E402
from manifests import K8S, REPO, container, find, render  # noqa: E402

BUILD = os.environ.get("BUILD") or os.path.join(REPO, "build")
PRODUCER = os.path.join(BUILD, "tapio-producer")
CHECK = os.path.join(BUILD, "k8s-check")  # validate.mjs and its node_modules (make k8s-check)
WORK = tempfile.mkdtemp(prefix="tapio-k8s-check-")
NODE_CONF = os.path.join(K8S, "components", "node", "tapio.conf")
CLUSTER_CONF = os.path.join(K8S, "components", "cluster", "tapio.conf")
COMPOSE_CONF = os.path.join(REPO, "k8s", "compose", "tapio.conf")
CONFIGS = [NODE_CONF, CLUSTER_CONF, COMPOSE_CONF]

# Overlay and component combinations that are rendered and validated: every overlay as
# shipped, and every component on top of the node producer.
OVERLAYS = sorted(os.path.basename(d) for d in glob.glob(os.path.join(K8S, "overlays", "*")))
COMBOS = {
    "node+before-1.30": ["node", "before-1.30"],
    "node+kernel-before-5.11": ["node", "kernel-before-5.11"],
    "all-components": ["node", "cluster", "servicemonitor", "topics-job", "before-1.30",
                       "kernel-before-5.11"],
}
rendered = {}  # name -> (objects, yaml text)


def combo_dir(name, components):
    d = os.path.join(WORK, "combos", name)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "kustomization.yaml"), "w") as f:
        yaml.safe_dump({
            "apiVersion": "kustomize.config.k8s.io/v1beta1", "kind": "Kustomization",
            "namespace": "tapio",
            # Relative: Kustomize refuses absolute paths.
            "resources": [os.path.relpath(os.path.join(K8S, "base"), d)],
            "components": [os.path.relpath(os.path.join(K8S, "components", c), d)
                           for c in components],
        }, f)
    return d


def get(name):
    if name not in rendered:
        d = os.path.join(K8S, "overlays", name) if name in OVERLAYS else \
            combo_dir(name, COMBOS[name])
        rendered[name] = render(d)
    return rendered[name][0]


def producer_run(*args, conf=None):
    argv = [PRODUCER] + (["--config", conf] if conf else []) + list(args)
    return subprocess.run(argv, capture_output=True, text=True, env={"PATH": "/usr/bin:/bin"})


# --- rendering and schemas -------------------------------------------------------------------

def test_every_overlay_validates_against_the_api_schemas():
    files = []
    for name in OVERLAYS + list(COMBOS):
        if name == "strimzi-topics":
            continue  # KafkaTopic: no schema package; checked field by field below
        get(name)
        path = os.path.join(WORK, name + ".yaml")
        with open(path, "w") as f:
            f.write(rendered[name][1])
        files.append("%s=%s" % (name, path))
    assert set(OVERLAYS) >= {"node", "cluster", "full", "strimzi-topics"}, OVERLAYS
    out = subprocess.run(["node", os.path.join(CHECK, "validate.mjs")] + files,
                         capture_output=True, text=True)
    print(out.stdout.strip())
    assert out.returncode == 0, out.stderr


def test_the_validator_refuses_what_the_api_would():
    """The validation could fail: an unknown field, a wrong type and an unknown kind."""
    get("full")
    text = rendered["full"][1]
    bad = text.replace("readOnlyRootFilesystem: true", "readOnlyRootFilesytem: true", 1)
    bad = bad.replace("periodSeconds: 10", "periodSeconds: ten", 1)
    bad = bad.replace("kind: NetworkPolicy", "kind: NetworkPolicyy", 1)
    path = os.path.join(WORK, "bad.yaml")
    with open(path, "w") as f:
        f.write(bad)
    out = subprocess.run(["node", os.path.join(CHECK, "validate.mjs"), "bad=" + path],
                         capture_output=True, text=True)
    assert out.returncode == 1, out
    assert "'\"readOnlyRootFilesytem\"' does not exist" in out.stderr, out.stderr
    assert "periodSeconds must be integer" in out.stderr, out.stderr
    assert "no schema for NetworkPolicyy" in out.stderr, out.stderr


def test_namespaces():
    for name in OVERLAYS + list(COMBOS):
        want = "kafka" if name == "strimzi-topics" else "tapio"
        for o in get(name):
            if o["kind"] in ("Namespace", "PriorityClass", "ClusterRole", "ClusterRoleBinding"):
                assert "namespace" not in o["metadata"], o["metadata"]
            else:
                assert o["metadata"].get("namespace") == want, (name, o["kind"], o["metadata"])
    ns = find(get("node"), "Namespace", "tapio")
    assert ns["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "privileged"


# --- the node DaemonSet ----------------------------------------------------------------------

def test_daemonset_security():
    objects = get("node")
    ds = find(objects, "DaemonSet", "tapio-node")
    pod = ds["spec"]["template"]["spec"]
    c = container(ds, "producer")
    sc = c["securityContext"]
    assert pod["hostPID"] and pod["hostNetwork"], pod
    assert pod["dnsPolicy"] == "ClusterFirstWithHostNet"
    assert sc["capabilities"]["drop"] == ["ALL"]
    assert sorted(sc["capabilities"]["add"]) == sorted(
        ["BPF", "PERFMON", "NET_ADMIN", "NET_BROADCAST", "SYSLOG", "DAC_READ_SEARCH"]), sc
    assert sc["privileged"] is False and sc["allowPrivilegeEscalation"] is False
    assert sc["readOnlyRootFilesystem"] is True
    assert sc["appArmorProfile"] == {"type": "Unconfined"}
    assert sc["seccompProfile"] == {"type": "Unconfined"}
    # The priority class is one the manifests create, not system-node-critical.
    assert find(objects, "PriorityClass", pod["priorityClassName"])["value"] == 1000000000
    assert pod["tolerations"] == [{"operator": "Exists"}]


def test_daemonset_volumes_and_environment():
    ds = find(get("node"), "DaemonSet", "tapio-node")
    pod = ds["spec"]["template"]["spec"]
    c = container(ds, "producer")
    env = {e["name"]: e["valueFrom"]["fieldRef"]["fieldPath"] for e in c["env"]}
    assert env == {"NODE_NAME": "spec.nodeName", "NODE_IP": "status.hostIP"}, env
    volumes = {v["name"]: v for v in pod["volumes"]}
    mounts = {m["mountPath"]: m for m in c["volumeMounts"]}
    # The host's tracefs as a volume: the producer does not mount its own.
    for path in ("/sys/kernel/tracing", "/sys/fs/cgroup", "/var/lib/tapio"):
        assert volumes[mounts[path]["name"]]["hostPath"]["path"] == path, path
    for path in ("/sys/kernel/tracing", "/sys/fs/cgroup", "/etc/tapio"):
        assert mounts[path]["readOnly"] is True, mounts[path]
    # The token: projected, expiring, only where mounted, at the path clients look.
    assert pod["automountServiceAccountToken"] is False
    token = volumes[mounts["/var/run/secrets/kubernetes.io/serviceaccount"]["name"]]["projected"]
    sources = [list(s)[0] for s in token["sources"]]
    assert sources == ["serviceAccountToken", "configMap", "downwardAPI"], sources
    assert token["sources"][0]["serviceAccountToken"]["expirationSeconds"] == 3600


def config_value(conf_text, key):
    for line in conf_text.splitlines():
        k, eq, v = line.partition("=")
        if eq and k.strip() == key and not line.lstrip().startswith("#"):
            return v.strip()
    # --dump-config writes the default collector set as a comment (so it reads back as the
    # default set): "# collectors = kernel,dns,..."
    for line in conf_text.splitlines():
        k, eq, v = line.partition("=")
        if eq and k.strip() == "# " + key and key == "collectors":
            return v.strip()
    return None


def config_map_of(workload):
    return workload["spec"]["template"]["spec"]["volumes"][0]["configMap"]["name"]


def test_probes_reach_metrics_listen():
    """The kubelet's probes go where each producer's tapio.conf has its metrics server."""
    node = get("node")
    ds = find(node, "DaemonSet", "tapio-node")
    conf = find(node, "ConfigMap", config_map_of(ds))
    host, port = config_value(conf["data"]["tapio.conf"], "metrics_listen").rsplit(":", 1)
    assert host == "127.0.0.1", "the node producer's metrics must stay on the node's loopback"
    c = container(ds, "producer")
    for probe, path in (("livenessProbe", "/healthz"), ("readinessProbe", "/readyz")):
        assert c[probe]["httpGet"] == {"host": host, "path": path, "port": int(port)}, c[probe]
    dep = find(get("cluster"), "Deployment", "tapio-cluster")
    cc = container(dep, "producer")
    conf = find(get("cluster"), "ConfigMap", config_map_of(dep))
    port = int(config_value(conf["data"]["tapio.conf"], "metrics_listen").rsplit(":", 1)[1])
    assert cc["ports"] == [{"name": "metrics", "containerPort": port}]
    assert cc["livenessProbe"]["httpGet"]["port"] == "metrics"


def test_config_change_restarts_the_pods():
    """The ConfigMaps' names carry a hash of tapio.conf: a changed file changes the pod template."""
    copy = os.path.join(WORK, "k8s-copy")
    shutil.copytree(K8S, copy)
    before = {}
    for name, kind in (("node", "DaemonSet"), ("cluster", "Deployment")):
        objects, _ = render(os.path.join(copy, "overlays", name))
        w = find(objects, kind, "tapio-" + name)
        cm = config_map_of(w)
        assert re.fullmatch(r"tapio-%s-config-[a-z0-9]{10}" % name, cm), cm
        find(objects, "ConfigMap", cm)
        with open(os.path.join(K8S, "components", name, "tapio.conf")) as f:
            assert find(objects, "ConfigMap", cm)["data"]["tapio.conf"] == f.read()
        before[name] = cm
        with open(os.path.join(copy, "components", name, "tapio.conf"), "a") as f:
            f.write("log_level = debug\n")
        objects, _ = render(os.path.join(copy, "overlays", name))
        assert config_map_of(find(objects, kind, "tapio-" + name)) != cm, cm


# --- the cluster Deployment ------------------------------------------------------------------

def test_cluster_deployment():
    objects = get("cluster")
    dep = find(objects, "Deployment", "tapio-cluster")
    assert dep["spec"]["replicas"] == 1 and dep["spec"]["strategy"] == {"type": "Recreate"}
    pod = dep["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] == "tapio-cluster"
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert not pod.get("hostNetwork") and not pod.get("hostPID")
    sc = container(dep, "producer")["securityContext"]
    assert sc["capabilities"] == {"drop": ["ALL"]}, sc
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert volumes["etcd-client"]["secret"]["secretName"] == "tapio-etcd-client"
    claim = volumes["state"]["persistentVolumeClaim"]["claimName"]
    assert find(objects, "PersistentVolumeClaim", claim)["spec"]["accessModes"] == ["ReadWriteOnce"]
    # The etcd files the config names are where the Secret is mounted.
    mount = [m for m in container(dep, "producer")["volumeMounts"] if m["name"] == "etcd-client"][0]
    with open(CLUSTER_CONF) as f:
        text = f.read()
    for key in ("etcd_ca_file", "etcd_cert_file", "etcd_key_file"):
        m = re.search(r"^%s = (\S+)$" % key, text, re.M)
        assert m and m.group(1).startswith(mount["mountPath"] + "/"), key
    # Only the monitoring namespace reaches it, on the metrics port.
    np = find(objects, "NetworkPolicy", "tapio-cluster")
    labels = dep["spec"]["template"]["metadata"]["labels"]
    assert all(labels.get(k) == v for k, v in np["spec"]["podSelector"]["matchLabels"].items())
    assert np["spec"]["ingress"][0]["ports"] == [{"protocol": "TCP", "port": 9464}]


# --- RBAC ------------------------------------------------------------------------------------

def rules_allow(role, group, resource, verb):
    return any(group in r.get("apiGroups", []) and resource in r.get("resources", [])
               and verb in r["verbs"] for r in role["rules"])


def granted(objects, sa, group, resource, verb):
    for b in (o for o in objects if o["kind"] == "ClusterRoleBinding"):
        if any(s["kind"] == "ServiceAccount" and s["name"] == sa and s["namespace"] == "tapio"
               for s in b["subjects"]):
            role = find(objects, "ClusterRole", b["roleRef"]["name"])
            if rules_allow(role, group, resource, verb):
                return True
    return False


def test_rbac():
    objects = get("full")
    for verb in ("get", "list", "watch"):
        assert granted(objects, "tapio-node", "", "pods", verb)
        assert granted(objects, "tapio-cluster", "", "pods", verb)
    for verb in ("list", "watch"):
        assert granted(objects, "tapio-node", "events.k8s.io", "events", verb)
        assert granted(objects, "tapio-cluster", "events.k8s.io", "events", verb)
    for resource in ("nodes", "nodes/stats", "nodes/proxy", "nodes/pods"):
        assert granted(objects, "tapio-node", "", resource, "get"), resource
    # Read only: nothing may be written, and the cluster producer reads no kubelet.
    for o in objects:
        if o["kind"] == "ClusterRole" and o["metadata"]["name"] != "tapio-metrics-proxy":
            for r in o["rules"]:
                assert set(r["verbs"]) <= {"get", "list", "watch"}, (o["metadata"]["name"], r)
    assert not granted(objects, "tapio-cluster", "", "nodes/proxy", "get")
    for kind, name in (("DaemonSet", "tapio-node"), ("Deployment", "tapio-cluster")):
        sa = find(objects, kind, name)["spec"]["template"]["spec"]["serviceAccountName"]
        assert find(objects, "ServiceAccount", sa)["automountServiceAccountToken"] is False


# --- components ------------------------------------------------------------------------------

def test_servicemonitor_finds_the_pods():
    objects = get("full")
    ds = find(objects, "DaemonSet", "tapio-node")
    assert [c["name"] for c in ds["spec"]["template"]["spec"]["containers"]] == \
        ["producer", "metrics-proxy"]
    proxy = container(ds, "metrics-proxy")
    assert "--upstream=http://127.0.0.1:9464/" in proxy["args"]
    for sm_name, kind, workload in (("tapio-node", "DaemonSet", "tapio-node"),
                                    ("tapio-cluster", "Deployment", "tapio-cluster")):
        sm = find(objects, "ServiceMonitor", sm_name)
        w = find(objects, kind, workload)
        pod_labels = w["spec"]["template"]["metadata"]["labels"]
        wanted = sm["spec"]["selector"]["matchLabels"].items()
        services = [s for s in objects if s["kind"] == "Service" and all(
            s["metadata"]["labels"].get(k) == v for k, v in wanted)]
        assert len(services) == 1, sm_name
        svc = services[0]
        assert all(pod_labels.get(k) == v for k, v in svc["spec"]["selector"].items())
        port_names = {p["name"] for c in w["spec"]["template"]["spec"]["containers"]
                      for p in c.get("ports", [])}
        for ep in sm["spec"]["endpoints"]:
            svc_port = [p for p in svc["spec"]["ports"] if p["name"] == ep["port"]][0]
            assert svc_port["targetPort"] in port_names, (sm_name, svc_port)


def test_components_patch_the_producer():
    objects = get("all-components")
    ds = find(objects, "DaemonSet", "tapio-node")
    producer = ds["spec"]["template"]["spec"]["containers"][0]
    assert producer["name"] == "producer"
    assert "SYS_RESOURCE" in producer["securityContext"]["capabilities"]["add"]
    assert "appArmorProfile" not in producer["securityContext"]
    assert ds["spec"]["template"]["metadata"]["annotations"] == {
        "container.apparmor.security.beta.kubernetes.io/producer": "unconfined"}
    assert "SYS_RESOURCE" not in container(find(get("node"), "DaemonSet", "tapio-node"),
                                           "producer")["securityContext"]["capabilities"]["add"]


def test_topics_job_runs_print_topics():
    """The Job's script, run with this build against the shipped config, makes a topic script."""
    objects = get("full")
    job = find(objects, "Job", "tapio-topics")
    init = job["spec"]["template"]["spec"]["initContainers"][0]
    script = init["command"][2]
    flags = re.search(r'flags="([^"]+)"', script).group(1).split()
    out = producer_run(*flags, conf=NODE_CONF)
    assert out.returncode == 0, out.stderr
    assert "--topic tapio.metadata " in out.stdout and "cleanup.policy=compact" in out.stdout
    names = {v["configMap"]["name"] for v in job["spec"]["template"]["spec"]["volumes"]
             if "configMap" in v}
    cms = {o["metadata"]["name"] for o in objects if o["kind"] == "ConfigMap"}
    assert names <= cms, (names, cms)  # the hashed names, so the Job reads the producers' files


# --- the producers' configuration ------------------------------------------------------------

def test_configs_read_by_todays_binary():
    for conf in CONFIGS:
        out = producer_run("--dump-config", conf=conf)
        assert out.returncode == 0, (conf, out.stderr)
    prefixes = {config_value(open(c).read(), "topic_prefix") for c in CONFIGS}
    assert prefixes == {"tapio."}, prefixes


# --- topics ----------------------------------------------------------------------------------

def fake_kafka_bin():
    d = os.path.join(WORK, "kafka-bin")
    os.makedirs(d, exist_ok=True)
    for tool in ("kafka-topics.sh", "kafka-configs.sh"):
        with open(os.path.join(d, tool), "w") as f:
            f.write('#!/bin/sh\necho "%s $*" >> "$CALLS"\n' % tool)
        os.chmod(os.path.join(d, tool), 0o755)
    return d


def run_topics_script(script_text, env):
    path = os.path.join(WORK, "topics.sh")
    with open(path, "w") as f:
        f.write(script_text)
    calls = os.path.join(WORK, "calls")
    if os.path.exists(calls):
        os.unlink(calls)
    out = subprocess.run(["sh", path], capture_output=True, text=True,
                         env=dict(env, CALLS=calls, PATH="/usr/bin:/bin"))
    assert out.returncode == 0, out.stderr
    with open(calls) as f:
        return f.read().splitlines()


def test_topic_script_creates_every_topic():
    """--print-topics's script, run by sh with stand-ins for Kafka's tools, calls them exactly
    once per topic with the right settings; without a broker it refuses to guess one."""
    out = producer_run("--print-topics", "--partitions", "3", "--replication-factor", "1",
                       conf=COMPOSE_CONF)
    assert out.returncode == 0, out.stderr
    calls = run_topics_script(out.stdout, {"KAFKA_BIN": fake_kafka_bin(),
                                           "BOOTSTRAP_SERVER": "kafka:9092"})
    collectors = config_value(producer_run("--dump-config", conf=COMPOSE_CONF).stdout, "collectors")
    topics = ["tapio." + c for c in collectors.split(",")] + ["tapio.metadata"]
    creates = [c for c in calls if c.startswith("kafka-topics.sh")]
    assert len(creates) == len(topics) and len(calls) == 2 * len(topics), calls
    for topic in topics:
        policy = "compact" if topic == "tapio.metadata" else "delete"
        create = [c for c in creates if " --topic %s " % topic in c]
        assert len(create) == 1, (topic, calls)
        assert create[0].startswith("kafka-topics.sh --bootstrap-server kafka:9092 --create "
                                    "--if-not-exists --topic %s --partitions 3 "
                                    "--replication-factor 1 --config cleanup.policy=%s"
                                    % (topic, policy)), create
        assert ("retention.ms=604800000" in create[0]) == (policy == "delete")
        alter = "kafka-configs.sh --bootstrap-server kafka:9092 --alter --entity-type topics " \
            "--entity-name %s --add-config cleanup.policy=%s" % (topic, policy)
        assert len([c for c in calls if c.startswith(alter)]) == 1, (alter, calls)
    # The configured brokers are the default; with none, the script stops at once.
    calls = run_topics_script(out.stdout, {"KAFKA_BIN": fake_kafka_bin()})
    assert calls[0].startswith("kafka-topics.sh --bootstrap-server 127.0.0.1:9094 "), calls[0]
    bare = producer_run("--print-topics").stdout
    path = os.path.join(WORK, "bare.sh")
    with open(path, "w") as f:
        f.write(bare)
    out = subprocess.run(["sh", path], capture_output=True, text=True,
                         env={"KAFKA_BIN": fake_kafka_bin(), "PATH": "/usr/bin:/bin"})
    assert out.returncode != 0 and "set BOOTSTRAP_SERVER" in out.stderr, out


def test_strimzi_topics_are_current():
    """k8s/overlays/strimzi-topics/topics.yaml is what generate.sh prints from today's configs."""
    directory = os.path.join(K8S, "overlays", "strimzi-topics")
    out = subprocess.run([os.path.join(directory, "generate.sh"), PRODUCER], capture_output=True,
                         text=True)
    assert out.returncode == 0, out.stderr
    with open(os.path.join(directory, "topics.yaml")) as f:
        assert f.read() == out.stdout, \
            "k8s/overlays/strimzi-topics/topics.yaml is stale: run its generate.sh > topics.yaml"
    objects = get("strimzi-topics")
    names = set()
    for o in objects:
        assert o["apiVersion"] == "kafka.strimzi.io/v1beta2" and o["kind"] == "KafkaTopic", o
        assert re.fullmatch(r"[a-z0-9]([-a-z0-9.]*[a-z0-9])?", o["metadata"]["name"]), o
        assert o["metadata"]["labels"] == {"strimzi.io/cluster": "my-cluster"}
        spec = o["spec"]
        assert set(spec) == {"topicName", "partitions", "replicas", "config"}, spec
        assert isinstance(spec["partitions"], int) and isinstance(spec["replicas"], int)
        assert spec["topicName"].startswith("tapio.")
        policy = "compact" if spec["topicName"] == "tapio.metadata" else "delete"
        assert spec["config"]["cleanup.policy"] == policy, spec
        names.add(spec["topicName"])
    assert "tapio.metadata" in names and "tapio.kernel" in names, names


# --- docker-compose.yml ----------------------------------------------------------------------

def test_compose():
    out = subprocess.run(["docker-compose", "-f", os.path.join(REPO, "docker-compose.yml"),
                          "config"], capture_output=True, text=True, cwd=REPO)
    assert out.returncode == 0, out.stderr
    services = yaml.safe_load(out.stdout)["services"]
    producer = services["producer"]
    assert producer["network_mode"] == "host" and producer["pid"] == "host"
    assert producer["cap_drop"] == ["ALL"]
    assert sorted(producer["cap_add"]) == sorted(manifests.node_capabilities())
    assert producer["read_only"] is True
    assert producer["depends_on"]["topics"]["condition"] == "service_completed_successfully"
    assert producer["depends_on"]["schema-registry"]["condition"] == "service_healthy"
    mounts = {v.split(":")[1]: v for v in producer["volumes"]}
    assert mounts["/sys/kernel/tracing"].startswith("/sys/kernel/tracing:")
    topics = services["topics"]
    assert topics["depends_on"]["topics-script"]["condition"] == "service_completed_successfully"
    assert topics["depends_on"]["kafka"]["condition"] == "service_healthy"
    kafka = services["kafka"]
    env = kafka["environment"]
    assert env["KAFKA_AUTO_CREATE_TOPICS_ENABLE"] == "false"
    assert any(v.startswith("kafka-data:" + env["KAFKA_LOG_DIRS"]) for v in kafka["volumes"])
    # The producer, on the host, reaches Kafka where its HOST listener is advertised and published.
    with open(COMPOSE_CONF) as f:
        brokers = config_value(f.read(), "brokers")
    assert "HOST://" + brokers in env["KAFKA_ADVERTISED_LISTENERS"].split(",")
    port = brokers.rsplit(":", 1)[1]
    assert any(p.startswith("127.0.0.1:%s:%s" % (port, port)) for p in kafka["ports"])
    # topics-script's command, run here with this build, writes a script that creates the topics.
    cmd = services["topics-script"]["entrypoint"][2]
    cmd = cmd.replace("/usr/local/bin/tapio-producer", PRODUCER) \
        .replace("/etc/tapio/tapio.conf", COMPOSE_CONF).replace("/topics/", WORK + "/")
    out = subprocess.run(["sh", "-ec", cmd], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    with open(os.path.join(WORK, "tapio.sh")) as f:
        calls = run_topics_script(f.read(), {
            "KAFKA_BIN": fake_kafka_bin(),
            "BOOTSTRAP_SERVER": topics["environment"]["BOOTSTRAP_SERVER"]})
    assert any("--topic tapio.metadata --partitions 4 --replication-factor 1 --config "
               "cleanup.policy=compact" in c for c in calls), calls


# --- the image -------------------------------------------------------------------------------

def dockerignored(rel, patterns):
    """Docker's rule for this file's simple patterns: the last matching pattern wins."""
    ignored = False
    for p in patterns:
        neg = p.startswith("!")
        pat = p[1:] if neg else p
        pat = pat.replace("**/", "")
        parts = rel.split("/")
        hit = any(fnmatch.fnmatch("/".join(parts[:i + 1]), pat) for i in range(len(parts))) or \
            any(fnmatch.fnmatch(part, pat) for part in parts if "/" not in pat)
        if hit:
            ignored = not neg
    return ignored


def test_build_context_builds():
    """What .dockerignore leaves of the tree is enough for the Dockerfile's `make all`."""
    with open(os.path.join(REPO, ".dockerignore")) as f:
        patterns = [l.strip() for l in f if l.strip() and not l.startswith("#")]
    files = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard"],
                           cwd=REPO, capture_output=True, text=True, check=True).stdout.split()
    context = os.path.join(WORK, "context")
    kept = 0
    for rel in files:
        if dockerignored(rel, patterns) or not os.path.exists(os.path.join(REPO, rel)):
            continue
        os.makedirs(os.path.dirname(os.path.join(context, rel)), exist_ok=True)
        shutil.copy2(os.path.join(REPO, rel), os.path.join(context, rel))
        kept += 1
    assert not os.path.exists(os.path.join(context, "tests"))
    assert os.path.exists(os.path.join(context, "k8s", "Dockerfile"))
    out = subprocess.run(["make", "-j2", "all"], cwd=context, capture_output=True, text=True)
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
    assert os.access(os.path.join(context, "build", "tapio-producer"), os.X_OK)
    print("build context: %d files" % kept)


def main():
    tests = [f for n, f in list(globals().items()) if n.startswith("test_")]  # in file order
    passed = failed = 0
    for t in tests:
        try:
            t()
            passed += 1
            print("PASS %s" % t.__name__, flush=True)
        except Exception:
            failed += 1
            print("FAIL %s" % t.__name__, flush=True)
            traceback.print_exc()
    shutil.rmtree(WORK, ignore_errors=True)
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
