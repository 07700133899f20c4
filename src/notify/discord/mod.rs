//! Discord webhooks: the payload types (`Message`, `Embed`, …) as Discord's
//! Execute Webhook documents them, the pure message builder (`message`) and the delivery
//! client (`client`).

pub mod client;
pub mod message;

use serde::{Deserialize, Serialize};

/// `flags` bit that posts a message without a push or desktop notification (1 << 12).
pub const SUPPRESS_NOTIFICATIONS: u64 = 1 << 12;

/// The JSON body of an Execute Webhook or Edit Webhook Message request.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Message {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub content: String,
    #[serde(default)]
    pub embeds: Vec<Embed>,
    /// Always sent: without it a webhook parses user mentions by default.
    pub allowed_mentions: AllowedMentions,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub flags: u64,
}

fn is_zero(v: &u64) -> bool {
    *v == 0
}

/// `allowed_mentions`: `parse` is always empty (nothing pings by itself); `roles` whitelists
/// the route's role for critical alerts.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct AllowedMentions {
    pub parse: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub roles: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Embed {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub title: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    #[serde(default)]
    pub color: u32,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fields: Vec<Field>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub footer: Option<Footer>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub author: Option<Author>,
    /// ISO 8601.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timestamp: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Field {
    pub name: String,
    pub value: String,
    #[serde(default)]
    pub inline: bool,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Footer {
    pub text: String,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Author {
    pub name: String,
}
