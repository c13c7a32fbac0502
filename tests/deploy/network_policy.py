"""Which connections a set of rendered NetworkPolicies lets through, decided as the Kubernetes API defines it.

A connection goes from a source to a destination port. Each end is an ``Endpoint``: a pod (namespace and
labels) or an address outside the cluster. It is allowed when the source's namespace lets it out (no
policy selects the source pod for Egress, or one of those that do has a matching egress rule) and the
destination's namespace lets it in (the same for Ingress). Only the fields these manifests use are
understood: pod and namespace selectors (matchLabels, In), ipBlock (cidr, except), numeric ports.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field

from k8s_support import selects

NAMESPACE = "detec-fraude"


@dataclass(frozen=True)
class Endpoint:
    namespace: str | None = None  # None: outside the cluster (then ``ip`` is its address)
    labels: dict = field(default_factory=dict)
    ip: str | None = None

    @property
    def namespace_labels(self) -> dict:
        return {"kubernetes.io/metadata.name": self.namespace}


def pod(name: str, namespace: str = NAMESPACE, **labels: str) -> Endpoint:
    return Endpoint(namespace=namespace, labels={"app.kubernetes.io/name": name, **labels})


def external(ip: str) -> Endpoint:
    return Endpoint(ip=ip)


def _peer_matches(peer: dict, other: Endpoint) -> bool:
    if "ipBlock" in peer:
        if other.ip is None:
            return False
        address = ipaddress.ip_address(other.ip)
        block = peer["ipBlock"]
        return address in ipaddress.ip_network(block["cidr"]) and not any(
            address in ipaddress.ip_network(cidr) for cidr in block.get("except", []))
    if other.namespace is None:
        return False
    if "namespaceSelector" in peer:
        if not selects(peer["namespaceSelector"], other.namespace_labels):
            return False
    elif other.namespace != NAMESPACE:  # a podSelector alone means pods of the policy's own namespace
        return False
    return selects(peer.get("podSelector", {}), other.labels)


def _port_matches(rule: dict, port: int, protocol: str) -> bool:
    ports = rule.get("ports")
    return not ports or any(p.get("port") == port and p.get("protocol", "TCP") == protocol for p in ports)


def _admitted(policies: list[dict], pod_end: Endpoint, other: Endpoint, port: int, protocol: str,
              direction: str) -> bool:
    """Whether the policies of pod_end's namespace let the connection through in ``direction``."""
    if pod_end.namespace != NAMESPACE:
        return True  # other namespaces carry no policy of ours
    kind, peers = ("Ingress", "from") if direction == "ingress" else ("Egress", "to")
    selecting = [p for p in policies if kind in p["spec"].get("policyTypes", ["Ingress"])
                 and selects(p["spec"]["podSelector"], pod_end.labels)]
    if not selecting:
        return True
    return any(
        _port_matches(rule, port, protocol)
        and (peers not in rule or any(_peer_matches(peer, other) for peer in rule[peers]))
        for policy in selecting for rule in policy["spec"].get(direction, [])
    )


def allowed(policies: list[dict], source: Endpoint, destination: Endpoint, port: int,
            protocol: str = "TCP") -> bool:
    return (_admitted(policies, source, destination, port, protocol, "egress")
            and _admitted(policies, destination, source, port, protocol, "ingress"))
