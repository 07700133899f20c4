//! `[[discord]]` channels.

use crate::config::DiscordChannel;
use crate::config::raw::RawConfig;
use crate::secret::SecretUrl;

use super::ctx::*;
use super::values::*;

pub(super) fn discord_channels(ctx: &mut Ctx<'_>, raw: &RawConfig) -> Vec<DiscordChannel> {
    let names = ctx.names("discord", raw.discord.iter().map(|e| &e.get_ref().name));
    let mut channels = Vec::new();
    for (i, (entry, name)) in raw.discord.iter().zip(names).enumerate() {
        let key = format!("discord[{i}].webhook_url");
        let webhook = entry.get_ref().webhook_url.clone();
        let url = ctx
            .secret_url(&webhook, &key, check_webhook_url)
            .map(|url| SecretUrl::opaque(url.expose().to_string()));
        if let (Some(name), Some(webhook_url)) = (name, url) {
            channels.push(DiscordChannel { name, webhook_url });
        }
    }
    channels
}
