"""Renders every kustomize overlay with `kubectl kustomize` and checks what the manifests promise (no cluster here:
`kubectl apply --dry-run=client` needs an API server, so the rendered YAML is checked directly)."""
import re
import unittest

import yaml

from deploytest import (BWRAP_CAPS, DEPLOY, GVISOR_CAPS, anonymous_routes, is_warden_setting, require_tool, run,
                        warden_settings)

KUSTOMIZATIONS = ["base", "overlays/gvisor", "overlays/postgres"]


class Rendered:
    def __init__(self, docs):
        self.docs = [d for d in docs if d]

    def of(self, kind):
        return [d for d in self.docs if d["kind"] == kind]

    def one(self, kind):
        found = self.of(kind)
        assert len(found) == 1, f"expected one {kind}, got {len(found)}"
        return found[0]

    @property
    def deployment(self):
        return self.one("Deployment")

    @property
    def pod(self):
        return self.deployment["spec"]["template"]["spec"]

    @property
    def container(self):
        containers = self.pod["containers"]
        assert len(containers) == 1
        return containers[0]

    def env_names(self):
        names = set(self.one("ConfigMap")["data"]) | set(self.one("Secret").get("data") or {})
        names |= {e["name"] for e in self.container.get("env", [])}
        return names


def render(path):
    kubectl = require_tool(unittest.TestCase(), "kubectl")
    result = run([kubectl, "kustomize", str(DEPLOY / "kubernetes" / path)])
    assert result.returncode == 0, result.stderr
    return Rendered(list(yaml.safe_load_all(result.stdout)))


