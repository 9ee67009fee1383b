"""Bad input gets one clear line and the documented exit code, never a traceback or a verdict.

``CASES`` is the bad-input catalog: each row is run as a child pytest, as a user
would type it, and docs/bad-inputs.md is generated from it
(``python -m tests.test_bad_inputs`` rewrites it; a test checks it is current).
Usage errors found before anything starts exit 4 with ``ERROR: <reason>``;
what the suite finds when it tries to start (root, tools, kubeconfig, TMPDIR)
exits 3 with ``meshproof: <reason>`` (README, "Exit codes").
"""
from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from meshproof.local import host
from tests.suite_runner import ROOT, run_pytest

CATALOG = ROOT / "docs" / "bad-inputs.md"
USAGE, INFRASTRUCTURE = 4, 3
#: a line that ends with this is a prefix: the rest is the library's own words (a YAML parser's position)
MORE = " …"


@dataclass(frozen=True)
class Case:
    argv: tuple[str, ...]
    code: int
    line: str
    env: tuple[tuple[str, str], ...] = ()
    #: the line is pytest's own usage message (several lines); ``line`` is then a part of it
    pytest_usage: bool = False
    #: run as nobody (setpriv), for the not-root case
    unprivileged: bool = False
    #: the child runs through scripts/conformance.sh (what `make conformance` runs) instead of pytest
    script: bool = False
    #: the child gets ``suites`` as its test path first (a user typing no path gets pytest's testpaths)
    suites: bool = True

    @property
    def shown(self) -> str:
        env = " ".join(f"{k}={v}" for k, v in self.env)
        command = "scripts/conformance.sh" if self.script else "pytest"
        return " ".join(part for part in (env, command, *self.argv) if part)


def case(text: str, code: int, line: str, **kw) -> Case:
    """``text``: the arguments after ``pytest``, split on spaces (``·`` stands for a space inside one)."""
    env = tuple(tuple(kv.split("=", 1)) for kv in kw.pop("env", "").split() if kv)
    argv = tuple(a.replace("·", " ") for a in text.split())
    return Case(argv, code, line, env=env, **kw)  # type: ignore[arg-type]


#: the most each timing setting takes (seconds; confirmations a count), as README documents them
TIMEOUT_MAX = {"policy": 3600, "workload-ready": 3600, "request": 600, "consistently-window": 3600,
               "delete": 3600, "diagnostics": 3600, "tls-scan": 3600}


def _timeout_cases() -> list[Case]:
    rows = []
    for name, most in TIMEOUT_MAX.items():
        for given, shown in (("0", "0.0"), ("-1", "-1.0")):
            rows.append(case(f"--timeout-{name} {given}", USAGE,
                             f"ERROR: --timeout-{name} {shown}: expected seconds, more than 0 and at most {most}"))
        rows.append(case(f"--timeout-{name} nan", USAGE, f"ERROR: --timeout-{name} nan: expected a finite number"))
    return rows


