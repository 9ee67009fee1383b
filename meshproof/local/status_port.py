"""What the injector and the agent's status port share (kept free of imports: the agent of every pod loads it).

``STATUS_PORT``: pilot-agent's status port (15020), which inbound capture
leaves alone; ``APP_PROBERS_ENV``: the environment variable in which the
injector hands the agent the app's original probes as JSON (istio/istio
``pkg/kube/inject/app_probe.go``, ``ISTIO_KUBE_APP_PROBERS``).
"""

STATUS_PORT = 15020
APP_PROBERS_ENV = "ISTIO_KUBE_APP_PROBERS"
