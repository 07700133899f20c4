//! The public status page and its documents: the Statuspage v2 API, the incident feeds and
//! the badges. Everything is rendered from one [`model::PageModel`], built by one adapter
//! from the snapshots and the store.

pub mod text;