CASES: list[Case] = [
    # -- every timing setting: positive, finite, bounded (issue 9, case 1)
    case("--timeout-confirmations 0", USAGE, "ERROR: --timeout-confirmations 0: expected a whole number from 1 to 100"),
    case("--timeout-confirmations -1", USAGE,
         "ERROR: --timeout-confirmations -1: expected a whole number from 1 to 100"),
    case("--timeout-confirmations 2.5", USAGE, "ERROR: --timeout-confirmations 2.5: expected a whole number"),
    case("--timeout-confirmations 1000", USAGE,
         "ERROR: --timeout-confirmations 1000: expected a whole number from 1 to 100"),
    case("--timeout-confirmations inf", USAGE, "ERROR: --timeout-confirmations inf: expected a finite number"),
    case("--timeout-policy inf", USAGE, "ERROR: --timeout-policy inf: expected a finite number"),
    case("--timeout-policy 86400", USAGE,
         "ERROR: --timeout-policy 86400.0: expected seconds, more than 0 and at most 3600"),
    case("--timeout-request 601", USAGE, "ERROR: --timeout-request 601.0: expected seconds, more than 0 and at most 600"),
    case("--timeout-poll-interval 0", USAGE, "ERROR: --timeout-poll-interval 0.0: expected seconds from 0.001 to 60"),
    case("--timeout-poll-interval -1", USAGE, "ERROR: --timeout-poll-interval -1.0: expected seconds from 0.001 to 60"),
    case("--timeout-poll-interval nan", USAGE, "ERROR: --timeout-poll-interval nan: expected a finite number"),
    case("--timeout-poll-interval 40", USAGE, "ERROR: --timeout-poll-interval 40.0 must be shorter than "
         "--timeout-policy 30.0: a wait would poll once at most"),
    case("--timeout-consistently-window 0.5 --timeout-poll-interval 0.5", USAGE,
         "ERROR: --timeout-poll-interval 0.5 must be shorter than --timeout-consistently-window 0.5: "
         "a wait would poll once at most"),
    case("-m egress-tls -k disable_is_refused·and·namespace --mesh-defect database-does-not-require-tls "
         "--timeout-confirmations 0", USAGE, "ERROR: --timeout-confirmations 0: expected a whole number from 1 to 100"),
    case("-m egress-tls --mesh-defect database-does-not-require-tls --timeout-policy nan", USAGE,
         "ERROR: --timeout-policy nan: expected a finite number"),
    case("--timeout-policy abc", USAGE, "argument --timeout-policy: invalid float value: 'abc'", pytest_usage=True),
    *_timeout_cases(),
    case("-m strict-mtls", USAGE, "ERROR: MESHPROOF_PROGRESS_AFTER='abc': expected seconds from 0 to 3600",
         env="MESHPROOF_PROGRESS_AFTER=abc"),
    case("-m strict-mtls", USAGE, "ERROR: MESHPROOF_PROGRESS_AFTER='-1': expected seconds from 0 to 3600",
         env="MESHPROOF_PROGRESS_AFTER=-1"),
    case("-m strict-mtls", USAGE, "ERROR: MESHPROOF_PROGRESS_AFTER='nan': expected seconds from 0 to 3600",
         env="MESHPROOF_PROGRESS_AFTER=nan"),
    # -- identifiers and selectors, before anything starts (case 2)
    case("-m strict-mtls", USAGE, "ERROR: $MESHPROOF_RUN_ID 'Bad_ID!': must consist of lower-case letters, digits "
         "and '-', and start and end with a letter or digit (an RFC 1123 label, as Kubernetes names are)",
         env="MESHPROOF_RUN_ID=Bad_ID!"),
    case("-m strict-mtls", USAGE, "ERROR: $MESHPROOF_RUN_ID '-run': must consist of lower-case letters, digits "
         "and '-', and start and end with a letter or digit (an RFC 1123 label, as Kubernetes names are)",
         env="MESHPROOF_RUN_ID=-run"),
    case("-m strict-mtls", USAGE, f"ERROR: $MESHPROOF_RUN_ID '{'a' * 60}': at most 45 characters (has 60): "
         "namespaces are named like egress-legacy-<run id>, which Kubernetes limits to 63",
         env=f"MESHPROOF_RUN_ID={'a' * 60}"),
    case("-m strict-mtls", USAGE, f"ERROR: $MESHPROOF_RUN_ID '{'b' * 30}' is too long for the reference mesh under "
         "TMPDIR '/tmp': at most 24 characters, or unix socket paths would exceed 107 bytes",
         env=f"TMPDIR=/tmp MESHPROOF_RUN_ID={'b' * 30}"),
    case("-m strict-mtls", USAGE, "ERROR: TMPDIR '{long}' is too long for the reference mesh: unix socket "
         "paths under it would exceed 107 bytes; use a TMPDIR of at most" + MORE, env="TMPDIR={long}"),
    case("--ingress-selector nonsense", USAGE, "ERROR: --ingress-selector 'nonsense': 'nonsense' has no value; "
         "expected key=value[,key=value]"),
    case("--ingress-selector app=other", USAGE, "ERROR: --ingress-selector 'app=other' selects no gateway of the "
         "reference mesh: its gateway pods are labelled app=istio-ingressgateway,istio=ingressgateway"),
    case("--ingress-selector =x", USAGE, "ERROR: --ingress-selector '=x': '' is not a valid label key; "
         "expected key=value[,key=value]"),
    case("--ingress-selector a=b=c", USAGE, "ERROR: --ingress-selector 'a=b=c': 'b=c' is not a valid value for a; "
         "expected key=value[,key=value]"),
    case("--ingress-selector istio·in·(x)", USAGE, "ERROR: --ingress-selector 'istio in (x)': only equality terms "
         "can select gateway pods (a Gateway's selector is a label map); expected key=value[,key=value]"),
    case("--ingress-selector istio!=x", USAGE, "ERROR: --ingress-selector 'istio!=x': only equality terms "
         "can select gateway pods (a Gateway's selector is a label map); expected key=value[,key=value]"),
    case("--ingress-selector istio=ingressgateway,", USAGE, "ERROR: --ingress-selector 'istio=ingressgateway,': "
         "an empty term; expected key=value[,key=value]"),
    case("--use-namespace bookinfo=My_NS!", USAGE, "ERROR: --use-namespace 'bookinfo=My_NS!': namespace 'My_NS!': "
         "must consist of lower-case letters, digits and '-', and start and end with a letter or digit "
         "(an RFC 1123 label, as Kubernetes names are)"),
    case("--use-namespace bookinf=team-a", USAGE, "ERROR: --use-namespace 'bookinf=team-a': expected BASE=NAME with "
         "BASE one of bookinfo, legacy, mesh-peer, ingress, egress, egress-legacy, egress-db, mesh-audit"),
    case("--use-namespace bookinfo=", USAGE, "ERROR: --use-namespace 'bookinfo=': expected BASE=NAME with "
         "BASE one of bookinfo, legacy, mesh-peer, ingress, egress, egress-legacy, egress-db, mesh-audit"),
    # -- the mesh audit's namespaces: a malformed name before anything starts; one that does not exist, found in
    # the cluster before the audit creates its prober
    case("-m mesh-audit --audit-namespaces Shop_NS", USAGE, "ERROR: --audit-namespaces 'Shop_NS': namespace "
         "'Shop_NS': must consist of lower-case letters, digits and '-', and start and end with a letter or digit "
         "(an RFC 1123 label, as Kubernetes names are)"),
    case("-m mesh-audit --audit-namespaces ,", USAGE, "ERROR: --audit-namespaces ',': expected NS[,NS...]"),
    case("-m strict-mtls --audit-namespaces shop", USAGE,
         "ERROR: --audit-namespaces applies to the mesh audit: add -m mesh-audit"),
    case("-m mesh-audit --audit-namespaces bookinfo,no-such-namespace", INFRASTRUCTURE,
         "meshproof: --audit-namespaces: namespace 'no-such-namespace' does not exist"),
    case("--revision Bad!", USAGE, "ERROR: --revision 'Bad!': not a valid label value (at most 63 letters, digits, "
         "'-', '_' or '.', starting and ending with a letter or digit)"),
    # -- options that mean nothing to the chosen backend (case 10)
    case("--mesh-profile ambient", USAGE, "ERROR: --mesh-profile applies to a cluster; the reference mesh "
         "(--backend local) has its own (drop it, or add --kube-context)"),
    case("--ingress-namespace istio-system", USAGE, "ERROR: --ingress-namespace applies to a cluster; the "
         "reference mesh (--backend local) has its own (drop it, or add --kube-context)"),
    case("--capture-image nicolaka/netshoot:v0.13", USAGE, "ERROR: --capture-image applies to a cluster; the "
         "reference mesh (--backend local) has its own (drop it, or add --kube-context)"),
    case("--backend local --kube-context kind-x", USAGE, "ERROR: --kube-context applies to a cluster; the "
         "reference mesh (--backend local) has its own (drop it, or add --kube-context)"),
    case("--mesh-defect nope", USAGE, "ERROR: unknown mesh defect nope; known: agent-never-renews, " + MORE),
    case("--kube-context kind-x --mesh-defect sidecar-ignores-strict", USAGE,
         "ERROR: --mesh-defect applies to the reference mesh only (--backend local)"),
    case("--kube-context kind-x --mesh-profile istio", USAGE,
         "ERROR: --mesh-profile 'istio': choose one of upstream, revision, ossm2, ossm3, ambient"),
    case("--kube-context kind-x --ingress-namespace Istio_System", USAGE, "ERROR: --ingress-namespace "
         "'Istio_System': must consist of lower-case letters, digits and '-', and start and end with a letter or "
         "digit (an RFC 1123 label, as Kubernetes names are)"),
    case("--kube-context kind-x --capture-image Netshoot:latest", USAGE, "ERROR: --capture-image 'Netshoot:latest': "
         "not an image reference ([registry[:port]/]lower-case/path[:tag][@sha256:digest], e.g. "
         "registry.corp.example/mirror/nicolaka/netshoot:v0.13)"),
    case("--external-db-host db.example.com", USAGE, "ERROR: --external-db-host needs --external-db-user, "
         "--external-db-x509-user, --external-db-ca, --external-db-client-cert"),
    case("--kube-context kind-x --external-db-host db.example.com --external-db-port 0", USAGE,
         "ERROR: --external-db-host needs --external-db-user, --external-db-x509-user, --external-db-ca, "
         "--external-db-client-cert"),
    case("--kube-context kind-x --external-db-host db.example.com --external-db-user app "
         "--external-db-x509-user x509app --external-db-ca={files}/expired-ca.pem "
         "--external-db-client-cert={files}/client.pem --external-db-client-key={files}/client-key.pem", USAGE,
         "ERROR: --external-db-ca {files}/expired-ca.pem: certificate CN=expired database CA expired on 2020-01-02",
         env="MESHPROOF_DB_PASSWORD=secret"),
    # -- the cluster's configuration (case 8)
    case("--kubeconfig=/nonexistent/kubeconfig", USAGE, "ERROR: --kubeconfig '/nonexistent/kubeconfig': no such file"),
    case("--backend kube -m strict-mtls", USAGE, "ERROR: KUBECONFIG='/nonexistent/kubeconfig' names no existing file",
         env="KUBECONFIG=/nonexistent/kubeconfig"),
    case("--backend kube -m strict-mtls", INFRASTRUCTURE, "meshproof: cannot use kubeconfig {files}/bad.kubeconfig: "
         "while parsing a flow node" + MORE, env="KUBECONFIG={files}/bad.kubeconfig"),
    case("--kube-context nowhere -m strict-mtls --kubeconfig={files}/kubeconfig", INFRASTRUCTURE,
         "meshproof: cannot use context 'nowhere' of kubeconfig {files}/kubeconfig:" + MORE),
    case("--kubeconfig {files}/bad.kubeconfig -m strict-mtls", USAGE, "unrecognized arguments: --kubeconfig",
         pytest_usage=True, suites=False),
    case("--kubeconfig {files}/bad.kubeconfig -m strict-mtls", INFRASTRUCTURE,
         "meshproof: cannot use kubeconfig {files}/bad.kubeconfig: while parsing a flow node" + MORE, script=True),
    # -- the machine (case 8)
    case("-m strict-mtls --reports-dir={readonly}/reports", USAGE,
         "ERROR: --reports-dir '{readonly}/reports': cannot write in {readonly}: Read-only file system"),
    case("-m strict-mtls --reports-dir={files}/client.pem", USAGE,
         "ERROR: --reports-dir '{files}/client.pem': {files}/client.pem is not a directory"),
    *[case("-m strict-mtls", INFRASTRUCTURE, f"meshproof: the reference mesh needs `{tool}` on PATH "
           f"({host.TOOLS[tool]}): run `make bootstrap`", env=f"PATH={{files}}/without-{tool}")
      for tool in host.TOOLS],
    case("-m strict-mtls -n 2", INFRASTRUCTURE, "meshproof: the reference mesh needs `curl` on PATH "
         "(Debian package curl): run `make bootstrap`", env="PATH={files}/without-curl"),
    case("--backend kube -m strict-mtls -n 2", INFRASTRUCTURE, "meshproof: cannot use kubeconfig "
         "{files}/bad.kubeconfig: while parsing a flow node" + MORE, env="KUBECONFIG={files}/bad.kubeconfig"),
    case("-m strict-mtls", INFRASTRUCTURE, "meshproof: the reference mesh could not start under {full} (TMPDIR): "
         "No space left on device", env="TMPDIR={full}"),
    case("-m strict-mtls", INFRASTRUCTURE, "meshproof: the reference mesh needs root (network namespaces and "
         "iptables): run as root or use --backend kube", unprivileged=True),
    # -- pytest's own usage errors keep pytest's words and its code
    case("--no-such-option", USAGE, "unrecognized arguments: --no-such-option", pytest_usage=True),
    case("-m strict-mtls·and", USAGE, "ERROR: Wrong expression passed to '-m': strict-mtls and: at column 16: "
         "expected not OR left parenthesis OR identifier; got end of input"),
]