class EveryKustomization(unittest.TestCase):
    """What holds for the base and every overlay."""

    @classmethod
    def setUpClass(cls):
        cls.rendered = {path: render(path) for path in KUSTOMIZATIONS}
        cls.catalog = warden_settings()

    def each(self):
        for path, r in self.rendered.items():
            with self.subTest(kustomization=path):
                yield path, r

    def test_renders_the_expected_objects(self):
        for _, r in self.each():
            for kind in ["Deployment", "Service", "ConfigMap", "Secret", "HorizontalPodAutoscaler", "PodDisruptionBudget"]:
                r.one(kind)

    def test_never_privileged_and_least_privilege(self):
        for path, r in self.each():
            pod, sc = r.pod, r.container["securityContext"]
            self.assertIs(sc["privileged"], False)
            self.assertIs(sc["allowPrivilegeEscalation"], False)
            self.assertIs(sc["readOnlyRootFilesystem"], True)
            self.assertEqual(sc["capabilities"]["drop"], ["ALL"])
            expected = GVISOR_CAPS if path == "overlays/gvisor" else BWRAP_CAPS
            self.assertEqual(set(sc["capabilities"]["add"]), expected)
            # Unconfined only where bwrap needs it (pivot_root, mount): documented in deployment.yaml.
            self.assertEqual(sc["seccompProfile"], {"type": "Unconfined"})
            self.assertEqual(sc["appArmorProfile"], {"type": "Unconfined"})
            self.assertNotIn("procMount", sc)  # the entrypoint mounts its own procfs instead
            for host_flag in ["hostNetwork", "hostPID", "hostIPC"]:
                self.assertFalse(pod.get(host_flag, False))
            self.assertIs(pod["automountServiceAccountToken"], False)
            # No hostPath at all: the container's own cgroup is remounted read-write by the entrypoint.
            self.assertFalse([v for v in pod["volumes"] if "hostPath" in v])
            self.assertNotIn("runtimeClassName", pod)

    def test_probes_point_at_real_anonymous_endpoints_on_the_served_port(self):
        routes = anonymous_routes()
        for _, r in self.each():
            c = r.container
            ports = {p["name"]: p["containerPort"] for p in c["ports"]}
            self.assertEqual(ports, {"http": 8090})
            paths = {}
            for probe in ["startupProbe", "livenessProbe", "readinessProbe"]:
                get = c[probe]["httpGet"]
                self.assertEqual(get["port"], "http")
                self.assertIn(get["path"], routes)
                paths[probe] = get["path"]
            self.assertEqual(paths["readinessProbe"], "/readyz")
            self.assertEqual(paths["livenessProbe"], "/healthz")
            urls = r.one("ConfigMap")["data"]["WARDEN_URLS"]
            self.assertEqual(urls, "http://0.0.0.0:8090")

    def test_service_targets_the_pods_port(self):
        for _, r in self.each():
            service = r.one("Service")
            self.assertEqual(service["spec"]["ports"], [{"name": "http", "port": 8090, "targetPort": "http"}])
            labels = r.deployment["spec"]["template"]["metadata"]["labels"]
            for key, value in service["spec"]["selector"].items():
                self.assertEqual(labels.get(key), value)

    def test_hpa_and_pdb_target_the_deployment(self):
        for _, r in self.each():
            hpa, pdb, dep = r.one("HorizontalPodAutoscaler"), r.one("PodDisruptionBudget"), r.deployment
            self.assertEqual(hpa["spec"]["scaleTargetRef"], {"apiVersion": "apps/v1", "kind": "Deployment", "name": dep["metadata"]["name"]})
            self.assertEqual(hpa["spec"]["metrics"][0]["resource"]["name"], "cpu")
            self.assertIn("cpu", r.container["resources"]["requests"])  # utilization needs a request
            labels = dep["spec"]["template"]["metadata"]["labels"]
            self.assertTrue(pdb["spec"]["selector"]["matchLabels"])
            for key, value in pdb["spec"]["selector"]["matchLabels"].items():
                self.assertEqual(labels.get(key), value)

    def test_every_warden_variable_is_a_real_setting(self):
        for _, r in self.each():
            names = {n for n in r.env_names() if n.startswith("WARDEN_")}
            self.assertTrue(names)
            unknown = sorted(n for n in names if not is_warden_setting(n, self.catalog))
            self.assertEqual(unknown, [])

    def test_config_and_secret_references_resolve(self):
        for _, r in self.each():
            refs = r.container["envFrom"]
            self.assertEqual(refs[0]["configMapRef"]["name"], r.one("ConfigMap")["metadata"]["name"])
            self.assertEqual(refs[1]["secretRef"]["name"], r.one("Secret")["metadata"]["name"])

    def test_no_secret_is_committed(self):
        for _, r in self.each():
            secret = r.one("Secret")
            self.assertEqual(secret["data"], {"WARDEN_API_KEY": ""})  # empty: Warden will not listen on 0.0.0.0 until set

    def test_state_directory_is_mounted_and_tmp_is_writable(self):
        for _, r in self.each():
            mounts = {m["mountPath"]: m["name"] for m in r.container["volumeMounts"]}
            self.assertEqual(mounts.get(r.one("ConfigMap")["data"]["WARDEN_STATE_DIR"]), "state")
            self.assertIn("/tmp", mounts)

    def test_image_matches_the_dockerfile(self):
        dockerfile = (DEPLOY / "Dockerfile").read_text()
        self.assertIn("EXPOSE 8090", dockerfile)
        self.assertIn("http://127.0.0.1:8090/api/v1/health", dockerfile)
        for _, r in self.each():
            self.assertEqual(r.container["image"], "warden:latest")
            self.assertEqual(r.container["args"], ["serve"])


class Base(unittest.TestCase):
    def test_single_replica_on_sqlite_volume(self):
        r = render("base")
        self.assertEqual(r.deployment["spec"]["replicas"], 1)
        self.assertEqual(r.deployment["spec"]["strategy"], {"type": "Recreate"})
        pvc = r.one("PersistentVolumeClaim")
        state = next(v for v in r.pod["volumes"] if v["name"] == "state")
        self.assertEqual(state["persistentVolumeClaim"]["claimName"], pvc["metadata"]["name"])
        self.assertEqual(pvc["spec"]["accessModes"], ["ReadWriteOnce"])
        hpa = r.one("HorizontalPodAutoscaler")["spec"]
        self.assertEqual((hpa["minReplicas"], hpa["maxReplicas"]), (1, 1))
        self.assertNotIn("WARDEN_DATABASE_URL", r.env_names())
        self.assertEqual(r.one("ConfigMap")["data"]["WARDEN_BACKEND"], "bwrap")


