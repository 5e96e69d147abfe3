//! `leakscope capture`'s command line: its flags merged over the config file into
//! [`LiveOptions`]; the command itself is `leakscope::live::command`.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{anyhow, bail};
use leakscope::capture::live::{DEFAULT_BUFFER, DEFAULT_SNAPLEN, LiveConfig};
use leakscope::capture::pcapdroid_udp::UdpConfig;
use leakscope::live::config::{DaemonConfig, LoadedConfig, SizeValue, parse_size};
use leakscope::live::{self, LiveOptions};
use leakscope::output::{OutputOptions, Rotate};

use super::CaptureArgs;

/// Flags over file over defaults.
fn options(a: &CaptureArgs) -> anyhow::Result<LiveOptions> {
    let loaded = match &a.config {
        Some(p) => Some(LoadedConfig::load(p).map_err(|e| anyhow!(e))?),
        None => None,
    };
    let empty = DaemonConfig::default();
    let c = loaded.as_ref().map_or(&empty, |l| &l.config);
    let udp = match &a.udp {
        Some(bind) => Some(udp_config(a, bind)?),
        None => None,
    };
    let interface = a.interface.clone().or(c.interface.clone());
    let Some(interface) = interface.or(udp.as_ref().map(|u| format!("udp:{}", u.bind))) else {
        bail!(
            "no interface: give -i IFACE or `interface` in the config (see `leakscope interfaces`)"
        );
    };
    let rotate =
        match (&a.rotate, loaded.as_ref().and_then(|l| l.config.rotate.as_ref().map(|r| (l, r)))) {
            (Some(t), _) => Some(Rotate::parse(t).map_err(|e| anyhow!("--rotate: {e}"))?),
            (None, Some((l, r))) => {
                Some(Rotate::parse(r.get_ref()).map_err(|e| anyhow!(l.error_at(r, e)))?)
            }
            (None, None) => None,
        };
    let buffer_size = match (
        &a.buffer_size,
        loaded.as_ref().and_then(|l| l.config.buffer_size.as_ref().map(|b| (l, b))),
    ) {
        (Some(t), _) => parse_size(t).map_err(|e| anyhow!("--buffer-size: {e}"))?,
        (None, Some((l, b))) => match b.get_ref() {
            SizeValue::Bytes(n) => *n,
            SizeValue::Text(t) => parse_size(t).map_err(|e| anyhow!(l.error_at(b, e)))?,
        },
        (None, None) => u64::from(DEFAULT_BUFFER),
    };
    let buffer_size = u32::try_from(buffer_size)
        .map_err(|_| anyhow!("buffer size {buffer_size}: at most 4G-1"))?;
    let mut local_networks = Vec::new();
    if a.local_networks.is_empty() {
        if let Some(l) = &loaded {
            for n in l.config.local_networks.iter().flatten() {
                local_networks.push(n.get_ref().parse().map_err(|e| {
                    anyhow!(l.error_at(n, format!("local network {:?}: {e}", n.get_ref())))
                })?);
            }
        }
    } else {
        for n in &a.local_networks {
            local_networks.push(n.parse().map_err(|e| anyhow!("--local-net {n:?}: {e}"))?);
        }
    }
    let flows = c.flows.as_ref();
    let flow = a.flow.config(flows);
    let exposure = super::exposure_config(
        local_networks,
        a.max_devices.or(flows.and_then(|s| s.max_devices)),
        a.oui_file.clone().or(c.oui_file.clone()),
        a.session_gap,
        a.policy.as_deref(),
        a.device_name.clone(),
    )?;
    let rules_dirs: Vec<PathBuf> = if a.rules_dir.is_empty() {
        c.rules_dir.clone().unwrap_or_default()
    } else {
        a.rules_dir.clone()
    };
    Ok(LiveOptions {
        capture: LiveConfig {
            interface,
            filter: leakscope::cli::inputs::filter_of(&a.filter_words, a.filter.as_deref())
                .map_err(|e| anyhow!(e))?
                .or(c.filter.clone()),
            snaplen: a.snaplen.or(c.snaplen).unwrap_or(DEFAULT_SNAPLEN),
            buffer_size,
            promisc: !a.no_promisc && c.promisc.unwrap_or(true),
            ..LiveConfig::default()
        },
        out: a.out.clone().or(c.out.clone()).unwrap_or_else(|| PathBuf::from("out")),
        output: OutputOptions {
            rotate,
            compress_rotated: a.compress_rotated || c.compress_rotated.unwrap_or(false),
        },
        flow,
        stats_interval: Duration::from_secs(
            a.stats_interval.or(c.stats_interval).unwrap_or(60).max(1),
        ),
        user: a.user.clone().or(c.user.clone()),
        write_pcap: a
            .write_pcap
            .clone()
            .or(c.write_pcap.clone())
            .map(|p| (p, a.write_pcap_keep.or(c.write_pcap_keep).unwrap_or_default())),
        rules_dirs,
        asn_db: a.asn_db.clone().or(c.asn_db.clone()),
        country_db: a.country_db.clone().or(c.country_db.clone()),
        classify: !a.flows_only,
        exposure,
        sqlite: a.files.sqlite.clone(),
        csv: a.files.csv.clone(),
        parquet: a.files.parquet.clone(),
        anonymize: a.anonymize.config()?,
        handoff: a.handoff,
        udp,
        device_name: a.device_name.clone(),
        count: a.limit.count,
        duration: a.limit.duration,
        live_view: a.live,
    })
}

/// `--udp` and its companions.
fn udp_config(a: &CaptureArgs, bind: &str) -> anyhow::Result<UdpConfig> {
    let bind = UdpConfig::parse_bind(bind).map_err(|e| anyhow!("--udp {e}"))?;
    let mut cfg = UdpConfig::new(bind);
    if !a.allow.is_empty() {
        cfg.allow = a
            .allow
            .iter()
            .map(|n| n.parse().map_err(|e| anyhow!("--allow {n:?}: {e}")))
            .collect::<anyhow::Result<_>>()?;
    }
    if let Some(n) = a.udp_max_senders {
        cfg.max_senders = n.max(1);
    }
    if let Some(s) = a.udp_sender_timeout {
        cfg.sender_timeout = Duration::from_secs(s.max(1));
    }
    Ok(cfg)
}

/// Runs `leakscope capture` (`live`: with the screen of `--live`, as `leakscope watch`).
pub fn run(a: &CaptureArgs, live: bool) -> anyhow::Result<ExitCode> {
    live::command::capture(&LiveOptions { live_view: live, ..options(a)? })?;
    Ok(ExitCode::SUCCESS)
}

/// Runs `leakscope interfaces`.
pub fn interfaces() -> anyhow::Result<ExitCode> {
    live::command::interfaces()?;
    Ok(ExitCode::SUCCESS)
}
