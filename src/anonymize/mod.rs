//! Keyed pseudonyms for sharing logs: device addresses, MACs and device host names are replaced,
//! consistently across every output, while server addresses (the finding) stay.
//!
//! - **Which addresses**: an address is a device's when it is not globally routable (RFC 1918,
//!   CGNAT 100.64/10, link-local, loopback, IPv6 ULA fc00::/7 and link-local fe80::/10), or when it
//!   lies in a prefix given with `--anonymize-local` (e.g. a home network's public IPv6 /64). The
//!   choice depends on the address alone, so an address is never kept in one record and replaced
//!   in another. Multicast, broadcast and unspecified addresses identify nobody and stay.
//! - **How**: Crypto-PAn (AES-128) over the host bits, keeping the bits of the range the address
//!   is in (`192.168.0.0/16` stays `192.168.x.y`; a configured /64 stays that /64), so pseudonyms
//!   stay recognisably local, never collide with a real server address, and two devices in one /24
//!   stay in one /24.
//! - **MACs**: a keyed PRF (AES-128) of the whole address, marked locally administered; with
//!   `keep_oui` the vendor prefix (OUI) is kept and only the device half replaced. Keeping the OUI
//!   tells researchers the vendor (a useful signal) but narrows who the device is: off by default.
//!   Multicast and broadcast MACs stay.
//! - **Names**: a name is a device's by what it is, not by its suffix: a DHCP host name or
//!   client id; a name whose first label is a DHCP host name seen (`alices-iphone.fritz.box`);
//!   a name DNS answered with a device address (`nas.station` → 192.168.1.10); a bare name; a
//!   reverse lookup of a device address; a name under the special-use local domains (`.local`,
//!   `.home.arpa`). Those become `h-` + 16 hex chars of HMAC-SHA256. A server name that is an
//!   address literal (`Host: 192.168.1.1:8080`, an SNI of `[fe80::1]`) is the address: a device's
//!   is pseudonymised like the address, port kept. Names are learnt as events pass (bounded, see
//!   [`Learnt`]): a device name first seen in a record written *before* its DHCP message or DNS
//!   answer stays.
//! - **Vendors**: the OUI vendor name of a device goes with the OUI: dropped unless `keep_oui`.
//! - **Keys**: HKDF-SHA256 from the passphrase (salt `leakscope-anonymize-v1`), one sub-key per use.

mod cryptopan;
mod sink;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use aes::Aes128;
use aes::cipher::{Array, BlockCipherEncrypt, KeyInit};
use hkdf::Hkdf;
use hkdf::hmac::{Hmac, Mac};
use ipnet::IpNet;
use sha2::Sha256;

pub use cryptopan::CryptoPan;
pub use sink::AnonymizeSink;

/// What to anonymise and with which key.
#[derive(Clone)]
pub struct AnonymizeConfig {
    /// The secret: a passphrase or the bytes of a key file. The same key gives the same
    /// pseudonyms in every run, so logs from several runs can be joined.
    pub key: Vec<u8>,
    /// Keep MAC vendor prefixes (OUI).
    pub keep_oui: bool,
    /// Extra prefixes whose addresses are devices' (besides the non-global ranges).
    pub local_prefixes: Vec<IpNet>,
}

impl std::fmt::Debug for AnonymizeConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the key.
        f.debug_struct("AnonymizeConfig")
            .field("keep_oui", &self.keep_oui)
            .field("local_prefixes", &self.local_prefixes)
            .finish_non_exhaustive()
    }
}

const SALT: &[u8] = b"leakscope-anonymize-v1";

/// Non-global IPv4 ranges whose addresses belong to devices.
const LOCAL_V4: [(u32, u8); 6] = [
    (0x0a00_0000, 8),  // 10/8
    (0xac10_0000, 12), // 172.16/12
    (0xc0a8_0000, 16), // 192.168/16
    (0x6440_0000, 10), // 100.64/10 (CGNAT)
    (0xa9fe_0000, 16), // 169.254/16
    (0x7f00_0000, 8),  // 127/8
];

