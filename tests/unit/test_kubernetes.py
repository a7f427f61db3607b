"""The Kubernetes manifests (deploy/k8s) are valid and name only real settings and commands.

No cluster and no kustomize here: each manifest is validated against the schemas that
kubernetes-validate bundles (offline), and each overlay patch is merged into the base
resource it targets (as kustomize's strategic merge does for these fields) and validated.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest

from tests.manifests import (
    PROJECT_ROOT,
    SETTING_NAMES,
    app_command,
    cli_options,
    env_names,
    load_yaml,
    load_yaml_documents,
)

K8S = PROJECT_ROOT / "deploy" / "k8s"
BASE = K8S / "base"
OVERLAYS = [K8S / "overlays" / "dev", K8S / "overlays" / "prod"]

Resource = dict[str, Any]


def version_key(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version.split("."))


# The oldest Kubernetes the manifests need (preStop `sleep`), and the newest known here.
KUBERNETES_VERSIONS = ("1.30", max(kubernetes_validate.utils.all_versions(), key=version_key))


def key(resource: Resource) -> tuple[str, str]:
    return resource["kind"], resource["metadata"]["name"]


def merged(base: Any, patch: Any) -> Any:
    """Strategic merge as kustomize applies it to these files: maps merge, lists of named
    items merge by name, anything else is replaced."""
    if isinstance(base, dict) and isinstance(patch, dict):
        return {**base, **{name: merged(base.get(name), value) for name, value in patch.items()}}
    if isinstance(base, list) and isinstance(patch, list) and all("name" in i for i in patch):
        by_name = {item["name"]: item for item in base}
        patched = {item["name"]: merged(by_name.get(item["name"]), item) for item in patch}
        return [patched.get(item["name"], item) for item in base]
    return patch


def base_resources() -> dict[tuple[str, str], Resource]:
    listed = load_yaml(BASE / "kustomization.yaml")["resources"]
    return {key(doc): doc for name in listed for doc in load_yaml_documents(BASE / name)}


def rendered(overlay: Path) -> dict[tuple[str, str], Resource]:
    resources = base_resources()
    for patch in load_yaml(overlay / "kustomization.yaml")["patches"]:
        for doc in load_yaml_documents(overlay / patch["path"]):
            assert key(doc) in resources, f"{overlay.name}/{patch['path']} patches nothing"
            resources[key(doc)] = merged(resources[key(doc)], doc)
    return resources


def pod_specs(resources: dict[tuple[str, str], Resource]) -> Iterator[Resource]:
    for resource in resources.values():
        if resource["kind"] in {"Deployment", "Job"}:
            yield resource["spec"]["template"]["spec"]


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


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
@pytest.mark.parametrize("variant", [BASE, *OVERLAYS], ids=lambda path: path.name)
def test_every_resource_is_valid_kubernetes(variant: Path, version: str) -> None:
    resources = base_resources() if variant == BASE else rendered(variant)
    for resource in resources.values():
        kubernetes_validate.validate(resource, version, strict=True)


def test_manifests_name_only_real_settings_commands_and_probes() -> None:
    commands = cli_options()
    secret_keys = [
        line.split("=", 1)[0]
        for line in (BASE / "secrets.example.env").read_text().splitlines()
        if line and not line.startswith("#")
    ]
    assert set(secret_keys) <= SETTING_NAMES
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
    resources = base_resources()
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
