"""Every port of every workload: what policy says, what a plaintext client really got, and the verdict.

For each pod of the namespaces swept, the ports really listening in its network
namespace (:meth:`Cluster.listening_sockets`) are probed in plaintext at the pod
IP from a prober without a sidecar (:mod:`meshproof.port_probe`) and each port
gets one :class:`PortRow`: namespace, workload, port, protocol, the effective
PeerAuthentication mode (:mod:`meshproof.peerauthn`, from the policies stored in
the cluster), the observed outcome and the verdict:

- ``refused``: the port is captured by a sidecar under STRICT and plaintext was refused;
- ``plaintext accepted``: the policy says STRICT and plaintext got through: the failure this sweep looks for;
- ``exposure``: plaintext is allowed by an opt-out (pod without a sidecar, a port excluded from
  capture with ``traffic.sidecar.istio.io/excludeInboundPorts``, a DISABLE or PERMISSIVE mode),
  listed for the auditor, not a failure;
- ``exception``: the sidecar's own ports (meshproof.ports.SIDECAR_PORTS), sockets bound to
  loopback only, gateway proxies: not probed, with the reason;
- ``unreachable``: under STRICT the prober got no connection at all (refused or timed out):
  plaintext did not get through, though no sidecar was seen refusing it.

A plaintext acceptance under STRICT is confirmed by a second probe with a longer
window (``confirm_window``) before it counts: a slow sidecar's close is not
mistaken for a server holding the connection.
"""
from __future__ import annotations

import csv
import html
import io
from dataclasses import dataclass, field, fields
from typing import Any, Callable, Iterable, Mapping, Sequence

from .cluster import Cluster, Pod, labels_match
from .errors import InfrastructureError
from .outcome import ACCEPTED_KIND, REFUSED_KIND, RESET_KIND, TIMEOUT_KIND, Outcome
from .peerauthn import DISABLE, PERMISSIVE, STRICT, effective_mtls
from .policies import SECURITY_API
from .port_probe import probe_ports
from .ports import SIDECAR_PORTS, excluded_inbound_ports, reachable_ports
from .probe import ProbeResult

REFUSED_VERDICT = "refused"
ACCEPTED_VERDICT = "plaintext accepted"
EXPOSURE = "exposure"
EXCEPTION = "exception"
UNREACHABLE = "unreachable"
VERDICTS = (ACCEPTED_VERDICT, REFUSED_VERDICT, EXPOSURE, EXCEPTION, UNREACHABLE)

#: the mode column of a pod without a sidecar: no policy applies to it
NO_SIDECAR = "no sidecar"
NOT_PROBED = "not probed"
UNDECLARED = "undeclared"

#: pod labels of Istio's gateway deployments (a gateway's listeners serve clients outside the mesh)
GATEWAY_LABELS = ({"istio": "ingressgateway"}, {"istio": "egressgateway"}, {"gateway.istio.io/managed": "istio.io-gateway-controller"})


@dataclass(frozen=True)
class PortRow:
    """One port of one pod, as the auditor's table shows it (docs/report.md, "port_coverage")."""

    namespace: str
    workload: str
    pod: str
    port: int
    #: the protocol its Service port declares (``tcp``, ``http``, ...; by name prefix or appProtocol), or ``undeclared``
    protocol: str
    #: the effective PeerAuthentication mode of the port, or ``no sidecar``
    mode: str
    #: the classified outcome of the plaintext probe (meshproof.outcome), or ``not probed``
    observed: str
    verdict: str
    #: why an exposure or exception is one; what the prober saw otherwise
    reason: str
    #: where the evidence of this pod's probes is: an Allure attachment's name, and once the run keeps it,
    #: its file's path relative to the run's directory (``evidence/port-sweep/<namespace>_<pod>.txt``)
    evidence: str
    #: the classified outcome behind ``observed`` (None when not probed); not a column
    outcome: Outcome | None = field(default=None, compare=False, repr=False)

    def as_dict(self) -> dict[str, Any]:
        return {column: getattr(self, column) for column in COLUMNS}


COLUMNS = tuple(f.name for f in fields(PortRow) if f.name != "outcome")


@dataclass
class SweepResult:
    rows: list[PortRow]
    #: evidence name -> its text: the pod's listening sockets and every probe's command and output
    evidence: dict[str, str]

    @property
    def failures(self) -> list[PortRow]:
        return [row for row in self.rows if row.verdict == ACCEPTED_VERDICT]

    def of(self, namespace: str, workload: str) -> list[PortRow]:
        return [row for row in self.rows if row.namespace == namespace and row.workload == workload]


def _workload(pod: Pod) -> str:
    return pod.labels.get("app") or pod.labels.get("app.kubernetes.io/name") or pod.name


