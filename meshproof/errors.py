"""Errors that end a run with one clear line instead of a traceback."""


class MeshproofError(Exception):
    """Usage or infrastructure error: printed as one line, exit code 3."""


class PreflightError(MeshproofError):
    """The target cannot run the suite at all (no cluster, no Istio, no permission, not root)."""


class ConfigError(MeshproofError):
    """Invalid input: a malformed certificate, an invalid ssl-mode combination, a bad option."""


class InfrastructureError(MeshproofError):
    """The suite's own machinery failed or cannot reach what it must check (pods, the gateway, a kubelet,
    a process of the reference mesh): an infrastructure error with its cause, never a verdict on the mesh.

    Not an ``AssertionError``, so Allure files a check failing with it as *broken*, under "Suite or
    infrastructure error" (meshproof.verdict decides).
    """


class NotApplicable(MeshproofError):
    """A check cannot run here without changing something the user owns (a mesh-wide policy):
    it is skipped as not applicable, with the reason."""


class NotSupported(MeshproofError):
    """The mesh or the cluster forbids what a check needs (a rule of its own, e.g. PodSecurity refusing a
    capture container): the check is skipped as "not supported", with the reason."""
