//! `leakscope interfaces`: the capture interfaces with their addresses and flags, marking the
//! ones that look like a hotspot the phone is on. Best effort; the reasons are printed.

use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;

/// One interface as libpcap sees it, with the hotspot guess.
#[derive(Clone, Debug)]
pub struct InterfaceInfo {
    /// Name to pass to `-i`.
    pub name: String,
    /// libpcap's description, if any.
    pub description: Option<String>,
    /// Addresses with prefix lengths (when a netmask was given).
    pub addresses: Vec<(IpAddr, Option<u8>)>,
    /// Administratively up.
    pub up: bool,
    /// Carrier present.
    pub running: bool,
    /// Wireless (libpcap flag or `/sys/class/net/IF/wireless`).
    pub wireless: bool,
    /// Loopback.
    pub loopback: bool,
    /// Why this looks like a hotspot; empty when it does not.
    pub hotspot: Vec<String>,
}

/// How the guess is made, printed under the list.
pub const HEURISTIC: &str = "\
hotspot guess: an interface is marked when (a) it holds 10.42.0.1/24, NetworkManager's shared
(hotspot) network, or (b) it holds the .1 address of a private /24 while a DHCP server listens on
UDP port 67 (dnsmasq, hostapd setups), or (c) `iw dev IF info` reports type AP. Capture on the
marked interface to see the phone's traffic; the guess can be wrong, check with `ip addr`.";

/// libpcap could not list the interfaces.
#[derive(Debug, thiserror::Error)]
#[error("cannot list interfaces: {0}")]
pub struct ListError(#[from] pcap::Error);

/// Lists the interfaces libpcap can open.
pub fn list() -> Result<Vec<InterfaceInfo>, ListError> {
    let devices = pcap::Device::list()?;
    let dhcp = dhcp_listeners(Path::new("/proc/net/udp"));
    Ok(devices
        .into_iter()
        .map(|d| {
            let addresses: Vec<(IpAddr, Option<u8>)> =
                d.addresses.iter().map(|a| (a.addr, a.netmask.and_then(prefix_len))).collect();
            let sys = Path::new("/sys/class/net").join(&d.name);
            let wireless = d.flags.is_wireless()
                || sys.join("wireless").exists()
                || sys.join("phy80211").exists();
            let ap = wireless && iw_type_is_ap(&d.name);
            let hotspot = hotspot_reasons(&addresses, &dhcp, ap);
            InterfaceInfo {
                name: d.name,
                description: d.desc,
                addresses,
                up: d.flags.is_up(),
                running: d.flags.is_running(),
                wireless,
                loopback: d.flags.is_loopback(),
                hotspot,
            }
        })
        .collect())
}

/// Prefix length of a contiguous netmask.
fn prefix_len(mask: IpAddr) -> Option<u8> {
    let (bits, width) = match mask {
        IpAddr::V4(m) => (u128::from(u32::from(m)) << 96, 32),
        IpAddr::V6(m) => (u128::from(m), 128),
    };
    let ones = bits.leading_ones() as u8;
    (bits.count_ones() as u8 == ones && ones <= width).then_some(ones)
}

/// Why these addresses look like a hotspot's. `dhcp` holds the IPv4 addresses a DHCP server is
/// bound to (`0.0.0.0` for all).
pub fn hotspot_reasons(addrs: &[(IpAddr, Option<u8>)], dhcp: &[Ipv4Addr], ap: bool) -> Vec<String> {
    let mut why = Vec::new();
    for &(addr, len) in addrs {
        let IpAddr::V4(a) = addr else { continue };
        if a == Ipv4Addr::new(10, 42, 0, 1) {
            why.push("NetworkManager shared network 10.42.0.1/24".to_owned());
        } else if a.is_private()
            && len == Some(24)
            && a.octets()[3] == 1
            && dhcp.iter().any(|d| *d == a || d.is_unspecified())
        {
            why.push(format!("gateway {a}/24 of a private network with a DHCP server on port 67"));
        }
    }
    if ap {
        why.push("wireless interface in AP mode (iw)".to_owned());
    }
    why
}

/// IPv4 addresses with a socket bound to UDP port 67, from `/proc/net/udp`.
fn dhcp_listeners(proc_udp: &Path) -> Vec<Ipv4Addr> {
    let Ok(text) = std::fs::read_to_string(proc_udp) else { return Vec::new() };
    parse_proc_udp(&text, 67)
}

/// Parses `/proc/net/udp` lines (`sl local_address …`, addresses as little-endian hex).
fn parse_proc_udp(text: &str, port: u16) -> Vec<Ipv4Addr> {
    text.lines()
        .skip(1)
        .filter_map(|l| {
            let local = l.split_whitespace().nth(1)?;
            let (ip, p) = local.split_once(':')?;
            if u16::from_str_radix(p, 16).ok()? != port {
                return None;
            }
            let raw = u32::from_str_radix(ip, 16).ok()?;
            Some(Ipv4Addr::from(raw.swap_bytes()))
        })
        .collect()
}

/// Whether `iw dev NAME info` says `type AP`; `false` when `iw` is missing.
fn iw_type_is_ap(name: &str) -> bool {
    std::process::Command::new("iw")
        .args(["dev", name, "info"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .is_some_and(|o| String::from_utf8_lossy(&o.stdout).lines().any(|l| l.trim() == "type AP"))
}

impl std::fmt::Display for InterfaceInfo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let flags: Vec<&str> = [
            (self.up, "up"),
            (self.running, "running"),
            (self.wireless, "wireless"),
            (self.loopback, "loopback"),
        ]
        .iter()
        .filter(|(on, _)| *on)
        .map(|(_, n)| *n)
        .collect();
        write!(f, "{:<16} [{}]", self.name, flags.join(","))?;
        for (a, len) in &self.addresses {
            match len {
                Some(l) => write!(f, " {a}/{l}")?,
                None => write!(f, " {a}")?,
            }
        }
        if let Some(d) = &self.description {
            write!(f, " ({d})")?;
        }
        for why in &self.hotspot {
            write!(f, "\n{:<16}   likely hotspot: {why}", "")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proc_udp_addresses() {
        let text = "  sl  local_address rem_address   st\n\
            0: 0100A8C0:0043 00000000:0000 07\n\
            1: 00000000:0044 00000000:0000 07\n\
            2: 00000000:0043 00000000:0000 07\n";
        assert_eq!(
            parse_proc_udp(text, 67),
            [Ipv4Addr::new(192, 168, 0, 1), Ipv4Addr::UNSPECIFIED]
        );
    }

    #[test]
    fn hotspot_guesses() {
        let nm = [(IpAddr::from([10, 42, 0, 1]), Some(24))];
        assert_eq!(hotspot_reasons(&nm, &[], false).len(), 1);
        let lan = [(IpAddr::from([192, 168, 4, 1]), Some(24))];
        assert!(hotspot_reasons(&lan, &[], false).is_empty());
        assert_eq!(hotspot_reasons(&lan, &[Ipv4Addr::UNSPECIFIED], false).len(), 1);
        let client = [(IpAddr::from([192, 168, 4, 23]), Some(24))];
        assert!(hotspot_reasons(&client, &[Ipv4Addr::UNSPECIFIED], false).is_empty());
        assert_eq!(hotspot_reasons(&client, &[], true).len(), 1);
        assert_eq!(prefix_len(IpAddr::from([255, 255, 255, 0])), Some(24));
        assert_eq!(prefix_len(IpAddr::from([255, 0, 255, 0])), None);
    }
}
