#!/usr/bin/env python3
"""Checks deploy/ against the code it deploys, without a container runtime.

No container daemon or cluster runs on the development machine, so this runs
what can run here: docker-compose's own validation of the compose file,
promtool on each Prometheus configuration, and crm-scored --check-config (and
crm-demo) on the exact configuration each container and pod would get: the
image's ENV, the service's environment and arguments, the files they mount.
It then checks that the pieces agree with each other: ports, names, selectors,
probes, volumes, users. One line per failure; exit code 1 if any.

Usage: scripts/check-deploy.py BUILD_DIR
"""

import os
import re
import shlex
import subprocess
import sys
import tempfile

import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEPLOY = os.path.join(ROOT, "deploy")
CONTRACT_TOPICS = ["crm.touchpoints", "crm.alerts", "crm.touchpoints.dlq", "crm.state.changelog",
                   "crm.cluster"]
failures = []


def fail(where, what):
    failures.append(f"{where}: {what}")


def run(args, env=None, timeout=120):
    """(exit code, stdout and stderr) of a command run to its end."""
    done = subprocess.run(args, env=env, capture_output=True, text=True, timeout=timeout)
    return done.returncode, done.stdout + done.stderr


class Image:
    """What deploy/Dockerfile's runtime stage sets: ENV, the user, and where
    the files it copies from the checkout end up."""

    def __init__(self, path):
        text = open(path).read().replace("\\\n", " ")
        runtime = text[text.rindex("\nFROM "):]
        self.env = {}
        for line in runtime.splitlines():
            if line.startswith("ENV "):
                for assignment in shlex.split(line[4:]):
                    key, _, value = assignment.partition("=")
                    self.env[key] = value
        self.uid = int(re.search(r"useradd [^\n]*--uid (\d+)", runtime).group(1))
        self.binaries = set(re.findall(r"/build/\S+/(crm-[\w-]+)", runtime))
        # COPY --from=build /src/REL DEST: DEST in the image is REL here.
        self.files = {
            dest: os.path.join(ROOT, rel)
            for rel, dest in re.findall(r"COPY --from=build /src/(\S+) (\S+)", runtime)
        }

    def local(self, path):
        return self.files.get(path, path)


def check_config(where, build, env, args):
    """crm-scored --check-config on `args` with `env`: the effective config."""
    full_env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), **env}
    code, output = run([os.path.join(build, "services/crm-scored"), "--check-config", *args], env=full_env)
    if code != 0:
        fail(where, f"crm-scored --check-config exits {code}: {output.strip()}")
        return {}
    described = output[output.index("configuration valid: ") + len("configuration valid: "):]
    return dict(item.split("=", 1) for item in described.split() if "=" in item)


def port_of(address):
    return int(address.rsplit(":", 1)[1])


def check_promtool(where, path):
    code, output = run(["promtool", "check", "config", path])
    if code != 0:
        fail(where, f"promtool check config: {output.strip()}")


def compose_volumes(service):
    """A service's mounts as dicts: docker-compose config writes them SOURCE:TARGET[:MODE]."""
    mounts = []
    for volume in service.get("volumes", []):
        if isinstance(volume, str):
            source, target = volume.split(":")[:2]
            volume = {"type": "bind" if source.startswith("/") else "volume", "source": source, "target": target}
        mounts.append(volume)
    return mounts


