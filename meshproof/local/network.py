"""The pod network of the reference mesh: one bridge in a node namespace, one namespace per pod.

Nothing is added to the host's own network namespace: pods talk over the
bridge inside ``mp-<run>``, which only this run can reach.  Service virtual
IPs (:data:`SERVICE_CIDR`) are routed from every pod to the node, where
kube-proxy's DNAT rules (meshproof.local.services) translate them; as on a
kubenet node, bridged replies pass the node's iptables (``br_netfilter``) so
that conntrack turns the pod's source back into the virtual IP.
"""
from __future__ import annotations

import ipaddress
import itertools

from . import host

POD_CIDR = ipaddress.ip_network("10.244.0.0/16")
#: Service ClusterIPs, apart from pod IPs as a cluster's --service-cluster-ip-range is
SERVICE_CIDR = ipaddress.ip_network("10.96.0.0/16")
BRIDGE = "br0"
#: the node's own address on the bridge (pods get the ones after it): where the kubelet probes from
NODE_ADDRESS = next(POD_CIDR.hosts())


class PodNetwork:
    def __init__(self, run_id: str) -> None:
        self.node = f"{host.PREFIX}{run_id}"
        self._addresses = itertools.islice(POD_CIDR.hosts(), 1, None)
        self._counter = itertools.count(1)
        self.namespaces: list[str] = []

    def create(self) -> None:
        self.namespaces.append(self.node)  # recorded first: an interruption mid-call must not leak it
        host.ip_batch([f"netns add {self.node}", f"link add {BRIDGE} netns {self.node} type bridge"])
        host.run(["ip", "-n", self.node, "-batch", "-"],
                 input=f"addr add {NODE_ADDRESS}/{POD_CIDR.prefixlen} dev {BRIDGE}\nlink set {BRIDGE} up\n"
                       # a ClusterIP without a DNAT rule (no endpoints) is the node's: refused, as kube-proxy's REJECT does
                       f"link set lo up\nroute add local {SERVICE_CIDR} dev lo\n")
        # the node forwards DNATed Service traffic, and bridged replies pass its conntrack (per-namespace sysctls)
        host.run(["ip", "netns", "exec", self.node, "sysctl", "-q", "-w", "net.ipv4.ip_forward=1",
                  "net.bridge.bridge-nf-call-iptables=1"])

    def add_pod(self) -> tuple[str, str]:
        """A new pod namespace wired to the bridge; returns (netns name, IP)."""
        number = next(self._counter)
        netns = f"{self.node}-{number}"
        address = str(next(self._addresses))
        self.namespaces.append(netns)  # recorded first: an interruption mid-call must not leak it
        host.ip_batch([f"netns add {netns}", f"link add v{number} netns {self.node} type veth peer name eth0 netns {netns}"])
        host.run(["ip", "-n", self.node, "-batch", "-"], input=f"link set v{number} master {BRIDGE} up\n")
        host.run(
            ["ip", "-n", netns, "-batch", "-"],
            input=f"addr add {address}/{POD_CIDR.prefixlen} dev eth0\nlink set eth0 up\nlink set lo up\n"
                  f"route add {SERVICE_CIDR} via {NODE_ADDRESS}\n",
        )
        host.write_etc(netns, "resolv.conf", "nameserver 127.0.0.1\noptions timeout:1 attempts:1\n")
        return netns, address

    def remove_pod(self, netns: str) -> None:
        host.delete_netns(netns)
        if netns in self.namespaces:
            self.namespaces.remove(netns)

    def destroy(self) -> None:
        for netns in reversed(self.namespaces):
            host.delete_netns(netns)
        self.namespaces.clear()
