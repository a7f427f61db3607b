"""The Kubernetes manifests (deploy/k8s) are valid and name only real settings and commands.

No cluster here: each variant is rendered by kustomize as `kubectl apply -k` renders it
(`kubectl kustomize`), and every resource is validated against the schemas that
kubernetes-validate bundles (offline). The Prometheus Operator's ServiceMonitor is not a
built-in kind: its fields are checked against the resources it must find.
"""

from __future__ import annotations

import importlib.util
import ipaddress
import os
import re
import shutil
import subprocess
from collections.abc import Callable, Iterator
from functools import cache
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from tests.manifests import (
    PROJECT_ROOT,
    SETTING_NAMES,
    app_command,
    cli_options,
    env_names,
    load_yaml,
)

K8S = PROJECT_ROOT / "deploy" / "k8s"
BASE = K8S / "base"
OVERLAYS = [K8S / "overlays" / "dev", K8S / "overlays" / "prod"]
COMPONENTS = [
    K8S / "components" / "prometheus-operator",
    K8S / "components" / "in-cluster-datastores",
]
KUBECTL = shutil.which("kubectl")
APP_POD = {"app.kubernetes.io/name": "fastapi-modulith"}
MIGRATE = "app.kubernetes.io/component=migrate"  # the selector `make deploy` waits on

Resource = dict[str, Any]
Resources = dict[tuple[str, str], Resource]


def version_key(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version.split("."))


# The oldest Kubernetes the manifests need (preStop `sleep`), and the newest known here.
KUBERNETES_VERSIONS = ("1.30", max(kubernetes_validate.utils.all_versions(), key=version_key))


def key(resource: Resource) -> tuple[str, str]:
    return resource["kind"], resource["metadata"]["name"]


@cache
def rendered(directory: Path) -> Resources:
    """What `kubectl apply -k directory` would send to the cluster."""
    if KUBECTL is None:
        pytest.skip("kubectl is not installed: its kustomize renders the manifests")
    output = subprocess.run(
        [KUBECTL, "kustomize", str(directory)], capture_output=True, text=True, check=True
    ).stdout
    return {key(doc): doc for doc in yaml.safe_load_all(output) if doc}


@pytest.fixture(scope="module")
def k8s_copy(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str, str], Path]:
    """A copy of deploy/k8s whose prod overlay gets `extra` appended to its
    kustomization.yaml (and `tag` as its image tag): the overlay directory."""

    def copy(name: str, extra: str, tag: str = "0.1.0") -> Path:
        root = tmp_path_factory.mktemp(name) / "k8s"
        shutil.copytree(K8S, root)
        kustomization = root / "overlays" / "prod" / "kustomization.yaml"
        text = kustomization.read_text().replace('newTag: "0.1.0"', f'newTag: "{tag}"')
        kustomization.write_text(text + extra)
        return kustomization.parent

    return copy


@pytest.fixture(scope="module")
def with_components(k8s_copy: Callable[[str, str], Path]) -> Path:
    """The prod overlay with every optional component, as the docs tell how to add them."""
    listed = "".join(f"  - ../../components/{path.name}\n" for path in COMPONENTS)
    return k8s_copy("components", f"components:\n{listed}")


def pod_templates(resources: Resources) -> Iterator[Resource]:
    for resource in resources.values():
        if resource["kind"] in {"Deployment", "Job"}:
            yield resource["spec"]["template"]


def pod_specs(resources: Resources) -> Iterator[Resource]:
    for template in pod_templates(resources):
        yield template["spec"]


