//! The public status page and its documents: the Statuspage v2 API, the incident feeds and
//! the badges. Everything is rendered from one [`model::PageModel`], built by one adapter
//! from the snapshots and the store.

pub mod adapter;
pub mod api_v2;
pub mod badges;
pub mod feeds;
pub mod html;
pub mod http_cache;
pub mod model;
pub mod published;
pub mod text;