def _protocols(services: Iterable[Mapping[str, Any]], pod: Pod) -> dict[int, str]:
    """target port on ``pod`` -> protocol, from the Services of its namespace that select it (Istio's
    protocol selection: ``appProtocol``, else the port name's prefix before ``-``; istio.io "Protocol Selection")."""
    found: dict[int, str] = {}
    for service in services:
        selector = (service.get("spec") or {}).get("selector") or {}
        if not selector or not labels_match(pod.labels, selector):
            continue
        for port in (service.get("spec") or {}).get("ports") or []:
            target = port.get("targetPort", port.get("port"))
            if not isinstance(target, int) and not str(target).isdigit():
                continue  # a named targetPort: the pod's spec is not read here; the port stays "undeclared"
            protocol = port.get("appProtocol") or str(port.get("name") or "").split("-", 1)[0] or "tcp"
            found[int(target)] = protocol.lower()
    return found


def _is_gateway(pod: Pod) -> bool:
    return any(labels_match(pod.labels, selector) for selector in GATEWAY_LABELS)


@dataclass(frozen=True)
class _Plan:
    """What is known of a port before it is probed."""

    port: int
    mode: str
    #: EXCEPTION or EXPOSURE decided from the pod alone, with the reason; "" when policy decides
    verdict: str = ""
    reason: str = ""
    probe: bool = True


def plan_pod(pod: Pod, sockets: Sequence, policies: Sequence[Mapping[str, Any]], root_namespace: str) -> list[_Plan]:
    """Per listening port of ``pod``: its mode and whether it is an exception, an exposure, or judged by policy."""
    plans: list[_Plan] = []
    excluded = excluded_inbound_ports(pod.annotations)
    mtls = effective_mtls(policies, root_namespace=root_namespace, namespace=pod.namespace, labels=pod.labels)
    for port, reachable in sorted(reachable_ports(sockets).items()):
        mode = mtls.for_port(port) if pod.has_sidecar else NO_SIDECAR
        if not reachable:
            plans.append(_Plan(port, mode, EXCEPTION, "bound to loopback only: not reachable at the pod IP", False))
        elif _is_gateway(pod):
            plans.append(_Plan(port, mode, EXCEPTION, "gateway proxy: its listeners serve clients outside the mesh",
                               False))
        elif not pod.has_sidecar:
            plans.append(_Plan(port, NO_SIDECAR, EXPOSURE, "pod without a sidecar (not injected or opted out): "
                               "no PeerAuthentication applies"))
        elif port in SIDECAR_PORTS:
            plans.append(_Plan(port, mode, EXCEPTION, f"the sidecar's own port: {SIDECAR_PORTS[port]}", False))
        elif port in excluded:
            plans.append(_Plan(port, mode, EXPOSURE, "excluded from inbound capture "
                               "(traffic.sidecar.istio.io/excludeInboundPorts): the sidecar never sees it"))
        elif mode in (DISABLE, PERMISSIVE):
            plans.append(_Plan(port, mode, EXPOSURE, f"PeerAuthentication mode {mode} lets plaintext in"))
        else:
            plans.append(_Plan(port, mode))
    return plans


def _verdict(plan: _Plan, result: ProbeResult | None) -> tuple[str, str]:
    if plan.verdict:
        return plan.verdict, plan.reason
    assert result is not None
    kind = result.outcome.kind
    if kind == ACCEPTED_KIND:
        return ACCEPTED_VERDICT, f"the policy says {STRICT} and plaintext got through ({result.outcome.reason})"
    if kind == RESET_KIND:
        return REFUSED_VERDICT, "closed before any reply: the sidecar found no filter chain for plaintext"
    if kind in (REFUSED_KIND, TIMEOUT_KIND):
        return UNREACHABLE, f"no connection ({result.outcome}): plaintext did not get through, no sidecar seen"
    raise InfrastructureError(f"the plaintext probe of {result.description} failed: {result.output[:300]}")


Progress = Callable[[int, int, str], None]


