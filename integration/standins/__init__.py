"""Stand-ins for what Debian does not package, for the collectors' integration tests: the
Kubernetes API server (kubeapi.py) and the kubelet (kubelet.py), over HTTPS with a test PKI
(pki.py), on a shared object model (model.py). test_standins.py proves them against independent
clients (kubectl, python3-kubernetes)."""