def case_id(c: Case) -> str:
    return f"{CASES.index(c):02d} {c.shown[:70]}"


# ---------------------------------------------------------------------------
# The files and places the cases name.

def _expired_ca(directory: Path) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "expired database CA")])
    start = datetime(2019, 1, 1, tzinfo=timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(start)
            .not_valid_after(start + timedelta(days=366))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    (directory / "expired-ca.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))


def _client(directory: Path) -> None:
    from meshproof.pki import CertificateAuthority

    ca = CertificateAuthority.create("meshproof test client CA", "meshproof")
    leaf = ca.issue_workload("cluster.local", "default", "client")
    (directory / "client.pem").write_bytes(leaf.chain_pem)
    (directory / "client-key.pem").write_bytes(leaf.key_pem())


def _path_without(directory: Path, missing: str) -> None:
    """A PATH directory holding every reference-mesh tool but one (Python and pytest need none)."""
    directory.mkdir()
    for tool in host.TOOLS:
        found = shutil.which(tool)
        if tool != missing and found:
            (directory / tool).symlink_to(found)


@pytest.fixture(scope="module")
def places():
    """{files}: test files; {readonly}: a read-only file system; {full}: a full one (root mounts both)."""
    base = Path(tempfile.mkdtemp(prefix="meshproof-selftest-inputs-"))
    base.chmod(0o755)
    files = base / "files"
    files.mkdir()
    _expired_ca(files)
    _client(files)
    (files / "bad.kubeconfig").write_text("apiVersion: v1\nclusters: [\n  - {{{\n")
    (files / "kubeconfig").write_text("apiVersion: v1\nkind: Config\nclusters: []\ncontexts: []\nusers: []\n")
    for tool in host.TOOLS:
        _path_without(files / f"without-{tool}", tool)
    mounted = []
    full = Path(tempfile.mkdtemp(prefix="mpf"))  # short: a long TMPDIR is a case of its own
    for point, options in ((base / "readonly", "ro,size=64k"), (full, "size=64k")):
        point.mkdir(exist_ok=True)
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(point)], capture_output=True)
        if done.returncode == 0:
            mounted.append(point)
    if full in mounted:  # leave room for tempfile's probe, none for the mesh's files
        (full / "fill").write_bytes(b"\0" * (60 * 1024))
    long = base / ("t" * 60)
    long.mkdir()
    nobody = base / "nobody"
    nobody.mkdir()
    nobody.chmod(0o777)
    try:
        yield {"files": str(files), "readonly": str(base / "readonly"), "full": str(full),
               "nobody": str(nobody), "long": str(long), "mounted": mounted}
    finally:
        for point in mounted:
            subprocess.run(["umount", str(point)], capture_output=True)
        shutil.rmtree(base, ignore_errors=True)
        shutil.rmtree(full, ignore_errors=True)


