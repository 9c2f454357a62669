//! The Kubernetes REST surface of the simulator (see kube-wire.md).
