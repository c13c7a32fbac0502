"""Operational and security policy of the Kubernetes manifests: what a reviewer would check by hand."""

from __future__ import annotations

import re

import pytest
from k8s_support import (
    FASTAPI_SERVICES,
    K8S,
    KUSTOMIZATIONS,
    OVERLAYS,
    SERVICES,
    base_resources,
    containers,
    kubectl,
    load_documents,
    of_kind,
    pod_specs,
    render,
    selects,
)

RESOURCES = base_resources()
DEPLOYMENTS = of_kind(RESOURCES, "Deployment")
SECRET_NAME = re.compile(r"(SECRET_KEY|_TOKEN|PASSWORD|PRIVATE_KEY|DATABASE_URL)$")


def main_container(name: str) -> dict:
    return DEPLOYMENTS[name]["spec"]["template"]["spec"]["containers"][0]


def test_each_application_service_has_a_deployment_and_a_service_on_its_port():
    services = of_kind(RESOURCES, "Service")
    for name, (port, _, _) in SERVICES.items():
        assert name in DEPLOYMENTS
        assert services[name]["spec"]["ports"][0]["port"] == port
        assert selects({"matchLabels": services[name]["spec"]["selector"]},
                       DEPLOYMENTS[name]["spec"]["template"]["metadata"]["labels"])
        assert main_container(name)["ports"][0]["containerPort"] == port


@pytest.mark.parametrize("name", SERVICES)
def test_probes_use_the_health_endpoints_and_readiness_differs_from_liveness(name):
    _, liveness_path, readiness_path = SERVICES[name]
    container = main_container(name)
    assert container["livenessProbe"]["httpGet"]["path"] == liveness_path
    assert container["readinessProbe"]["httpGet"]["path"] == readiness_path
    assert container["livenessProbe"] != container["readinessProbe"]
    port_names = {port["name"] for port in container["ports"]}
    for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
        assert container[probe]["httpGet"]["port"] in port_names