def _fill(text: str, places: dict) -> str:
    return text.format(**{k: v for k, v in places.items() if isinstance(v, str)})


@pytest.mark.parametrize("bad", CASES, ids=case_id)
def test_bad_input_gets_one_line_and_the_documented_exit_code(bad: Case, places, tmp_path):
    needs = [k for k in ("readonly", "full") if "{" + k + "}" in bad.line + " ".join(v for _, v in bad.env)]
    if any(Path(places[k]) not in places["mounted"] for k in needs) or (bad.unprivileged and os.geteuid() != 0):
        pytest.skip("needs root to mount a small file system / to drop to nobody")
    reports = Path(places["nobody"]) / secrets.token_hex(4) if bad.unprivileged else tmp_path / "reports"
    argv = [_fill(a, places) for a in bad.argv]
    env = {k: _fill(v, places) for k, v in bad.env}
    if not any(a.startswith("--reports-dir") for a in argv):
        argv.append(f"--reports-dir={reports}")
    if bad.unprivileged:
        env["HOME"] = places["nobody"]
    prefix = ("setpriv", "--reuid=65534", "--regid=65534", "--clear-groups") if bad.unprivileged else ()
    if bad.script:
        done = subprocess.run(["bash", str(ROOT / "scripts" / "conformance.sh"), *argv], cwd="/", capture_output=True,
                              text=True, timeout=120, env={**os.environ, **env})
    else:
        # the user's own cwd, not the project's: an existing path after an option then reads as a test path
        done = run_pytest(["suites", *argv] if bad.suites else argv, env=env, timeout=120, prefix=prefix)
    said = done.stdout + done.stderr
    assert done.returncode == bad.code, said
    assert "Traceback" not in said and "INTERNALERROR" not in said and "_pytest.outcomes" not in said, said
    expected = _fill(bad.line, places)
    if bad.pytest_usage:
        assert expected in done.stderr, said
        return
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, said
    if expected.endswith(MORE):
        assert lines[0].startswith(expected.removesuffix(MORE)), said
    else:
        assert lines[0] == expected, said


