//! The simulated Vantiq installation: controllers, behaviour, tools dir, gradle shim, invariants.