def check_compose(build, image):
    where = "deploy/docker-compose.yml"
    compose_file = os.path.join(DEPLOY, "docker-compose.yml")
    code, output = run(["docker-compose", "-f", compose_file, "config"],
                       env={**os.environ, "CRM_PARTITIONS": "", "DEMO_RATE": "", "DEMO_CUSTOMERS": ""})
    if code != 0:
        fail(where, f"docker-compose config: {output.strip()}")
        return
    compose = yaml.safe_load(output)
    services = compose["services"]
    for name in ["kafka", "topics", "crm-scored", "demo", "prometheus", "grafana"]:
        if name not in services:
            fail(where, f"no service {name}")
    if failures:
        return

    # Every file a container mounts from the checkout exists.
    for name, service in services.items():
        for volume in compose_volumes(service):
            if volume["type"] == "bind" and not os.path.exists(volume["source"]):
                fail(where, f"{name} mounts {volume['source']}, which does not exist")

    # A KRaft broker: it is its own controller, there is no ZooKeeper.
    kafka = services["kafka"]
    kafka_env = kafka["environment"]
    if "controller" not in kafka_env.get("KAFKA_PROCESS_ROLES", "") or any(
            "zookeeper" in key.lower() for key in kafka_env):
        fail(where, "kafka is not a KRaft broker")
    advertised = dict(
        listener.split("://") for listener in kafka_env["KAFKA_ADVERTISED_LISTENERS"].split(","))
    internal = advertised.get(kafka_env["KAFKA_INTER_BROKER_LISTENER_NAME"])
    topics_script = " ".join(services["topics"].get("command", []))
    for topic in CONTRACT_TOPICS:
        if topic not in topics_script:
            fail(where, f"the topics service does not create {topic}")
    if f"--bootstrap-server {internal}" not in topics_script:
        fail(where, f"the topics service does not reach the broker at {internal}")
    changelog_at = topics_script.find("crm.state.changelog")
    if "cleanup.policy=compact" not in topics_script[changelog_at:]:
        fail(where, "the changelog topic is not created compacted")
    cluster_at = topics_script.find("--topic crm.cluster")
    if cluster_at < 0 or "cleanup.policy=compact" not in topics_script[cluster_at:]:
        fail(where, "the cluster topic is not created compacted")
    if "{CRM_PARTITIONS}" not in topics_script or services["topics"]["environment"].get("CRM_PARTITIONS") != "6":
        fail(where, "the topics' partitions are not CRM_PARTITIONS, 6 by default")

    # crm-scored: the image's ENV, then the service's environment, as the
    # container would start; its model file is the one the image copies.
    scored = services["crm-scored"]
    env = {**image.env, **scored.get("environment", {})}
    if "CRM_MODEL" in env:
        env["CRM_MODEL"] = image.local(env["CRM_MODEL"])
    entrypoint = scored.get("command", [])
    config = check_config(where + " crm-scored", build, env, entrypoint)
    if not config:
        return
    if config["brokers"] != internal:
        fail(where, f"crm-scored reads brokers {config['brokers']}, the broker advertises {internal}")
    published = {port["target"] for port in scored.get("ports", [])}
    for key in ["grpc-listen", "metrics-listen"]:
        if not config[key].startswith("0.0.0.0:"):
            fail(where, f"crm-scored {key}={config[key]} is not reachable from other containers")
        if port_of(config[key]) not in published:
            fail(where, f"crm-scored listens on {config[key]} ({key}), which is not published")
    data_mounts = [v["target"] for v in compose_volumes(scored) if v["type"] == "volume"]
    if not any(config["data-dir"] == m or config["data-dir"].startswith(m + "/") for m in data_mounts):
        fail(where, f"crm-scored's data dir {config['data-dir']} is not on a volume")
    health = scored.get("healthcheck", {}).get("test", [])
    if health[1:3] != ["crm-score", "health"] or "crm-score" not in image.binaries:
        fail(where, "crm-scored's health check is not crm-score health from the image")
    if int(re.match(r"(\d+)s", scored.get("stop_grace_period", "10s")).group(1)) < 30:
        fail(where, "crm-scored has less than 30 s to stop cleanly")

    grpc_address = f"crm-scored:{port_of(config['grpc-listen'])}"
    metrics_url = f"http://crm-scored:{port_of(config['metrics-listen'])}/metrics"

    # The demo: its arguments parse, and it reaches the broker and crm-scored.
    demo = services["demo"]
    demo_args = demo.get("command", [])
    for expected in [f"--brokers={internal}", f"--grpc={grpc_address}", f"--metrics={metrics_url}"]:
        if expected not in demo_args:
            fail(where, f"the demo lacks {expected}")
    if demo.get("entrypoint") != ["crm-demo"] or "crm-demo" not in image.binaries:
        fail(where, "the demo does not run the image's crm-demo")
    code, output = run([os.path.join(build, "tools/crm-demo"), *demo_args, "--duration=1",
                        "--kafka", "message.timeout.ms=1000"])
    if code != 0 or "crm-demo: seed" not in output:
        fail(where, f"crm-demo with the demo's arguments exits {code}: {output.strip()[:300]}")

    # Prometheus: the mounted config is valid and scrapes crm-scored's metrics
    # as job crm-scored (the alert rules' job).
    prometheus = services["prometheus"]
    config_path = next(arg.split("=", 1)[1] for arg in prometheus["command"]
                       if arg.startswith("--config.file="))
    local_config = None
    for volume in compose_volumes(prometheus):
        if volume["type"] == "bind" and config_path.startswith(volume["target"] + "/"):
            local_config = os.path.join(volume["source"], config_path[len(volume["target"]) + 1:])
    if not local_config or not os.path.exists(local_config):
        fail(where, f"Prometheus's {config_path} is not mounted from the checkout")
        return
    check_promtool(where, local_config)
    scrape = yaml.safe_load(open(local_config))
    jobs = {job["job_name"]: job for job in scrape["scrape_configs"]}
    targets = [t for c in jobs.get("crm-scored", {}).get("static_configs", []) for t in c["targets"]]
    if targets != [f"crm-scored:{port_of(config['metrics-listen'])}"]:
        fail(where, f"Prometheus's job crm-scored scrapes {targets}, not crm-scored's metrics")

    # Grafana: the data source is that Prometheus, the dashboard is provisioned
    # from where it is mounted.
    grafana = services["grafana"]
    mounts = {v["target"]: v["source"] for v in compose_volumes(grafana) if v["type"] == "bind"}
    sources = yaml.safe_load(open(mounts["/etc/grafana/provisioning/datasources"] + "/prometheus.yml"))
    urls = [source["url"] for source in sources["datasources"] if source["type"] == "prometheus"]
    prometheus_port = next(p["target"] for p in prometheus["ports"])
    if urls != [f"http://prometheus:{prometheus_port}"]:
        fail(where, f"Grafana's Prometheus data source is {urls}")
    dashboards = yaml.safe_load(open(mounts["/etc/grafana/provisioning/dashboards"] + "/crm-scored.yml"))
    path = dashboards["providers"][0]["options"]["path"]
    provisioned = [source for target, source in mounts.items() if os.path.dirname(target) == path]
    if [os.path.relpath(s, DEPLOY) for s in provisioned] != ["grafana/crm-scored.json"]:
        fail(where, f"Grafana's dashboards at {path} are {provisioned}, not the crm-scored dashboard")


