//! Clients a run builds lazily (the cluster's, the Vantiq server's): one of each type,
//! made at first use, shared by every call. The engine does not know the client types;
//! each capability keeps its own here.

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::sync::Mutex;

/// One lazily built client per type.
#[derive(Default)]
pub struct Clients(Mutex<HashMap<TypeId, Box<dyn Any + Send + Sync>>>);

impl std::fmt::Debug for Clients {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Clients({})", self.0.lock().unwrap().len())
    }
}

impl Clients {
    /// The client of type `T`, if it was built.
    pub fn get<T: Clone + Send + Sync + 'static>(&self) -> Option<T> {
        self.0
            .lock()
            .unwrap()
            .get(&TypeId::of::<T>())
            .and_then(|b| b.downcast_ref::<T>())
            .cloned()
    }

    /// The client of type `T`, built by `make` at first use. `make` runs without the lock
    /// held (it may wait on the network); when two callers race, the first one stored wins.
    pub fn get_or_try_init<T: Clone + Send + Sync + 'static, E>(&self, make: impl FnOnce() -> Result<T, E>) -> Result<T, E> {
        if let Some(c) = self.get::<T>() {
            return Ok(c);
        }
        let made = make()?;
        let mut map = self.0.lock().unwrap();
        let stored = map.entry(TypeId::of::<T>()).or_insert_with(|| Box::new(made));
        Ok(stored.downcast_ref::<T>().cloned().expect("a client of its own type"))
    }

    /// Moves every client over to a new set (the REPL keeps its connection when it
    /// switches namespace on the same cluster).
    pub fn take(&self) -> Clients {
        Clients(Mutex::new(std::mem::take(&mut *self.0.lock().unwrap())))
    }
}
