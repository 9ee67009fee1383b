"""The embedded reference mesh: an Istio-like data plane built from real parts on one Linux host."""