# ---------------------------------------------------------------------------
# docs/bad-inputs.md, generated from CASES.

def render_catalog() -> str:
    head = [
        "# Bad inputs: what you see, and the exit code",
        "",
        "Generated from `CASES` in `tests/test_bad_inputs.py` (`python -m tests.test_bad_inputs`); every row",
        "is run as a child pytest by that test, which asserts the exit code and that stderr holds exactly",
        "this one line (`…`: the rest is a parser's own words or the defect registry's list), or for",
        "pytest's own errors that its several-line usage message holds it. Exit codes: README, \"Exit codes\".",
        "`{files}` is a directory of test files, `{readonly}` and `{full}` small read-only and full file",
        "systems, `{long}` a directory with a long path; `·` is a space inside one argument.",
        "",
        f"{len(CASES)} cases.",
        "",
        "| # | input | what you see | exit code |",
        "|---|---|---|---|",
    ]
    rows = []
    for number, c in enumerate(CASES):
        shown = c.shown.replace("|", "\\|")
        line = c.line.replace("|", "\\|")
        note = " in pytest's usage message" if c.pytest_usage else ""
        note += " (give it as `--kubeconfig=PATH`)" if c.pytest_usage and "--kubeconfig" in c.line else ""
        user = " (as nobody)" if c.unprivileged else ""
        rows.append(f"| {number} | `{shown}`{user} | `{line}`{note} | {c.code} |")
    return "\n".join(head + rows) + "\n"


