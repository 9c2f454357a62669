//! Kubernetes value formats that vscript and its simulator both read and write, so that
//! the host and the simulated API server agree on them: resource quantities (`55Gi`,
//! `500m`, `1e3`), exactly, and label selectors built from `matchLabels`.

pub mod quantity;
pub mod selector;

pub use quantity::Quantity;
pub use selector::match_labels_selector;