/// Names learnt to be devices', oldest forgotten first beyond [`Learnt::MAX`].
#[derive(Default)]
pub struct Learnt {
    set: std::collections::HashSet<String>,
    order: std::collections::VecDeque<String>,
}

impl Learnt {
    /// Names kept (a home network has tens; this bounds a flood of DHCP or DNS messages).
    pub const MAX: usize = 65_536;

    fn add(&mut self, name: &str) {
        let name = name.trim_end_matches('.').to_ascii_lowercase();
        if name.is_empty() || self.set.contains(&name) {
            return;
        }
        if self.order.len() >= Self::MAX
            && let Some(old) = self.order.pop_front()
        {
            self.set.remove(&old);
        }
        self.order.push_back(name.clone());
        self.set.insert(name);
    }

    fn contains(&self, name: &str) -> bool {
        self.set.contains(name)
    }
}

/// The keyed pseudonym functions.
pub struct Anonymizer {
    pan: CryptoPan,
    mac: Aes128,
    name_key: [u8; 32],
    keep_oui: bool,
    local: Vec<IpNet>,
    /// DHCP host names seen (lowercase): a name whose first label is one is a device's.
    host_names: Learnt,
    /// Names DNS answered with a device address.
    device_names: Learnt,
    /// Names DNS answered with a server address: never a device's by their first label
    /// (a phone calling itself `android` does not make `android.clients.google.com` its own).
    server_names: Learnt,
}

impl Anonymizer {
    /// Derives the sub-keys from `cfg.key`.
    pub fn new(cfg: &AnonymizeConfig) -> Self {
        let hk = Hkdf::<Sha256>::new(Some(SALT), &cfg.key);
        let mut pan = [0u8; 32];
        let mut mac = [0u8; 16];
        let mut name_key = [0u8; 32];
        // Output lengths are far below HKDF's 255-block limit: expand cannot fail.
        hk.expand(b"ip cryptopan", &mut pan).expect("hkdf length");
        hk.expand(b"mac", &mut mac).expect("hkdf length");
        hk.expand(b"name", &mut name_key).expect("hkdf length");
        Anonymizer {
            pan: CryptoPan::new(&pan),
            mac: Aes128::new(&Array::from(mac)),
            name_key,
            keep_oui: cfg.keep_oui,
            local: cfg.local_prefixes.iter().map(|p| p.trunc()).collect(),
            host_names: Learnt::default(),
            device_names: Learnt::default(),
            server_names: Learnt::default(),
        }
    }

    /// Bits of `ip` that stay (the length of the device range it is in), or `None` when the
    /// address is not a device's and stays whole.
    fn device_prefix(&self, ip: IpAddr) -> Option<u8> {
        // A configured prefix wins: it can be narrower than the range (a /64 of fe80::/10 — no;
        // of 2000::/3), and the most specific match keeps the most bits.
        let configured =
            self.local.iter().filter(|n| n.contains(&ip)).map(|n| n.prefix_len()).max();
        if configured.is_some() {
            return configured;
        }
        match ip {
            IpAddr::V4(a) => {
                let a = u32::from(a);
                LOCAL_V4
                    .iter()
                    .find(|(net, len)| a & (u32::MAX << (32 - len)) == *net)
                    .map(|&(_, len)| len)
            }
            IpAddr::V6(a) => {
                if let Some(v4) = a.to_ipv4_mapped() {
                    return self.device_prefix(IpAddr::V4(v4)).map(|l| l + 96);
                }
                let seg = a.segments()[0];
                if seg & 0xfe00 == 0xfc00 {
                    Some(7) // ULA
                } else if seg & 0xffc0 == 0xfe80 {
                    Some(64) // link-local: keep fe80::/64, replace the interface id
                } else if a.is_loopback() {
                    Some(128)
                } else {
                    None
                }
            }
        }
    }

    /// Whether `ip` is replaced.
    pub fn is_device(&self, ip: IpAddr) -> bool {
        self.device_prefix(ip).is_some_and(|l| l < if ip.is_ipv4() { 32 } else { 128 })
    }