@pytest.mark.parametrize("name", list(SERVICES) + ["postgres"])
def test_pods_run_non_root_without_privileges_on_a_read_only_root(name):
    pod = dict(pod_specs(RESOURCES))[name]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] > 0
    assert pod["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault"
    assert pod["automountServiceAccountToken"] is False
    for container in containers(pod):
        context = container["securityContext"]
        assert context["allowPrivilegeEscalation"] is False, container["name"]
        assert context["readOnlyRootFilesystem"] is True, container["name"]
        assert context["capabilities"]["drop"] == ["ALL"], container["name"]
        assert "add" not in context["capabilities"]
        assert not context.get("privileged", False)


@pytest.mark.parametrize("name", list(SERVICES) + ["postgres"])
def test_every_container_has_requests_within_limits(name):
    units = {"Mi": 2**20, "Gi": 2**30}

    def cpu(value: str) -> float:
        return float(value[:-1]) / 1000 if value.endswith("m") else float(value)

    def memory(value: str) -> int:
        return int(value[:-2]) * units[value[-2:]]

    for container in containers(dict(pod_specs(RESOURCES))[name]):
        requests, limits = container["resources"]["requests"], container["resources"]["limits"]
        assert cpu(requests["cpu"]) <= cpu(limits["cpu"])
        assert memory(requests["memory"]) <= memory(limits["memory"])


def test_deployments_roll_out_without_losing_capacity():
    for name, deployment in DEPLOYMENTS.items():
        strategy = deployment["spec"]["strategy"]
        assert strategy["type"] == "RollingUpdate", name
        assert strategy["rollingUpdate"]["maxUnavailable"] == 0, name


def test_images_are_pinned_to_a_tag_other_than_latest():
    for kustomization in KUSTOMIZATIONS if kubectl() else []:
        for _, pod in pod_specs(render(kustomization)):
            for container in containers(pod):
                assert re.search(r":[\w.-]+$", container["image"]), container["image"]
                assert not container["image"].endswith(":latest"), container["image"]
    for _, pod in pod_specs(RESOURCES):
        for container in containers(pod):
            image = container["image"]
            assert ":" in image.rsplit("/", 1)[-1] and not image.endswith(":latest"), image


def test_no_secret_value_is_written_in_the_applied_manifests():
    assert not of_kind(RESOURCES, "Secret"), "Secrets are created by kubectl, never applied from the repo"
    for config_map in of_kind(RESOURCES, "ConfigMap").values():
        assert not [key for key in config_map.get("data", {}) if SECRET_NAME.search(key)], config_map
    for name, pod in pod_specs(RESOURCES):
        for container in containers(pod):
            for variable in container.get("env", []):
                if SECRET_NAME.search(variable["name"]) and not variable["name"].endswith("_FILE"):
                    assert "secretKeyRef" in variable.get("valueFrom", {}), f"{name}: {variable['name']}"


def test_no_key_material_or_credentials_in_url_anywhere_under_k8s():
    for path in [*K8S.rglob("*"), *OVERLAYS.rglob("*")]:
        if path.is_file():
            text = path.read_text()
            assert "-----BEGIN" not in text, path
            # user:password@host in a URL: only the template's placeholder or a shell variable ($NAME).
            for credentials in re.findall(r"://[^/\s:@]+:([^@\s]+)@", text):
                assert credentials == "REPLACE_ME" or credentials.startswith("$"), path


def test_the_secret_template_holds_placeholders_for_every_secret_the_pods_read():
    template = {s["metadata"]["name"]: s["stringData"] for s in load_documents(K8S / "secrets.yaml")}
    assert all("REPLACE_ME" in value for data in template.values() for value in data.values())
    for name, pod in pod_specs(RESOURCES):
        for container in containers(pod):
            for source in container.get("envFrom", []):
                if "secretRef" in source:
                    assert source["secretRef"]["name"] in template, name
            for variable in container.get("env", []):
                ref = variable.get("valueFrom", {}).get("secretKeyRef")
                if ref:
                    assert ref["key"] in template[ref["name"]], f"{name}: {ref}"
        for volume in pod.get("volumes", []):
            if "secret" in volume:
                assert volume["secret"]["secretName"] in template, name


def test_the_ingress_exposes_auth_and_transactions_but_never_the_fraud_service():
    ingresses = [r for r in RESOURCES if r["kind"] == "Ingress"]
    if kubectl():
        ingresses += [r for k in KUSTOMIZATIONS for r in render(k) if r["kind"] == "Ingress"]
    for ingress in ingresses:
        backends = {path["backend"]["service"]["name"]
                    for rule in ingress["spec"]["rules"] for path in rule["http"]["paths"]}
        assert backends == {"auth-service", "transaction-service"}
        assert "defaultBackend" not in ingress["spec"]


@pytest.mark.parametrize("name", FASTAPI_SERVICES)
def test_fastapi_services_autoscale_and_keep_a_pod_through_disruptions(name):
    hpa = of_kind(RESOURCES, "HorizontalPodAutoscaler")[name]
    assert hpa["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": name}
    assert 2 <= hpa["spec"]["minReplicas"] < hpa["spec"]["maxReplicas"]
    # The HPA owns the replica count; a fixed one in the Deployment would be reset on every apply.
    assert "replicas" not in DEPLOYMENTS[name]["spec"]
    assert "cpu" in main_container(name)["resources"]["requests"], "CPU utilisation needs a CPU request"
    pdb = of_kind(RESOURCES, "PodDisruptionBudget")[name]
    assert pdb["spec"]["minAvailable"] >= 1
    assert pdb["spec"]["minAvailable"] < hpa["spec"]["minReplicas"], "a PDB equal to the minimum blocks drains"
    assert selects(pdb["spec"]["selector"], DEPLOYMENTS[name]["spec"]["template"]["metadata"]["labels"])


@pytest.mark.parametrize("name", SERVICES)
def test_migrations_run_in_an_init_container_with_the_service_image_and_settings(name):
    pod = DEPLOYMENTS[name]["spec"]["template"]["spec"]
    (migrate,) = pod["initContainers"]
    command = " ".join(migrate["command"])
    assert "manage.py migrate" in command or command.endswith("alembic upgrade head"), command
    assert migrate["image"] == pod["containers"][0]["image"]
    assert migrate["envFrom"] == pod["containers"][0]["envFrom"], "migrations must see the same DATABASE_URL"


def test_services_find_each_other_by_their_kubernetes_service_names():
    config = of_kind(RESOURCES, "ConfigMap")["detec-fraude-config"]["data"]
    services = of_kind(RESOURCES, "Service")
    assert config["AUTH_JWKS_URL"] == "http://auth-service:8000/api/auth/jwks/"
    assert config["FRAUD_SERVICE_URL"] == "http://fraud-detection-service:8002"
    assert {"auth-service", "fraud-detection-service"} <= set(services)
    assert config["ENVIRONMENT"] == "production"
    # The transaction service fetches the JWKS as http://auth-service:8000: Django must accept that host.
    assert "auth-service" in config["ALLOWED_HOSTS"].split(",")