def selects(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return selector.items() <= labels.items()


def of_kind(resources: Resources, kind: str) -> list[Resource]:
    return [resource for (found, _), resource in resources.items() if found == kind]


def secret_keys() -> set[str]:
    """The keys of the Secret the operator creates (base/secrets.example.env)."""
    lines = (BASE / "secrets.example.env").read_text().splitlines()
    return {line.split("=", 1)[0] for line in lines if line and not line.startswith("#")}


def test_kustomizations_list_every_manifest_and_only_files_that_exist() -> None:
    listed = load_yaml(BASE / "kustomization.yaml")["resources"]
    assert set(listed) == {path.name for path in BASE.glob("*.yaml")} - {"kustomization.yaml"}
    for overlay in OVERLAYS:
        kustomization = load_yaml(overlay / "kustomization.yaml")
        references = kustomization["resources"] + [p["path"] for p in kustomization["patches"]]
        for reference in references:
            assert (overlay / reference).exists(), f"{overlay.name}: {reference}"
        assert {path.name for path in overlay.glob("*.yaml")} == {
            "kustomization.yaml",
            *(p["path"] for p in kustomization["patches"]),
        }
    for component in COMPONENTS:
        kustomization = load_yaml(component / "kustomization.yaml")
        assert kustomization["kind"] == "Component"
        files = kustomization["resources"] + [p["path"] for p in kustomization.get("patches", [])]
        assert {path.name for path in component.glob("*.yaml")} == {"kustomization.yaml", *files}


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
@pytest.mark.parametrize(
    "variant", [BASE, *OVERLAYS, None], ids=lambda p: getattr(p, "name", "all")
)
def test_every_resource_is_valid_kubernetes(
    variant: Path | None, version: str, with_components: Path
) -> None:
    """`None`: the prod overlay with every component (whose ServiceMonitors are the
    Prometheus Operator's kind, checked by test_prometheus_operator_scrapes_...)."""
    for resource in rendered(variant or with_components).values():
        if resource["kind"] != "ServiceMonitor":
            kubernetes_validate.validate(resource, version, strict=True)


def test_manifests_name_only_real_settings_commands_and_probes() -> None:
    commands = cli_options()
    assert secret_keys() <= SETTING_NAMES
    for variant in OVERLAYS:
        resources = rendered(variant)
        assert set(resources["ConfigMap", "fastapi-modulith-config"]["data"]) <= SETTING_NAMES
        for spec in pod_specs(resources):
            for container in spec["containers"]:
                assert set(env_names(container.get("env"))) <= SETTING_NAMES
                assert app_command(container["command"])[0] in commands
                probe = container.get("livenessProbe", {}).get("exec", {}).get("command")
                if probe:
                    assert importlib.util.find_spec(probe[2]) is not None, probe


def test_one_scheduler_non_root_pods_with_limits_and_no_metrics_outside() -> None:
    for variant in OVERLAYS:
        resources = rendered(variant)
        scheduler = resources["Deployment", "fastapi-modulith-scheduler"]["spec"]
        assert scheduler["replicas"] == 1
        assert scheduler["strategy"] == {"type": "Recreate"}
        for spec in pod_specs(resources):
            assert spec["securityContext"]["runAsNonRoot"] is True
            for container in spec["containers"]:
                assert container["securityContext"]["readOnlyRootFilesystem"] is True
                assert {"requests", "limits"} <= container["resources"].keys()
        for rule in resources["Ingress", "fastapi-modulith"]["spec"]["rules"]:
            for path in rule["http"]["paths"]:
                assert path["pathType"] in {"Exact", "Prefix"}
                for internal in ("/metrics", "/health/ready"):
                    assert not (path["pathType"] == "Prefix" and internal.startswith(path["path"]))
                    assert path["path"] != internal


def test_only_the_ingress_and_monitoring_reach_the_pods_spread_over_nodes() -> None:
    resources = rendered(BASE)
    policies = {
        name: spec["spec"] for (kind, name), spec in resources.items() if kind == "NetworkPolicy"
    }
    deny = policies["fastapi-modulith-default-deny-ingress"]
    assert deny["policyTypes"] == ["Ingress"]
    assert "ingress" not in deny  # nothing allowed but what the other policies add
    assert deny["podSelector"]["matchLabels"] == {"app.kubernetes.io/name": "fastapi-modulith"}
    [api_rule] = policies["fastapi-modulith-api"]["ingress"]
    [worker_rule] = policies["fastapi-modulith-worker-metrics"]["ingress"]
    namespaces = [peer["namespaceSelector"]["matchLabels"] for peer in api_rule["from"]]
    assert {"kubernetes.io/metadata.name": "monitoring"} in namespaces
    assert [port["port"] for port in api_rule["ports"]] == ["http"]
    assert [peer["namespaceSelector"]["matchLabels"] for peer in worker_rule["from"]] == [
        {"kubernetes.io/metadata.name": "monitoring"}
    ]
    assert [port["port"] for port in worker_rule["ports"]] == ["metrics"]
    for component in ("api", "worker"):
        template = resources["Deployment", f"fastapi-modulith-{component}"]["spec"]["template"]
        spread = template["spec"]["topologySpreadConstraints"]
        keys = {constraint["topologyKey"] for constraint in spread}
        assert keys == {"topology.kubernetes.io/zone", "kubernetes.io/hostname"}
        assert template["metadata"]["annotations"]["prometheus.io/scrape"] == "true"


def migrate_job(resources: Resources) -> Resource:
    [job] = of_kind(resources, "Job")
    return job


def test_each_release_has_its_own_migrate_job_deleted_after_it_finished(
    k8s_copy: Callable[..., Path],
) -> None:
    """A Job's pod template is immutable: a new image under the old name would make
    `kubectl apply` fail until someone deleted the Job by hand."""
    for overlay in OVERLAYS:
        resources = rendered(overlay)
        job = migrate_job(resources)
        [image] = {c["image"] for spec in pod_specs(resources) for c in spec["containers"]}
        assert job["metadata"]["name"] == f"fastapi-modulith-migrate-{image.split(':')[1]}"
        # A DNS subdomain, and short enough for the job-name label of its pods.
        assert re.fullmatch(r"[a-z0-9]([-a-z0-9.]*[a-z0-9])?", job["metadata"]["name"])
        assert len(job["metadata"]["name"]) <= 63
        assert 0 < job["spec"]["ttlSecondsAfterFinished"] <= 7 * 24 * 3600
        api = resources["Deployment", "fastapi-modulith-api"]["spec"]["template"]["spec"]
        [container] = api["containers"]
        assert "--no-migrate" in container["command"]  # it waits for the Job: not ready
        assert container["readinessProbe"]["httpGet"]["path"] == "/health/ready"
    next_release = migrate_job(rendered(k8s_copy("next-release", "", tag="0.2.0")))
    assert next_release["metadata"]["name"] == "fastapi-modulith-migrate-0.2.0"
    assert next_release["spec"]["template"]["spec"]["containers"][0]["image"].endswith(":0.2.0")


def make(*args: str, path: str | None = None) -> subprocess.CompletedProcess[str]:
    """`make ARGS` in the project, outside any make or uv this suite may run under."""
    env = {k: v for k, v in os.environ.items() if k not in {"MAKEFLAGS", "MAKELEVEL", "MFLAGS"}}
    if path is not None:
        env["PATH"] = path
    binary = shutil.which("make")
    assert binary is not None
    return subprocess.run(
        [binary, "--no-print-directory", *args],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )


@pytest.mark.parametrize("overlay", OVERLAYS, ids=lambda path: path.name)
def test_make_deploy_applies_then_waits_for_the_migration_then_the_rollouts(overlay: Path) -> None:
    args = ["-n", "deploy"] + ([] if overlay.name == "prod" else [f"OVERLAY={overlay.name}"])
    done = make(*args)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    directory = f"deploy/k8s/overlays/{overlay.name}"
    assert lines[1:3] == [
        f"kubectl apply -k {directory}",
        f"kubectl wait --for=condition=complete --timeout=10m -l {MIGRATE}"
        f" -f <(kubectl kustomize {directory})",
    ]
    # The label the wait filters the rendered overlay by picks out the migrate Job alone.
    resources = rendered(overlay)
    label, value = MIGRATE.split("=")
    waited = [r for r in resources.values() if r["metadata"].get("labels", {}).get(label) == value]
    assert waited == [migrate_job(resources)]
    namespace = migrate_job(resources)["metadata"]["namespace"]
    deployments = {r["metadata"]["name"] for r in of_kind(resources, "Deployment")}
    assert deployments == {f"fastapi-modulith-{name}" for name in ("api", "worker", "scheduler")}
    assert lines[3] == (
        "for name in api worker scheduler; do kubectl -n"
        f" {namespace} rollout status --timeout=10m deployment/fastapi-modulith-$name || exit; done"
    )


def test_make_deploy_without_kubectl_says_what_is_missing(tmp_path: Path) -> None:
    for tool in ("sed",):  # what the Makefile itself runs before the recipe
        found = shutil.which(tool)
        assert found is not None
        (tmp_path / tool).symlink_to(found)
    done = make("deploy", path=str(tmp_path))
    assert done.returncode != 0
    assert "make deploy needs kubectl on the PATH" in done.stderr
    assert "kubectl apply" not in done.stdout


def test_no_overlay_trusts_forwarded_headers_from_a_wide_range(with_components: Path) -> None:
    """Anything in FORWARDED_ALLOW_IPS can set the client address rate limits key on."""
    for variant in [BASE, *OVERLAYS, with_components]:
        for configmap in of_kind(rendered(variant), "ConfigMap"):
            trusted = configmap["data"].get("FORWARDED_ALLOW_IPS", "")
            for entry in filter(None, (part.strip() for part in trusted.split(","))):
                assert entry != "*", variant
                network = ipaddress.ip_network(entry, strict=True)
                assert network.prefixlen >= (16 if network.version == 4 else 48), (variant, entry)


ALLOWED_EGRESS = {"UDP": {53}, "TCP": {53, 5432, 6379, 587, 465, 25, 4318}}
SMTP_PORTS = {587, 465, 25}


def egress_rules(resources: Resources, pod_labels: dict[str, str]) -> list[Resource]:
    """The egress rules of the policies selecting a pod; none (all allowed) if no
    egress policy selects it."""
    return [
        rule
        for policy in of_kind(resources, "NetworkPolicy")
        if "Egress" in policy["spec"]["policyTypes"]
        and selects(policy["spec"]["podSelector"]["matchLabels"], pod_labels)
        for rule in policy["spec"].get("egress", [])
    ]


def test_every_pod_may_reach_only_dns_the_datastores_mail_and_telemetry(
    with_components: Path,
) -> None:
    for variant in [*OVERLAYS, with_components]:
        resources = rendered(variant)
        for template in pod_templates(resources):
            labels = template["metadata"]["labels"]
            rules = egress_rules(resources, labels)
            assert rules, f"no egress policy selects {labels}: it may connect anywhere"
            for rule in rules:
                assert rule.get("to"), rule  # no rule without peers (all of them) ...
                assert rule.get("ports"), rule  # ... or without ports (every one)
                ports = {(port["protocol"], port["port"]) for port in rule["ports"]}
                assert all(number in ALLOWED_EGRESS[proto] for proto, number in ports), rule
                if any(peer.get("ipBlock", {}).get("cidr") == "0.0.0.0/0" for peer in rule["to"]):
                    assert {number for _, number in ports} <= SMTP_PORTS, rule
            reached = {port["port"] for rule in rules for port in rule["ports"]}
            assert {53, 5432, 6379, 587} <= reached


def test_in_cluster_datastores_admit_only_the_kit_on_their_port(with_components: Path) -> None:
    resources = rendered(with_components)
    for name, port in (("postgresql", 5432), ("redis", 6379)):
        policy = resources["NetworkPolicy", f"{name}-from-fastapi-modulith"]["spec"]
        datastore = {"app.kubernetes.io/name": name}
        assert policy["podSelector"]["matchLabels"] == datastore
        assert policy["policyTypes"] == ["Ingress"]
        [rule] = policy["ingress"]
        assert rule["from"] == [{"podSelector": {"matchLabels": APP_POD}}]
        assert rule["ports"] == [{"protocol": "TCP", "port": port}]
        # ... and the kit's pods reach those pods (not the address placeholders) there.
        [egress] = [
            rule
            for rule in egress_rules(resources, APP_POD)
            if rule["ports"] == [{"protocol": "TCP", "port": port}]
        ]
        assert egress["to"] == [{"podSelector": {"matchLabels": datastore}}]


def test_prometheus_operator_scrapes_the_api_with_its_token_and_the_workers(
    with_components: Path,
) -> None:
    for overlay in OVERLAYS:  # clusters without the operator's CRDs apply the overlays
        assert not any(
            r["apiVersion"].startswith("monitoring.coreos.com/") for r in rendered(overlay).values()
        )
    resources = rendered(with_components)
    monitors = {r["metadata"]["name"]: r for r in of_kind(resources, "ServiceMonitor")}
    assert set(monitors) == {"fastapi-modulith-api", "fastapi-modulith-worker"}
    for name, monitor in monitors.items():
        assert monitor["apiVersion"] == "monitoring.coreos.com/v1"
        assert monitor["metadata"]["namespace"] == "modulith"
        [service] = [
            s
            for s in of_kind(resources, "Service")
            if selects(monitor["spec"]["selector"]["matchLabels"], s["metadata"]["labels"])
        ]
        deployment = resources["Deployment", name]["spec"]["template"]
        assert selects(service["spec"]["selector"], deployment["metadata"]["labels"])
        container_ports = {p["name"] for c in deployment["spec"]["containers"] for p in c["ports"]}
        target_ports = {p["name"]: p["targetPort"] for p in service["spec"]["ports"]}
        [endpoint] = monitor["spec"]["endpoints"]
        assert endpoint["path"] == "/metrics"
        assert target_ports[endpoint["port"]] in container_ports
        port = deployment["metadata"]["annotations"]["prometheus.io/port"]  # still there
        assert {
            str(p["containerPort"]) for c in deployment["spec"]["containers"] for p in c["ports"]
        } == {port}
    # In production the API answers /metrics only to METRICS_TOKEN, read from the app's Secret.
    assert resources["ConfigMap", "fastapi-modulith-config"]["data"]["ENVIRONMENT"] == "production"
    [endpoint] = monitors["fastapi-modulith-api"]["spec"]["endpoints"]
    api = resources["Deployment", "fastapi-modulith-api"]["spec"]["template"]["spec"]
    secret_names = [
        s["secretRef"]["name"] for s in api["containers"][0]["envFrom"] if "secretRef" in s
    ]
    assert endpoint["authorization"] == {
        "type": "Bearer",
        "credentials": {"name": secret_names[0], "key": "METRICS_TOKEN"},
    }
    assert "METRICS_TOKEN" in secret_keys()