    /// The pseudonym of `ip`: devices' addresses are replaced (keeping their range), others stay.
    pub fn ip(&self, ip: IpAddr) -> IpAddr {
        let Some(keep) = self.device_prefix(ip) else { return ip };
        match ip {
            IpAddr::V4(a) if keep < 32 => {
                let a = u32::from(a);
                let mask = u32::MAX << (32 - keep);
                IpAddr::V4(Ipv4Addr::from((a & mask) | (self.pan.ipv4(a) & !mask)))
            }
            IpAddr::V6(a) if keep < 128 => {
                let a = u128::from(a);
                let mask = if keep == 0 { 0 } else { u128::MAX << (128 - keep) };
                IpAddr::V6(Ipv6Addr::from((a & mask) | (self.pan.ipv6(a) & !mask)))
            }
            _ => ip,
        }
    }

    /// The pseudonym of an address that identifies the user although it is public: the public
    /// (NAT) address a STUN server reports. Replaced whole, prefix-preserving.
    pub fn public_ip(&self, ip: IpAddr) -> IpAddr {
        match ip {
            IpAddr::V4(a) => IpAddr::V4(Ipv4Addr::from(self.pan.ipv4(u32::from(a)))),
            IpAddr::V6(a) => IpAddr::V6(Ipv6Addr::from(self.pan.ipv6(u128::from(a)))),
        }
    }

    /// A device id as the exposure map writes it: a MAC, else a local address, else a name.
    pub fn device_id(&self, s: &str) -> String {
        if parse_mac(s).is_some() {
            return self.mac_text(s);
        }
        match s.parse::<IpAddr>() {
            Ok(ip) => self.ip(ip).to_string(),
            Err(_) => self.name(s),
        }
    }

    /// Exposure evidence, `signal=value` with an optional ` (lan)` note: values that identify
    /// the device or its owner are rewritten, the rest (user agents, fingerprints, cookie names,
    /// Meta endpoints) stays; `None`: the item goes (a vendor name without `keep_oui`).
    pub fn exposure_evidence(&self, text: &str) -> Option<String> {
        let (body, note) = match text.strip_suffix(" (lan)") {
            Some(b) => (b, " (lan)"),
            None => (text, ""),
        };
        let Some((signal, value)) = body.split_once('=') else { return Some(text.to_owned()) };
        let value = match signal {
            "dhcp_hostname" | "dhcp_client_id" | "hostname" => self.name(value),
            // The vendor names the OUI: it goes with it.
            "oui_vendor" if !self.keep_oui => return None,
            // Server names (an endpoint's sample is its server name or address).
            s if s.starts_with("endpoint:") => self.dns_name(value),
            "mac" | "device_mac" => self.mac_text(value),
            "public_address" | "global_address" => match value.parse::<IpAddr>() {
                Ok(ip) => self.public_ip(ip).to_string(),
                Err(_) => self.name(value),
            },
            _ => match value.parse::<IpAddr>() {
                Ok(ip) => self.ip(ip).to_string(),
                Err(_) => value.to_owned(),
            },
        };
        Some(format!("{signal}={value}{note}"))
    }

    /// Whether a piece of exposure evidence must go entirely: the (masked) phone number.
    pub fn drops_evidence(&self, text: &str) -> bool {
        text.starts_with("legacy_phone=")
    }

    /// An exposure's `value` as it may be shared: the phone number goes, public addresses get
    /// their pseudonym, the rest (countries, versions, carriers) is the finding.
    pub fn exposure_value(&self, field: &str, value: &str) -> Option<String> {
        if field == "phone_number" {
            return None;
        }
        Some(match value.parse::<IpAddr>() {
            Ok(ip) => self.public_ip(ip).to_string(),
            Err(_) => value.to_owned(),
        })
    }

    /// [`ip`](Self::ip) for an IPv4 address (its pseudonym is IPv4 too).
    pub fn ipv4(&self, a: Ipv4Addr) -> Ipv4Addr {
        match self.ip(IpAddr::V4(a)) {
            IpAddr::V4(v) => v,
            IpAddr::V6(_) => a,
        }
    }

