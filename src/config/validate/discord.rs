//! `[[discord]]` channels (a route's `components` must be configured components).

use crate::config::DiscordChannel;
use crate::config::raw::RawConfig;
use crate::secret::SecretUrl;

use super::ctx::*;
use super::values::*;

pub(super) fn discord_channels(
    ctx: &mut Ctx<'_>,
    raw: &RawConfig,
    components: &super::alert::KnownComponents,
) -> Vec<DiscordChannel> {
    let names = ctx.names("discord", raw.discord.iter().map(|e| &e.get_ref().name));
    let mut channels = Vec::new();
    for (i, (entry, name)) in raw.discord.iter().zip(names).enumerate() {
        let key = format!("discord[{i}].webhook_url");
        let webhook = entry.get_ref().webhook_url.clone();
        let url = ctx
            .secret_url(&webhook, &key, check_webhook_url)
            .map(|url| SecretUrl::opaque(url.expose().to_string()));
        let opts = super::alert::route_options(ctx, entry.get_ref(), i, components);
        if let (Some(name), Some(webhook_url)) = (name, url) {
            channels.push(DiscordChannel {
                channel: opts.channel.unwrap_or_else(|| name.clone()),
                name,
                webhook_url,
                min_severity: opts.min_severity,
                components: opts.components,
                mention_role: opts.mention_role,
                resolved_notice: opts.resolved_notice,
            });
        }
    }
    channels
}
