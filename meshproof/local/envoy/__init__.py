"""The one Envoy configuration writer of the reference mesh, in the parts istiod's would have.

- :mod:`.model`: what the control plane computes for a proxy (sidecar, ingress gateway), as values;
- :mod:`.files`: the watched files a proxy reads, published by atomic rename;
- :mod:`.pieces`: typed configs, secrets, filters, TLS contexts and clusters both kinds of proxy share;
- :mod:`.sidecar`: a sidecar's capture listeners and outbound clusters;
- :mod:`.gateway`: the ingress gateway's listeners and clusters.
"""