    /// The pseudonym of a MAC: keyed, locally administered; the OUI kept when configured.
    /// Group (multicast/broadcast) addresses stay.
    pub fn mac(&self, m: [u8; 6]) -> [u8; 6] {
        if m[0] & 1 == 1 {
            return m;
        }
        let mut block = [0u8; 16];
        block[..6].copy_from_slice(&m);
        let mut block = Array::from(block);
        self.mac.encrypt_block(&mut block);
        let mut out = [0u8; 6];
        out.copy_from_slice(&block[..6]);
        if self.keep_oui {
            out[..3].copy_from_slice(&m[..3]);
        } else {
            // Locally administered, unicast: cannot be mistaken for a real vendor's address.
            out[0] = (out[0] & 0xfc) | 0x02;
        }
        out
    }

    /// A MAC as text (`aa:bb:..`); text that is not a MAC is hashed as a name.
    pub fn mac_text(&self, s: &str) -> String {
        match parse_mac(s) {
            Some(m) => crate::record::flow::mac_string(self.mac(m)),
            None => self.name(s),
        }
    }

    /// A keyed pseudonym for a device-tied name or identifier: `h-` + 16 hex chars.
    pub fn name(&self, s: &str) -> String {
        let mut mac =
            <Hmac<Sha256> as KeyInit>::new_from_slice(&self.name_key).expect("hmac takes any key");
        mac.update(s.to_ascii_lowercase().as_bytes());
        let tag = mac.finalize().into_bytes();
        let mut out = String::with_capacity(18);
        out.push_str("h-");
        crate::record::hex::push_hex(&mut out, &tag[..8]);
        out
    }

    /// Notes a DHCP host name: names starting with it are the device's.
    pub fn learn_host_name(&mut self, name: &str) {
        self.host_names.add(name);
    }

    /// Notes a DNS answer: a name answered with a device address is a device's.
    pub fn learn_answer(&mut self, name: &str, addr: IpAddr) {
        if self.is_device(addr) {
            self.device_names.add(name);
        } else if !addr.is_unspecified() && !addr.is_loopback() {
            self.server_names.add(name);
        }
    }

    /// Whether `name` (lowercase, no trailing dot) names a local device (see the module doc).
    fn is_device_name(&self, lower: &str) -> bool {
        let first = lower.split('.').next().unwrap_or("");
        // Domains reserved for local use (RFC 6762 mDNS, RFC 8375, RFC 6761, ICANN's
        // `.internal`): nothing else lives there. Conventions such as `.lan` or `.fritz.box`
        // are not reserved: names there are known by a DHCP host name or a DNS answer.
        let special_use =
            [".local", ".home.arpa", ".internal", ".localhost"].iter().any(|s| lower.ends_with(s));
        (!lower.is_empty() && !lower.contains('.'))
            || special_use
            || (self.host_names.contains(first) && !self.server_names.contains(lower))
            || self.device_names.contains(lower)
            || reverse_lookup_addr(lower).is_some_and(|ip| self.is_device(ip))
    }

    /// A DNS or server name: an address literal is treated as the address; a device's name is
    /// hashed; the rest (servers' names) stays.
    pub fn dns_name(&self, name: &str) -> String {
        if let Some(literal) = self.address_literal(name) {
            return literal;
        }
        let lower = name.trim_end_matches('.').to_ascii_lowercase();
        if self.is_device_name(&lower) { self.name(&lower) } else { name.to_owned() }
    }

    /// `name` rewritten as an address when it is one (`192.168.1.1`, `192.168.1.1:8080`,
    /// `[fe80::1]:443`, `fe80::1`), as an SNI or Host header may hold.
    fn address_literal(&self, name: &str) -> Option<String> {
        if let Ok(ip) = name.parse::<IpAddr>() {
            return Some(self.ip(ip).to_string());
        }
        if let Ok(sa) = name.parse::<std::net::SocketAddr>() {
            return Some(std::net::SocketAddr::new(self.ip(sa.ip()), sa.port()).to_string());
        }
        let inner = name.strip_prefix('[')?.strip_suffix(']')?;
        let ip = inner.parse::<std::net::Ipv6Addr>().ok()?;
        Some(format!("[{}]", self.ip(IpAddr::V6(ip))))
    }