def sweep(cluster: Cluster, prober: Pod, namespaces: Sequence[str], *, root_namespace: str, window: float,
          confirm_window: float, progress: Progress | None = None) -> SweepResult:
    """Probe every listening port of every pod of ``namespaces`` (the prober's own pod aside).

    ``window``: seconds per probe; ``confirm_window``: seconds of the second probe of a port that took
    plaintext under STRICT.  ``progress(done, total, pod)`` after each pod.  InfrastructureError when
    a pod's sockets cannot be read or the prober fails.
    """
    policies = cluster.objects(SECURITY_API, "PeerAuthentication")
    pods: list[tuple[Pod, list[Mapping[str, Any]]]] = []
    for namespace in namespaces:
        services = cluster.objects("v1", "Service", namespace)
        pods += [(pod, services) for pod in cluster.list_pods(namespace)
                 if (pod.namespace, pod.name) != (prober.namespace, prober.name)]
    rows: list[PortRow] = []
    evidence: dict[str, str] = {}
    for done, (pod, services) in enumerate(pods, 1):
        name = f"evidence {pod.namespace}/{pod.name}"
        if not pod.ip:
            rows.append(PortRow(pod.namespace, _workload(pod), pod.name, 0, "", "", NOT_PROBED, EXCEPTION,
                                "the pod has no IP yet (not running)", name))
            evidence[name] = "no pod IP"
            continue
        try:
            sockets = cluster.listening_sockets(pod)
        except Exception as error:  # noqa: BLE001 - the machinery could not read them: never a verdict
            raise InfrastructureError(f"cannot read the listening ports of {pod.namespace}/{pod.name}: {error}") from None
        plans = plan_pod(pod, sockets, policies, root_namespace)
        probed = probe_ports(cluster, prober, pod, [p.port for p in plans if p.probe], window=window)
        doubtful = [p.port for p in plans if not p.verdict and probed[p.port].outcome.kind == ACCEPTED_KIND]
        confirmed = probe_ports(cluster, prober, pod, doubtful, window=confirm_window)
        protocols = _protocols(services, pod)
        text = [f"listening sockets of {pod.namespace}/{pod.name} ({pod.ip}):",
                *(f"  {s.address}:{s.port}" for s in sockets)]
        if not sockets:
            text.append("  none: swept, and no TCP socket listens in this pod (so it has no row in the table)")
        for plan in plans:
            result = confirmed.get(plan.port) or probed.get(plan.port)
            verdict, reason = _verdict(plan, result)
            rows.append(PortRow(pod.namespace, _workload(pod), pod.name, plan.port,
                                protocols.get(plan.port, UNDECLARED), plan.mode,
                                str(result.outcome) if result else NOT_PROBED, verdict, reason, name,
                                result.outcome if result else None))
            for attempt in filter(None, (probed.get(plan.port), confirmed.get(plan.port))):
                text += [f"port {plan.port}: {attempt.outcome}", f"  $ {attempt.command}", f"  {attempt.output}"]
        evidence[name] = "\n".join(text) + "\n"
        if progress is not None:
            progress(done, len(pods), f"{pod.namespace}/{pod.name}")
    return SweepResult(rows, evidence)


def as_csv(rows: Iterable[PortRow]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    for row in rows:
        writer.writerow([getattr(row, column) for column in COLUMNS])
    return out.getvalue()


_VERDICT_STYLE = {ACCEPTED_VERDICT: "background:#f8d7da", EXPOSURE: "background:#fff3cd",
                  REFUSED_VERDICT: "background:#d4edda", UNREACHABLE: "background:#e2e3e5", EXCEPTION: ""}


def as_html(rows: Sequence[PortRow], title: str) -> str:
    """A self-contained HTML table (no scripts, no external resources) for the Allure report."""
    counts = {verdict: sum(1 for row in rows if row.verdict == verdict) for verdict in VERDICTS}
    summary = ", ".join(f"{count} {verdict}" for verdict, count in counts.items() if count)
    head = "".join(f"<th>{html.escape(column)}</th>" for column in COLUMNS)
    body = "\n".join(
        f"<tr style=\"{_VERDICT_STYLE.get(row.verdict, '')}\">"
        + "".join(f"<td>{html.escape(str(getattr(row, column)))}</td>" for column in COLUMNS) + "</tr>"
        for row in rows)
    return (f"<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>{html.escape(title)}</title>"
            "<style>body{font-family:sans-serif}table{border-collapse:collapse}"
            "td,th{border:1px solid #999;padding:2px 6px;font-size:13px;text-align:left}</style></head><body>"
            f"<h3>{html.escape(title)}</h3><p>{html.escape(summary)}</p>"
            f"<table><thead><tr>{head}</tr></thead><tbody>\n{body}\n</tbody></table></body></html>\n")


def as_text(rows: Sequence[PortRow], title: str) -> str:
    """The table as aligned plain text: what the Allure report shows in full, without a frame to scroll."""
    counts = {verdict: sum(1 for row in rows if row.verdict == verdict) for verdict in VERDICTS}
    summary = ", ".join(f"{count} {verdict}" for verdict, count in counts.items() if count)
    cells = [list(COLUMNS)] + [[str(getattr(row, column)) for column in COLUMNS] for row in rows]
    widths = [max(len(line[i]) for line in cells) for i in range(len(COLUMNS))]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(line, widths)).rstrip() for line in cells]
    return "\n".join([title, summary, "", *lines]) + "\n"


def failure_message(result: SweepResult) -> str:
    """One line per port that took plaintext under STRICT."""
    return "\n".join(f"{row.namespace}/{row.pod} port {row.port} ({row.protocol}): {row.reason}"
                     for row in result.failures)
