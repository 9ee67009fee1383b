"""Errors that end a run with one clear line instead of a traceback."""


class MeshproofError(Exception):
    """Usage or infrastructure error: printed as one line, exit code 3."""


class PreflightError(MeshproofError):
    """The target cannot run the suite at all (no cluster, no Istio, no permission, not root)."""


class ConfigError(MeshproofError):
    """Invalid input: a malformed certificate, an invalid ssl-mode combination, a bad option."""


class InfrastructureError(MeshproofError):
    """The suite's own machinery cannot reach what it must check (pods, the gateway, a kubelet):
    an infrastructure error with its cause, never a verdict on the mesh."""


class NotApplicable(MeshproofError):
    """A check cannot run here without changing something the user owns (a mesh-wide policy):
    it is skipped as not applicable, with the reason."""
