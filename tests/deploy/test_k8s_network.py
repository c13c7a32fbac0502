"""The rendered NetworkPolicies of every kustomization, judged by the connections they allow: who reaches
each service, where each pod may connect, per cloud (ingress controller, database)."""

from __future__ import annotations

import copy

import pytest
from k8s_support import KUSTOMIZATIONS, kubectl, render
from network_policy import Endpoint, allowed, external, pod

pytestmark = pytest.mark.skipif(kubectl() is None, reason="kubectl (with built-in kustomize) is not installed")

SERVICES = {"auth-service": 8000, "transaction-service": 8001, "fraud-detection-service": 8002}
PUBLIC = ["auth-service", "transaction-service"]
# Where each ingress controller's requests come from.
INGRESS_CONTROLLERS = {
    # community ingress-nginx, in its own namespace
    "k8s": [Endpoint("ingress-nginx", {"app.kubernetes.io/name": "ingress-nginx"})],
    # Google's load balancer: front ends and health checks connect from Google's ranges
    "k8s-overlays/gke": [external("35.191.7.21"), external("130.211.2.9")],
    # AKS application routing add-on: managed NGINX in app-routing-system
    "k8s-overlays/aks": [Endpoint("app-routing-system", {"app": "nginx"})],
}
INGRESS_CONTROLLERS["k8s-overlays/gke-production"] = INGRESS_CONTROLLERS["k8s-overlays/gke"]
INGRESS_CONTROLLERS["k8s-overlays/aks-production"] = INGRESS_CONTROLLERS["k8s-overlays/aks"]
DNS = Endpoint("kube-system", {"k8s-app": "kube-dns"})
OUTSIDERS = [
    pod("debug-shell"),  # any other pod of the namespace
    Endpoint("default", {"app.kubernetes.io/name": "transaction-service"}),  # a look-alike elsewhere
    Endpoint("ingress-nginx-lookalike", {"app.kubernetes.io/name": "ingress-nginx"}),
    external("203.0.113.9"),  # the Internet
]


def policies(kustomization: str) -> list[dict]:
    return [r for r in render(kustomization) if r["kind"] == "NetworkPolicy"]


def database(kustomization: str) -> Endpoint:
    # In-cluster PostgreSQL, or the managed server's private address in the production overlays.
    return external("10.20.0.5") if kustomization.endswith("-production") else pod("postgres")


@pytest.mark.parametrize("kustomization", KUSTOMIZATIONS)
def test_public_services_admit_the_ingress_controller_and_nobody_else(kustomization):
    rules = policies(kustomization)
    for controller in INGRESS_CONTROLLERS[kustomization]:
        for name in PUBLIC:
            assert allowed(rules, controller, pod(name), SERVICES[name]), f"{controller} -> {name}"
        assert not allowed(rules, controller, pod("fraud-detection-service"), 8002)
        assert not allowed(rules, controller, pod("postgres"), 5432)
    for outsider in OUTSIDERS:
        for name, port in SERVICES.items():
            assert not allowed(rules, outsider, pod(name), port), f"{outsider} -> {name}"


@pytest.mark.parametrize("kustomization", KUSTOMIZATIONS)
def test_services_reach_only_the_services_they_call(kustomization):
    rules = policies(kustomization)
    calls = {("transaction-service", "auth-service"), ("transaction-service", "fraud-detection-service")}
    for source in SERVICES:
        for destination, port in SERVICES.items():
            if source != destination:
                expected = (source, destination) in calls
                assert allowed(rules, pod(source), pod(destination), port) is expected, f"{source} -> {destination}"


@pytest.mark.parametrize("kustomization", KUSTOMIZATIONS)
def test_every_pod_resolves_names_and_the_services_reach_their_database_but_nothing_else(kustomization):
    rules = policies(kustomization)
    db = database(kustomization)
    pods = list(SERVICES) + ([] if kustomization.endswith("-production") else ["postgres"])
    for name in pods:
        for protocol in ("UDP", "TCP"):
            assert allowed(rules, pod(name), DNS, 53, protocol), f"{name} cannot resolve names"
        assert not allowed(rules, pod(name), external("8.8.8.8"), 53, "UDP"), "DNS goes through the cluster"
        assert not allowed(rules, pod(name), external("203.0.113.9"), 443), f"{name} reaches the Internet"
        assert not allowed(rules, pod(name), Endpoint("default", {"app": "anything"}), 8080)
    for name in SERVICES:
        assert allowed(rules, pod(name), db, 5432), f"{name} cannot reach its database"
        assert not allowed(rules, pod(name), external("203.0.113.9"), 5432)
    if not kustomization.endswith("-production"):
        assert not allowed(rules, pod("debug-shell"), db, 5432)
        assert not allowed(rules, pod("postgres"), external("203.0.113.9"), 443)


def test_a_policy_without_sources_would_be_caught():
    # The finding these tests guard against: an ingress rule with no `from` admits every pod.
    rules = copy.deepcopy(policies("k8s"))
    public = next(r for r in rules if r["metadata"]["name"] == "allow-ingress-controller-to-public-services")
    del public["spec"]["ingress"][0]["from"]
    assert allowed(rules, Endpoint("default", {"app": "anything"}), pod("auth-service"), 8000)