def check_kubernetes(build, image):
    base = os.path.join(DEPLOY, "kubernetes")
    where = "deploy/kubernetes"
    kustomization = yaml.safe_load(open(os.path.join(base, "kustomization.yaml")))
    listed = sorted(kustomization["resources"])
    present = sorted(f for f in os.listdir(base) if f.endswith(".yaml") and f != "kustomization.yaml")
    if listed != present:
        fail(where, f"kustomization.yaml lists {listed}, the directory holds {present}")
    objects = {}
    for name in present:
        for document in yaml.safe_load_all(open(os.path.join(base, name))):
            objects[(document["kind"], document["metadata"]["name"])] = document
    sets = [o for (kind, _), o in objects.items() if kind == "StatefulSet"]
    if len(sets) != 1:
        fail(where, f"{len(sets)} StatefulSets, not 1")
        return
    statefulset = sets[0]
    spec = statefulset["spec"]
    pod = spec["template"]["spec"]
    labels = spec["template"]["metadata"]["labels"]

    def selects(selector):
        return bool(selector) and all(labels.get(k) == v for k, v in selector.items())

    if not selects(spec["selector"]["matchLabels"]):
        fail(where, "the StatefulSet's selector does not select its pods")
    # Scale-out: several pods share the partitions (6 by default: more pods
    # than partitions would sit idle).
    if not 2 <= spec.get("replicas", 1) <= 6:
        fail(where, f"replicas is {spec.get('replicas', 1)}, not 2 to 6 (the input's partitions)")
    headless = objects.get(("Service", spec["serviceName"]))
    if not headless or headless["spec"].get("clusterIP") != "None":
        fail(where, f"the StatefulSet's service {spec['serviceName']} is not a headless Service")
    services = [o for (kind, _), o in objects.items() if kind == "Service"]
    budgets = [o for (kind, _), o in objects.items() if kind == "PodDisruptionBudget"]
    if not budgets:
        fail(where, "no PodDisruptionBudget")
    for budget in budgets:
        if not selects(budget["spec"]["selector"]["matchLabels"]):
            fail(where, f"PodDisruptionBudget {budget['metadata']['name']} does not select the pods")
    container = next(c for c in pod["containers"] if c["name"] == "crm-scored")
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    for service in services:
        if not selects(service["spec"]["selector"]):
            fail(where, f"Service {service['metadata']['name']} does not select the pods")
        for port in service["spec"]["ports"]:
            if port["targetPort"] not in ports:
                fail(where, f"Service {service['metadata']['name']} targets no container port {port['targetPort']}")
    # The probes ask the gRPC health service on the gRPC port: Kubernetes'
    # gRPC probe in plaintext, or crm-score health (over TLS, Kubernetes'
    # probe speaking plaintext only), checked against the config below.
    probe_commands = []
    for probe in ["startupProbe", "readinessProbe", "livenessProbe"]:
        spec_of = container.get(probe, {})
        command = spec_of.get("exec", {}).get("command", [])
        if spec_of.get("grpc", {}).get("port") == ports.get("grpc"):
            probe_commands.append(None)
        elif (command[:1] == ["crm-score"] and command[-1:] == ["health"] and
              f"localhost:{ports.get('grpc')}" in command):
            probe_commands.append(command)
        else:
            fail(where, f"the {probe} is not the gRPC health service on port {ports.get('grpc')}")
    security = pod.get("securityContext", {})
    if security.get("runAsUser") != image.uid or not security.get("runAsNonRoot"):
        fail(where, f"the pods do not run as the image's user {image.uid}")
    if security.get("fsGroup") != image.uid:
        fail(where, "the data volume is not writable by the image's user (fsGroup)")
    annotations = spec["template"]["metadata"].get("annotations", {})
    if annotations.get("prometheus.io/port") != str(ports.get("metrics")):
        fail(where, "the prometheus.io/port annotation is not the metrics port")

    # The configuration the pod gets: the image's ENV, the pod's plain env (a
    # secret's is left out), the args, and the ConfigMap where it is mounted.
    mounts = {m["name"]: m["mountPath"] for m in container.get("volumeMounts", [])}
    volumes = {v["name"]: v for v in pod.get("volumes", [])}
    env = {**image.env, **{e["name"]: e["value"] for e in container.get("env", []) if "value" in e}}
    # Each pod is reached by the others at its name in the headless Service,
    # on the gRPC port; Kubernetes expands $(POD_NAME) from the pod's name.
    downward = {e["name"]: e["valueFrom"]["fieldRef"]["fieldPath"] for e in container.get("env", [])
                if "fieldRef" in e.get("valueFrom", {})}
    expected_address = f"$(POD_NAME).{spec['serviceName']}:{ports.get('grpc')}"
    if downward.get("POD_NAME") != "metadata.name" or env.get("CRM_ADVERTISE_ADDRESS") != expected_address:
        fail(where, f"CRM_ADVERTISE_ADDRESS is not {expected_address} with POD_NAME the pod's name")
    env = {k: v.replace("$(POD_NAME)", f"{statefulset['metadata']['name']}-0") for k, v in env.items()}
    args = list(container.get("args", []))
    with tempfile.TemporaryDirectory() as scratch:
        # Secrets are referenced by name, never committed: each mounted one
        # stands here as a directory of placeholders (a token line, which is
        # also an existing file for a certificate path), made for each path
        # of it the configuration names.
        secret_dirs = {}
        for name, volume in volumes.items():
            if "secret" not in volume:
                continue
            if ("Secret", volume["secret"]["secretName"]) in objects:
                fail(where, f"the Secret {volume['secret']['secretName']} is committed with its values")
            secret_dirs[mounts[name]] = os.path.join(scratch, "secret-" + name)
            os.makedirs(secret_dirs[mounts[name]])
        for name, volume in volumes.items():
            if "configMap" not in volume:
                continue
            config_map = objects.get(("ConfigMap", volume["configMap"]["name"]))
            if not config_map:
                fail(where, f"volume {name} mounts a ConfigMap that is not there")
                continue
            for key, text in config_map["data"].items():
                path = os.path.join(mounts[name], key)
                local = os.path.join(scratch, key)
                for mount, placeholder in secret_dirs.items():
                    for secret_file in re.findall(rf'"{re.escape(mount)}/([^"/]+)"', text):
                        with open(os.path.join(placeholder, secret_file), "w") as out:
                            out.write("placeholder:0123456789abcdef0123456789abcdef\n")
                    text = text.replace(f'"{mount}/', f'"{placeholder}/')
                open(local, "w").write(text)
                args = [local if arg == path else arg for arg in args]
                overridden = [k for k in ["data-dir", "grpc-listen", "metrics-listen"]
                              if re.search(rf"^\s*{k}\s*=", text, re.M) and
                              "CRM_" + k.upper().replace("-", "_") in env]
                if overridden:
                    fail(where, f"the ConfigMap sets {overridden}, which the container's environment overrides")
        config = check_config(where, build, env, args)
    if not config:
        return
    if config["brokers"] == "(embedded)":
        fail(where, "no brokers configured: the pod would start an embedded broker")
    if config.get("cluster-topic") in (None, "(none)"):
        fail(where, "no cluster topic: a lookup reaching a pod not owning the customer would fail")
    # Reached from the network: TLS, every call authenticated, readers and
    # admins apart, the peers verified against the CA.
    if config.get("grpc-tls") != "on":
        fail(where, "gRPC is not over TLS")
    if config.get("grpc-auth") != "all":
        fail(where, "reads are open: grpc-auth is not all")
    for key in ["reader-token-file", "admin-token-file", "cluster-token-file"]:
        if config.get(key) in (None, "(none)"):
            fail(where, f"no {key}")
    if "peer-tls-ca" not in config:
        fail(where, "no peer-tls-ca: the other pods' certificates would be checked against public roots")
    for command in probe_commands:
        if command is not None and "--tls-ca" not in command:
            fail(where, f"the probe {command} does not speak TLS")
    for key, port in [("grpc-listen", "grpc"), ("metrics-listen", "metrics")]:
        if not config[key].startswith("0.0.0.0:") or port_of(config[key]) != ports.get(port):
            fail(where, f"{key}={config[key]} is not the container port {port} on every interface")
    claims = {c["metadata"]["name"] for c in spec.get("volumeClaimTemplates", [])}
    if not any(mounts.get(claim) == config["data-dir"] for claim in claims):
        fail(where, f"the data dir {config['data-dir']} is not a volume claimed per pod")
    # The in-cluster Prometheus finds the pods by the headless Service's SRV
    # records for the metrics port, in the kustomization's namespace.
    scrape_path = os.path.join(DEPLOY, "prometheus/kubernetes.yml")
    check_promtool("deploy/prometheus/kubernetes.yml", scrape_path)
    scrape = yaml.safe_load(open(scrape_path))
    names = [n for job in scrape["scrape_configs"] if job["job_name"] == "crm-scored"
             for c in job.get("dns_sd_configs", []) for n in c["names"]]
    metrics_port = next(p["name"] for p in headless["spec"]["ports"] if p["targetPort"] == "metrics")
    expected = f"_{metrics_port}._tcp.{spec['serviceName']}.{kustomization['namespace']}.svc.cluster.local"
    if names != [expected]:
        fail("deploy/prometheus/kubernetes.yml", f"job crm-scored looks up {names}, not {expected}")


def main():
    if len(sys.argv) != 2 or sys.argv[1] in ("-h", "--help"):
        print(__doc__.strip())
        return 0 if len(sys.argv) == 2 else 2
    build = os.path.abspath(sys.argv[1])
    image = Image(os.path.join(DEPLOY, "Dockerfile"))
    check_compose(build, image)
    check_kubernetes(build, image)
    for failure in failures:
        print(failure, file=sys.stderr)
    if not failures:
        print("check-deploy: deploy/docker-compose.yml and deploy/kubernetes agree with the code")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
