//! The OTLP resource: `service.*` attributes, `fedimeter.location`, and the standard
//! `OTEL_SERVICE_NAME` / `OTEL_RESOURCE_ATTRIBUTES` overrides (`docs/otlp.md`, section
//! "Resource attributes"). Pure apart from reading the host name.

use crate::export::self_metrics::VERSION;

/// The resource attribute that carries `site.location`.
pub const LOCATION_ATTRIBUTE: &str = "fedimeter.location";

/// The resource attributes, in order: `service.name` (`fedimeter`, or `OTEL_SERVICE_NAME`),
/// `service.instance.id`, `service.version`, `fedimeter.location`, then any others from
/// `OTEL_RESOURCE_ATTRIBUTES`, which may also override the first four (as in the OTel SDKs,
/// `OTEL_SERVICE_NAME` wins over a `service.name` there). A malformed
/// `OTEL_RESOURCE_ATTRIBUTES` is ignored as a whole, with a warning, as the spec asks.
pub fn resource_attributes(
    location: &str,
    instance_id: &str,
    otel_service_name: Option<&str>,
    otel_resource_attributes: Option<&str>,
) -> Vec<(String, String)> {
    let mut attributes: Vec<(String, String)> = vec![
        ("service.name".into(), "fedimeter".into()),
        ("service.instance.id".into(), instance_id.into()),
        ("service.version".into(), VERSION.into()),
        (LOCATION_ATTRIBUTE.into(), location.into()),
    ];
    let mut set = |key: &str, value: &str| match attributes.iter_mut().find(|(k, _)| k == key) {
        Some(slot) => slot.1 = value.to_string(),
        None => attributes.push((key.to_string(), value.to_string())),
    };
    if let Some(raw) = otel_resource_attributes {
        match parse_otel_resource_attributes(raw) {
            Ok(pairs) => {
                for (k, v) in pairs {
                    set(&k, &v);
                }
            }
            Err(error) => {
                tracing::warn!(target: "fedimeter::otlp", "OTEL_RESOURCE_ATTRIBUTES ignored: {error}");
            }
        }
    }
    if let Some(name) = otel_service_name.filter(|n| !n.is_empty()) {
        set("service.name", name);
    }
    attributes
}

/// Parses `OTEL_RESOURCE_ATTRIBUTES`: `key1=value1,key2=value2`, values percent-encoded.
/// Empty entries are skipped; any malformed entry makes the whole value invalid.
///
/// ```
/// use fedimeter::export::otlp::parse_otel_resource_attributes as parse;
///
/// let pairs = parse("service.instance.id=probe%2Deu, deployment.environment=prod,").unwrap();
/// assert_eq!(pairs, [
///     ("service.instance.id".to_string(), "probe-eu".to_string()),
///     ("deployment.environment".to_string(), "prod".to_string()),
/// ]);
/// assert!(parse("a=1,broken").is_err());
/// ```
pub fn parse_otel_resource_attributes(raw: &str) -> Result<Vec<(String, String)>, String> {
    let mut out = Vec::new();
    for entry in raw.split(',') {
        let entry = entry.trim();
        if entry.is_empty() {
            continue;
        }
        let Some((key, value)) = entry.split_once('=') else {
            return Err(format!("entry {entry:?} has no '='"));
        };
        let key = key.trim();
        if key.is_empty() {
            return Err(format!("entry {entry:?} has an empty key"));
        }
        let value = percent_decode(value.trim())
            .ok_or_else(|| format!("value of {key:?} is not valid percent-encoded UTF-8"))?;
        out.push((key.to_string(), value));
    }
    Ok(out)
}

fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes.get(i + 1..i + 3)?;
            let hex = std::str::from_utf8(hex).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// The default `service.instance.id`: the host name (`/proc/sys/kernel/hostname`, else
/// `$HOSTNAME`), which is stable across restarts; `fedimeter` if neither is known.
/// Override it with `OTEL_RESOURCE_ATTRIBUTES=service.instance.id=…`.
pub fn default_instance_id() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok().filter(|s| !s.is_empty()))
        .unwrap_or_else(|| "fedimeter".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(p: &[(&str, &str)]) -> Vec<(String, String)> {
        p.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn resource_attributes_defaults_and_environment_overrides() {
        let base =
            |env_name, env_attrs| resource_attributes("eu-home", "host-1", env_name, env_attrs);
        let v = VERSION;
        assert_eq!(
            base(None, None),
            pairs(&[
                ("service.name", "fedimeter"),
                ("service.instance.id", "host-1"),
                ("service.version", v),
                ("fedimeter.location", "eu-home"),
            ])
        );
        assert_eq!(
            base(
                Some("fm-probe"),
                Some("service.name=x,service.instance.id=probe%2Deu%201, cloud.region=eu-west-1,,")
            ),
            pairs(&[
                ("service.name", "fm-probe"),
                ("service.instance.id", "probe-eu 1"),
                ("service.version", v),
                ("fedimeter.location", "eu-home"),
                ("cloud.region", "eu-west-1"),
            ])
        );
        // Malformed: ignored as a whole.
        assert_eq!(base(None, Some("a=1,broken")), base(None, None));
        assert_eq!(base(Some(""), Some("")), base(None, None));
    }

    #[test]
    fn otel_resource_attributes_parsing() {
        for (raw, want) in [
            ("", Ok(vec![])),
            ("a=1", Ok(pairs(&[("a", "1")]))),
            (" a = 1 , b=x%3Dy ", Ok(pairs(&[("a", "1"), ("b", "x=y")]))),
            ("k=caf%C3%A9", Ok(pairs(&[("k", "café")]))),
            ("a=", Ok(pairs(&[("a", "")]))),
            ("a", Err("entry \"a\" has no '='".to_string())),
            ("=1", Err("entry \"=1\" has an empty key".to_string())),
            (
                "a=%zz",
                Err("value of \"a\" is not valid percent-encoded UTF-8".to_string()),
            ),
            (
                "a=%F",
                Err("value of \"a\" is not valid percent-encoded UTF-8".to_string()),
            ),
        ] {
            assert_eq!(parse_otel_resource_attributes(raw), want, "{raw:?}");
        }
    }
}