    /// Whether the OUI (and the vendor name it gives) may be shown.
    pub fn keep_oui(&self) -> bool {
        self.keep_oui
    }

    /// Evidence text: addresses inside (`relay:IP:PORT`, `call_socket:IP:PORT`) and DNS names
    /// are rewritten; the rest stays.
    pub fn evidence(&self, text: &str) -> String {
        let Some((tag, value)) = text.split_once(':') else { return text.to_owned() };
        if let Ok(sa) = value.parse::<std::net::SocketAddr>() {
            return format!("{tag}:{}", std::net::SocketAddr::new(self.ip(sa.ip()), sa.port()));
        }
        if let Ok(ip) = value.parse::<IpAddr>() {
            return format!("{tag}:{}", self.ip(ip));
        }
        match tag {
            "dns" | "sni" | "http" | "cert" | "carried" => {
                format!("{tag}:{}", self.dns_name(value))
            }
            _ => text.to_owned(),
        }
    }
}

fn parse_mac(s: &str) -> Option<[u8; 6]> {
    let mut out = [0u8; 6];
    let mut parts = s.split(':');
    for b in &mut out {
        *b = u8::from_str_radix(parts.next()?, 16).ok()?;
    }
    parts.next().is_none().then_some(out)
}

/// The address a reverse-lookup name (`4.3.2.1.in-addr.arpa`, nibbles `.ip6.arpa`) asks about.
fn reverse_lookup_addr(name: &str) -> Option<IpAddr> {
    if let Some(rest) = name.strip_suffix(".in-addr.arpa") {
        let mut o: Vec<u8> = rest.split('.').map(|p| p.parse().ok()).collect::<Option<_>>()?;
        o.reverse();
        // Partial names (a /24 zone) still name a device range: pad with zeros.
        o.resize(4, 0);
        return Some(IpAddr::V4(Ipv4Addr::new(o[0], o[1], o[2], o[3])));
    }
    if let Some(rest) = name.strip_suffix(".ip6.arpa") {
        let mut v = 0u128;
        let nibbles: Vec<&str> = rest.split('.').collect();
        if nibbles.len() > 32 {
            return None;
        }
        for (i, n) in nibbles.iter().rev().enumerate() {
            let d = u128::from(u8::from_str_radix(n, 16).ok()?);
            v |= d << (124 - 4 * i);
        }
        return Some(IpAddr::V6(Ipv6Addr::from(v)));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn anon(key: &str) -> Anonymizer {
        Anonymizer::new(&AnonymizeConfig {
            key: key.as_bytes().to_vec(),
            keep_oui: false,
            local_prefixes: vec!["2a01:db8:1:2::/64".parse().unwrap()],
        })
    }

    #[test]
    fn device_addresses_replaced_servers_kept() {
        let a = anon("k");
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        assert_eq!(a.ip(ip("157.240.1.53")), ip("157.240.1.53"));
        assert_eq!(a.ip(ip("2a03:2880::1")), ip("2a03:2880::1"));
        assert_eq!(a.ip(ip("255.255.255.255")), ip("255.255.255.255"));
        assert_eq!(a.ip(ip("224.0.0.251")), ip("224.0.0.251"));
        let p = a.ip(ip("192.168.1.20"));
        assert_ne!(p, ip("192.168.1.20"));
        assert!(matches!(p, IpAddr::V4(v) if v.octets()[..2] == [192, 168]));
        let v6 = a.ip(ip("2a01:db8:1:2:aaaa:bbbb:cccc:dddd"));
        assert_ne!(v6, ip("2a01:db8:1:2:aaaa:bbbb:cccc:dddd"));
        assert!("2a01:db8:1:2::/64".parse::<IpNet>().unwrap().contains(&v6));
        let ll = a.ip(ip("fe80::1234:5678"));
        assert!(matches!(ll, IpAddr::V6(v) if v.segments()[..4] == [0xfe80, 0, 0, 0]));
    }

    #[test]
    fn prefix_relations_hold() {
        let a = anon("k");
        let x = a.ip("10.1.2.3".parse().unwrap());
        let y = a.ip("10.1.2.200".parse().unwrap());
        let z = a.ip("10.1.3.3".parse().unwrap());
        let (IpAddr::V4(x), IpAddr::V4(y), IpAddr::V4(z)) = (x, y, z) else { panic!() };
        assert_eq!(x.octets()[..3], y.octets()[..3], "one /24 stays one /24");
        assert_ne!(x.octets()[..3], z.octets()[..3]);
        assert_eq!(x.octets()[..2], z.octets()[..2], "one /16 stays one /16");
    }

    #[test]
    fn macs_and_names() {
        let a = anon("k");
        let m = [0x3c, 0x22, 0xfb, 0x01, 0x02, 0x03];
        let p = a.mac(m);
        assert_ne!(p, m);
        assert_eq!(p[0] & 3, 2, "locally administered unicast");
        assert_eq!(a.mac([0xff; 6]), [0xff; 6]);
        let keep = Anonymizer::new(&AnonymizeConfig {
            key: b"k".to_vec(),
            keep_oui: true,
            local_prefixes: vec![],
        });
        assert_eq!(keep.mac(m)[..3], m[..3]);
        assert_ne!(keep.mac(m)[3..], m[3..]);
        assert_eq!(a.name("Johns-iPhone"), a.name("johns-iphone"));
        assert_ne!(a.name("Johns-iPhone"), anon("other").name("Johns-iPhone"));
        assert_eq!(a.dns_name("g.whatsapp.net"), "g.whatsapp.net");
        assert!(a.dns_name("Johns-iPhone.local").starts_with("h-"));
        assert!(a.dns_name("20.1.168.192.in-addr.arpa").starts_with("h-"));
        assert_eq!(a.dns_name("53.1.240.157.in-addr.arpa"), "53.1.240.157.in-addr.arpa");
        let ev = a.evidence("call_socket:192.168.1.20:40000");
        assert!(!ev.contains("192.168.1.20:") && ev.starts_with("call_socket:192.168."));
        assert_eq!(a.evidence("relay:157.240.1.1:3478"), "relay:157.240.1.1:3478");
    }

    #[test]
    fn names_by_what_they_are() {
        let mut a = anon("k");
        let v4 = |s: &str| s.parse::<IpAddr>().unwrap();
        // Address literals as an SNI or Host header holds them.
        assert!(
            a.dns_name("192.168.1.1").starts_with("192.168.")
                && a.dns_name("192.168.1.1") != "192.168.1.1"
        );
        let hp = a.dns_name("192.168.1.1:8080");
        assert!(hp.ends_with(":8080") && !hp.starts_with("192.168.1.1:"), "{hp}");
        assert_ne!(a.dns_name("[fe80::1]"), "[fe80::1]");
        assert_eq!(a.dns_name("157.240.1.35"), "157.240.1.35");
        // Device names under any suffix: by a DHCP host name, or a DNS answer.
        assert_eq!(a.dns_name("alices-iphone.fritz.box"), "alices-iphone.fritz.box");
        a.learn_host_name("Alices-iPhone");
        assert!(a.dns_name("alices-iphone.fritz.box").starts_with("h-"));
        a.learn_answer("nas.station", v4("192.168.1.10"));
        assert!(a.dns_name("NAS.station.").starts_with("h-"));
        a.learn_host_name("android");
        a.learn_answer("android.clients.google.com", v4("142.250.1.1"));
        assert_eq!(a.dns_name("android.clients.google.com"), "android.clients.google.com");
        assert!(a.exposure_evidence("oui_vendor=Apple, Inc. (lan)").is_none());
    }
}