def test_the_catalog_in_docs_is_generated_from_these_cases():
    assert len(CASES) >= 60
    assert CATALOG.read_text() == render_catalog(), "run `python -m tests.test_bad_inputs` to regenerate it"


def test_one_exit_code_table_agrees_with_the_report_and_the_docs():
    """README's table is the one definition; the report's meanings and the other docs agree with it."""
    from meshproof.report import EXIT_MEANINGS

    readme = (ROOT / "README.md").read_text()
    table = readme[readme.index("## Exit codes"):]
    rows = {int(cells[1]): cells[2].strip() for line in table.splitlines()
            if (cells := line.split("|")) and len(cells) > 3 and cells[1].strip().isdigit()}
    assert rows == EXIT_MEANINGS
    assert "| 3 |" not in (ROOT / "docs" / "report.md").read_text(), "a second exit-code table"
    assert "--context " not in (ROOT / "docs" / "kube.md").read_text()
    assert "exit code 4" in (ROOT / "docs" / "kube.md").read_text() and USAGE == 4 and INFRASTRUCTURE == 3


def test_make_conformance_names_pytests_status_and_the_script_returns_it():
    """GNU make exits 2 for any failed recipe; its last line carries pytest's code, as README says."""
    done = subprocess.run(["make", "-s", "conformance", "ARGS=--timeout-confirmations=0"], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 2, done.stdout + done.stderr
    lines = done.stderr.strip().splitlines()  # bootstrap may say what it installs first
    assert "ERROR: --timeout-confirmations 0: expected a whole number from 1 to 100" in lines, done.stderr
    assert lines[-1].endswith("conformance] Error 4"), done.stderr


if __name__ == "__main__":
    CATALOG.write_text(render_catalog())
    print(f"wrote {CATALOG} ({len(CASES)} cases)")
