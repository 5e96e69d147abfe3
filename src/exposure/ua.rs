//! What a cleartext User-Agent or a legacy client's resource says about the device: the OS it
//! names, the WhatsApp version (only from `WhatsApp/x.y.z`; `Dalvik/1.6.0` is the Android
//! runtime, not an app), the device model.

use crate::dissect::http::parse_whatsapp_user_agent;

/// Facts a User-Agent names; each may be missing.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct UaFacts {
    /// OS and version, e.g. "Android 4.4.2", "iOS 16.5", "Windows NT 10.0".
    pub os: Option<String>,
    /// WhatsApp version, from a `WhatsApp/x.y.z` token only.
    pub app_version: Option<String>,
    /// Device model, e.g. "GT-I9505".
    pub device: Option<String>,
}

/// Reads a User-Agent.
pub fn facts(ua: &str) -> UaFacts {
    if let Some(wa) = parse_whatsapp_user_agent(ua) {
        let os = wa.os.map(|os| match wa.os_version {
            Some(v) => format!("{os} {v}"),
            None => os,
        });
        // A WhatsApp token inside a browser's UA still names the browser's OS.
        let os = os.or_else(|| generic_os(ua));
        return UaFacts { os, app_version: Some(wa.app_version), device: wa.device };
    }
    UaFacts { os: generic_os(ua), app_version: None, device: android_model(ua) }
}

/// The OS a browser-style or runtime User-Agent names.
fn generic_os(ua: &str) -> Option<String> {
    let after = |key: &str| ua.find(key).map(|i| &ua[i + key.len()..]);
    let version = |rest: &str, sep: char| -> String {
        rest.split(|c: char| !(c.is_ascii_digit() || c == sep || c == '.'))
            .next()
            .unwrap_or("")
            .replace(sep, ".")
    };
    if let Some(rest) = after("Android ") {
        return Some(join("Android", &version(rest, '.')));
    }
    for key in ["iPhone OS ", "CPU OS ", "iOS "] {
        if let Some(rest) = after(key) {
            return Some(join("iOS", &version(rest, '_')));
        }
    }
    if let Some(rest) = after("Windows NT ") {
        return Some(join("Windows NT", &version(rest, '.')));
    }
    if let Some(rest) = after("Mac OS X ") {
        return Some(join("macOS", &version(rest, '_')));
    }
    if let Some(rest) = after("Darwin/") {
        return Some(join("Darwin (Apple)", &version(rest, '.')));
    }
    (ua.contains("Linux") || ua.contains("linux-gnu")).then(|| "Linux".to_owned())
}

fn join(os: &str, v: &str) -> String {
    if v.is_empty() { os.to_owned() } else { format!("{os} {v}") }
}

/// The model in an Android UA: the `;`-separated part after `Android x`, up to ` Build/`.
fn android_model(ua: &str) -> Option<String> {
    let inside = ua.split_once('(')?.1.split(')').next()?;
    let mut parts = inside.split(';').map(str::trim);
    parts.by_ref().find(|p| p.starts_with("Android"))?;
    let p = parts.next()?;
    let model = p.split(" Build/").next()?.split(" MIUI/").next()?.trim();
    (!model.is_empty() && model.len() <= 64).then(|| model.to_owned())
}

/// Platform and app version of a legacy resource: `Android-2.12.84` → ("Android", "2.12.84"),
/// `iPhone-2.12.2-5222` → ("iOS (iPhone)", "2.12.2").
pub fn legacy_resource(resource: &str) -> (String, Option<String>) {
    let mut parts = resource.split('-');
    let platform = parts.next().unwrap_or(resource);
    let version =
        parts.next().filter(|v| v.starts_with(|c: char| c.is_ascii_digit())).map(str::to_owned);
    let os = match platform {
        "iPhone" => "iOS (iPhone)".to_owned(),
        p => p.to_owned(),
    };
    (os, version)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runtime_is_not_an_app_version() {
        let f = facts("Dalvik/1.6.0 (Linux; U; Android 4.4.2; GT-I9505 Build/KOT49H)");
        assert_eq!(f.app_version, None);
        assert_eq!(f.os.as_deref(), Some("Android 4.4.2"));
        assert_eq!(f.device.as_deref(), Some("GT-I9505"));
        let f = facts("Dalvik/1.6.0 (Linux; U; Android 4.4.4; MI 3W MIUI/V6.4.2.0.KXDMICB)");
        assert_eq!(f.device.as_deref(), Some("MI 3W"));
    }

    #[test]
    fn whatsapp_user_agents() {
        let f = facts("WhatsApp/2.19.7 Android/9 Device/samsung-SM-G960F");
        assert_eq!(f.app_version.as_deref(), Some("2.19.7"));
        assert_eq!(f.os.as_deref(), Some("Android 9"));
        assert_eq!(f.device.as_deref(), Some("samsung-SM-G960F"));
        let f = facts("WhatsApp/2.23.20.76 i");
        assert_eq!(f.os.as_deref(), Some("iOS"));
    }

    #[test]
    fn other_systems() {
        let os = |ua| facts(ua).os;
        assert_eq!(
            os("Mozilla/5.0 (iPhone; CPU iPhone OS 16_5 like Mac OS X)").as_deref(),
            Some("iOS 16.5")
        );
        assert_eq!(
            os("Mozilla/5.0 (Windows NT 6.1) AppleWebKit").as_deref(),
            Some("Windows NT 6.1")
        );
        assert_eq!(os("Wget/1.16.3 (linux-gnu)").as_deref(), Some("Linux"));
        assert_eq!(os("okhttp/3.10.0"), None);
    }

    #[test]
    fn legacy_resources() {
        assert_eq!(legacy_resource("Android-2.12.84"), ("Android".into(), Some("2.12.84".into())));
        assert_eq!(
            legacy_resource("iPhone-2.12.2-5222"),
            ("iOS (iPhone)".into(), Some("2.12.2".into()))
        );
    }
}
