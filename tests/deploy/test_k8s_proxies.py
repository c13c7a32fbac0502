"""The auth service's NUM_PROXIES in each rendered kustomization matches what that cloud's ingress puts in
X-Forwarded-For, so its throttles count the client and not the load balancer. Judged by Django REST
framework's own client-address rule (the one the auth service's throttles use) on the header each ingress
sends."""

from __future__ import annotations

import pytest
from django.conf import settings
from k8s_support import KUSTOMIZATIONS, kubectl, render

if not settings.configured:
    settings.configure()

from django.test import RequestFactory, override_settings  # noqa: E402
from rest_framework.throttling import BaseThrottle  # noqa: E402

pytestmark = pytest.mark.skipif(kubectl() is None, reason="kubectl (with built-in kustomize) is not installed")

CLIENT, FORGED = "198.51.100.23", "10.9.9.9"


def nginx(client_header: str | None) -> tuple[str, str]:
    """(X-Forwarded-For, peer address) an ingress-nginx controller sends upstream: it replaces the header
    with the address it received the connection from (the client, its Service keeping client addresses)."""
    return CLIENT, "10.244.1.7"


def google_load_balancer(client_header: str | None) -> tuple[str, str]:
    """Google's external Application Load Balancer appends `<client>, <load balancer>` to what it got."""
    prefix = f"{client_header}, " if client_header else ""
    return f"{prefix}{CLIENT}, 34.120.0.10", "35.191.3.4"


def ingress_kind(resources: list[dict]) -> str:
    (ingress,) = [r for r in resources if r["kind"] == "Ingress"]
    if ingress["metadata"].get("annotations", {}).get("kubernetes.io/ingress.class") == "gce":
        return "gce"
    assert ingress["spec"]["ingressClassName"] in ("nginx", "webapprouting.kubernetes.azure.com")
    return "nginx"


def client_seen(num_proxies: int, forwarded_for: str, peer: str) -> str:
    with override_settings(REST_FRAMEWORK={"NUM_PROXIES": num_proxies}):
        request = RequestFactory().get("/api/auth/login/", HTTP_X_FORWARDED_FOR=forwarded_for, REMOTE_ADDR=peer)
        return BaseThrottle().get_ident(request)


@pytest.mark.parametrize("kustomization", KUSTOMIZATIONS)
def test_the_auth_service_counts_the_client_behind_each_ingress_even_with_a_forged_header(kustomization):
    resources = render(kustomization)
    (config,) = [r for r in resources if r["kind"] == "ConfigMap" and r["metadata"]["name"] == "detec-fraude-config"]
    num_proxies = int(config["data"]["NUM_PROXIES"])
    send = {"nginx": nginx, "gce": google_load_balancer}[ingress_kind(resources)]
    for client_header in (None, FORGED, f"{FORGED}, 10.8.8.8"):
        assert client_seen(num_proxies, *send(client_header)) == CLIENT, (kustomization, client_header)


def test_one_proxy_too_few_behind_google_would_count_the_load_balancer():
    # The finding: NUM_PROXIES=1 on GKE made every client the same address.
    assert client_seen(1, *google_load_balancer(None)) == "34.120.0.10"
    assert client_seen(3, *google_load_balancer(None)) == CLIENT  # too many: forgeable
    assert client_seen(3, *google_load_balancer(FORGED)) == FORGED