class GvisorOverlay(unittest.TestCase):
    def test_switches_the_backend_and_adds_only_sys_chroot(self):
        base, r = render("base"), render("overlays/gvisor")
        self.assertEqual(r.one("ConfigMap")["data"]["WARDEN_BACKEND"], "gvisor")
        added = set(r.container["securityContext"]["capabilities"]["add"]) - set(base.container["securityContext"]["capabilities"]["add"])
        self.assertEqual(added, {"SYS_CHROOT"})
        # Everything else is the base's.
        self.assertEqual(r.deployment["spec"]["replicas"], 1)
        self.assertEqual(len(r.of("PersistentVolumeClaim")), 1)


class PostgresOverlay(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.r = render("overlays/postgres")

    def test_several_replicas_without_a_state_volume_claim(self):
        r = self.r
        self.assertGreaterEqual(r.deployment["spec"]["replicas"], 2)
        self.assertEqual([c["metadata"]["name"] for c in r.of("PersistentVolumeClaim")], ["warden-homes"])
        state = next(v for v in r.pod["volumes"] if v["name"] == "state")
        self.assertIn("emptyDir", state)
        self.assertNotIn("persistentVolumeClaim", state)
        self.assertEqual(r.deployment["spec"]["strategy"]["type"], "RollingUpdate")
        self.assertEqual(r.deployment["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"], 0)

    def test_homes_on_one_volume_every_replica_mounts(self):
        r = self.r
        claim = r.one("PersistentVolumeClaim")
        self.assertEqual(claim["spec"]["accessModes"], ["ReadWriteMany"])
        volume = next(v for v in r.pod["volumes"] if v["name"] == "homes")
        self.assertEqual(volume["persistentVolumeClaim"]["claimName"], claim["metadata"]["name"])
        mount = next(m for m in r.container["volumeMounts"] if m["name"] == "homes")
        env = {e["name"]: e.get("value") for e in r.container["env"]}
        self.assertEqual(env["WARDEN_TERMINAL_HOMES_DIR"], mount["mountPath"])
        # Not under the per-pod state directory: that one is scratch.
        state = next(m for m in r.container["volumeMounts"] if m["name"] == "state")["mountPath"]
        self.assertFalse(mount["mountPath"].startswith(state.rstrip("/") + "/"))

    def test_replicas_prefer_different_nodes(self):
        terms = self.r.pod["affinity"]["podAntiAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"]
        term = terms[0]["podAffinityTerm"]
        self.assertEqual(term["topologyKey"], "kubernetes.io/hostname")
        self.assertEqual(term["labelSelector"]["matchLabels"], self.r.deployment["spec"]["selector"]["matchLabels"])

    def test_hpa_and_pdb_allow_scale_out_and_keep_replicas_up(self):
        r = self.r
        replicas = r.deployment["spec"]["replicas"]
        hpa = r.one("HorizontalPodAutoscaler")["spec"]
        self.assertGreaterEqual(hpa["minReplicas"], 2)
        self.assertGreater(hpa["maxReplicas"], hpa["minReplicas"])
        self.assertLessEqual(hpa["minReplicas"], replicas)
        pdb = r.one("PodDisruptionBudget")["spec"]
        self.assertNotIn("maxUnavailable", pdb)
        self.assertTrue(1 <= pdb["minAvailable"] < replicas)

    def test_database_and_cluster_identity_from_the_downward_api(self):
        env = self.r.container["env"]
        by_name = {e["name"]: e for e in env}
        order = [e["name"] for e in env]
        self.assertEqual(by_name["WARDEN_DATABASE_URL"]["valueFrom"]["secretKeyRef"]["key"], "WARDEN_DATABASE_URL")
        self.assertEqual(by_name["POD_NAME"]["valueFrom"]["fieldRef"]["fieldPath"], "metadata.name")
        self.assertEqual(by_name["POD_IP"]["valueFrom"]["fieldRef"]["fieldPath"], "status.podIP")
        self.assertEqual(by_name["WARDEN_CLUSTER_REPLICA_ID"]["value"], "$(POD_NAME)")
        self.assertEqual(by_name["WARDEN_CLUSTER_ADVERTISE_URL"]["value"], "http://$(POD_IP):8090")
        # $(VAR) expands only from variables defined earlier in the list.
        for name, uses in [("WARDEN_CLUSTER_REPLICA_ID", "POD_NAME"), ("WARDEN_CLUSTER_ADVERTISE_URL", "POD_IP")]:
            self.assertLess(order.index(uses), order.index(name))
        port = int(re.search(r":(\d+)$", by_name["WARDEN_CLUSTER_ADVERTISE_URL"]["value"]).group(1))
        self.assertEqual(port, self.r.container["ports"][0]["containerPort"])



class Monitoring(unittest.TestCase):
    """Prometheus finds every rendering's pods, scrapes the served /metrics on the pods' port, and sends a key."""

    def test_pods_are_annotated_for_scraping_the_served_metrics(self):
        routes = anonymous_routes()
        self.assertIn("/metrics", routes)
        for path in KUSTOMIZATIONS:
            with self.subTest(kustomization=path):
                r = render(path)
                annotations = r.deployment["spec"]["template"]["metadata"]["annotations"]
                self.assertEqual(annotations["prometheus.io/scrape"], "true")
                self.assertEqual(annotations["prometheus.io/path"], "/metrics")
                self.assertEqual(int(annotations["prometheus.io/port"]), r.container["ports"][0]["containerPort"])

    def test_service_monitor_scrapes_the_services_port_with_a_bearer_key(self):
        monitor = yaml.safe_load((DEPLOY / "kubernetes/monitoring/servicemonitor.yaml").read_text())
        service = render("base").one("Service")
        self.assertEqual(monitor["kind"], "ServiceMonitor")
        self.assertEqual(monitor["spec"]["selector"]["matchLabels"], service["spec"]["selector"])
        endpoint = monitor["spec"]["endpoints"][0]
        self.assertIn(endpoint["port"], [p["name"] for p in service["spec"]["ports"]])
        self.assertEqual(endpoint["path"], "/metrics")
        self.assertEqual(endpoint["authorization"]["type"], "Bearer")

    def test_plain_scrape_config_keeps_only_annotated_warden_pods(self):
        job = yaml.safe_load((DEPLOY / "kubernetes/monitoring/prometheus-scrape.yaml").read_text())["scrape_configs"][0]
        self.assertEqual(job["metrics_path"], "/metrics")
        self.assertIn("credentials_file", job["authorization"])
        keeps = {tuple(r["source_labels"]): r["regex"] for r in job["relabel_configs"] if r.get("action") == "keep"}
        self.assertEqual(keeps[("__meta_kubernetes_pod_label_app_kubernetes_io_name",)], "warden")
        self.assertEqual(keeps[("__meta_kubernetes_pod_annotation_prometheus_io_scrape",)], "true")
        rewrite = next(r for r in job["relabel_configs"] if r.get("target_label") == "__address__")
        # Prometheus anchors the regex and joins the source labels with ';': the pod's address gets the annotated port.
        match = re.fullmatch(rewrite["regex"], "10.1.2.3:9999;8090")
        self.assertEqual(re.sub(r"\$(\d)", lambda m: match.group(int(m.group(1))), rewrite["replacement"]), "10.1.2.3:8090")


if __name__ == "__main__":
    unittest.main()
