//! Activities read from one flow record and its segments: message bursts on chat connections
//! (after learning the connection's own keepalive), media items, registration, telemetry. Calls
//! span flows: see `calls.rs`.

use crate::record::activity::{ActivityLog, Segment};
use crate::record::{FlowRecord, Role};

use super::Heuristics;
use crate::record::exposure::{ActivityEvent, ActivityKind};

const NS: f64 = 1e9;

/// A run of non-keepalive traffic on a chat connection.
#[derive(Clone, Debug, PartialEq)]
pub struct Burst {
    /// Start, epoch seconds.
    pub start: f64,
    /// End, epoch seconds.
    pub end: f64,
    /// Data packets.
    pub packets: u64,
    /// Bytes sent.
    pub up: u64,
    /// Bytes received.
    pub down: u64,
    /// Chat flow.
    pub uid: String,
    /// Kind of client.
    pub client: ChatClient,
    /// The chat flow's Android app (PCAPdroid captures), as on its record.
    pub app: Option<String>,
    /// Its Android uid.
    pub app_uid: Option<i32>,
}

impl Burst {
    /// What sessions are grouped by besides the device: the app's name, else its uid.
    pub fn app_key(&self) -> Option<String> {
        self.app.clone().or_else(|| self.app_uid.map(|u| format!("uid:{u}")))
    }
}

/// The kind of client on a WhatsApp chat connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChatClient {
    /// The app, over the chat protocol (endpoint `whatsapp.chat`).
    App,
    /// WhatsApp Web's websocket (endpoint `whatsapp.web`).
    Web,
}

impl ChatClient {
    /// The client kind of a WhatsApp chat endpoint's flow, `None` for every other flow.
    pub fn of(rec: &FlowRecord) -> Option<ChatClient> {
        if rec.service.as_deref() != Some("whatsapp") {
            return None;
        }
        match rec.role? {
            Role::Chat => Some(ChatClient::App),
            Role::Web => Some(ChatClient::Web),
            _ => None,
        }
    }

    /// As written in events (`client` of an activity, `clients` of a session).
    pub fn name(self) -> &'static str {
        match self {
            ChatClient::App => "app",
            ChatClient::Web => "web",
        }
    }

    /// The endpoint name of its chat connections.
    pub fn endpoint(self) -> &'static str {
        match self {
            ChatClient::App => "whatsapp.chat",
            ChatClient::Web => "whatsapp.web",
        }
    }
}

/// `sent` when the device sent at least 3/4 of the payload, `received` when at most 1/4, else
/// `both`.
pub fn direction(up: u64, down: u64) -> &'static str {
    match (up * 4, (up + down) * 3, up + down) {
        (u, three_q, _) if u >= three_q => "sent",
        (u, _, total) if u <= total => "received",
        _ => "both",
    }
}

/// A segment's payload seen from the device: (bytes sent, bytes received).
fn device_view(s: &Segment, local_is_orig: bool) -> (u64, u64) {
    if local_is_orig { (s.bytes_up, s.bytes_down) } else { (s.bytes_down, s.bytes_up) }
}

fn secs(ns: i64) -> f64 {
    round_us(ns as f64 / NS)
}

/// The connection's idle baseline: segments that are its own recurring keepalive, and the
/// largest payload a packet may have and still be idle traffic.
struct Baseline {
    idle: Vec<bool>,
    max_idle_payload: u16,
}

/// Learns a chat connection's keepalive. Segments no more than `burst_gap` apart form an
/// exchange (a ping and a pong a slow link apart are one); a small exchange (at most
/// `KA_MAX_PACKETS` data packets, none over `KA_MAX_PAYLOAD`) that recurs at least
/// `keepalive_repeats` times with the same bytes each way (within `keepalive_tolerance`) is the
/// keepalive. Its segments are idle; the payload limit for idle traffic is the floor
/// (`keepalive_floor`), raised to the learnt keepalive's largest packet.
fn baseline(segs: &[Segment], h: &Heuristics) -> Baseline {
    const KA_MAX_PACKETS: u64 = 4;
    const KA_MAX_PAYLOAD: u16 = 160;
    const KA_MAX_CANDIDATES: usize = 256;
    let gap = (h.burst_gap_secs * NS) as i64;
    // Exchanges: (first segment, last segment + 1, totals).
    let mut exchanges: Vec<(usize, usize, Segment)> = Vec::new();
    for (i, s) in segs.iter().enumerate() {
        match exchanges.last_mut() {
            Some((_, end, tot)) if s.start - tot.end < gap => {
                *end = i + 1;
                tot.merge(s);
            }
            _ => exchanges.push((i, i + 1, *s)),
        }
    }
    let small = |t: &Segment| t.packets() <= KA_MAX_PACKETS && t.max_payload() <= KA_MAX_PAYLOAD;
    let candidates: Vec<&(usize, usize, Segment)> =
        exchanges.iter().filter(|e| small(&e.2)).take(KA_MAX_CANDIDATES).collect();
    let tol = u64::from(h.keepalive_tolerance);
    let near = |a: &Segment, b: &Segment| {
        a.bytes_up.abs_diff(b.bytes_up) <= tol && a.bytes_down.abs_diff(b.bytes_down) <= tol
    };
    let mut idle = vec![false; segs.len()];
    let mut max_idle_payload = h.keepalive_floor;
    for (first, end, tot) in &candidates {
        let like = candidates.iter().filter(|c| near(tot, &c.2)).count();
        if like >= h.keepalive_repeats {
            idle[*first..*end].iter_mut().for_each(|i| *i = true);
            max_idle_payload = max_idle_payload.max(tot.max_payload());
        }
    }
    Baseline { idle, max_idle_payload }
}

/// Message bursts of a chat flow record: its non-keepalive segments (not the connection's
/// learnt keepalive, and with a packet bigger than idle traffic), merged while no more than
/// `burst_gap` apart. With `handshake`, segments that end before the handshake is over (the
/// first `handshake_secs` and until the server first answered) are not messages.
pub fn bursts(
    rec: &FlowRecord,
    log: &ActivityLog,
    h: &Heuristics,
    handshake: bool,
    (local_is_orig, client): (bool, ChatClient),
) -> Vec<Burst> {
    let segs = &log.segments;
    let base = baseline(segs, h);
    let open_end = (rec.ts + h.handshake_secs) * NS;
    // A connection the server never answered is all handshake.
    let handshake_end = match (handshake, log.first_down()) {
        (false, _) => f64::MIN,
        (true, Some(t)) => open_end.max(t as f64),
        (true, None) => f64::MAX,
    };
    let mut out: Vec<Burst> = Vec::new();
    for (i, s) in segs.iter().enumerate() {
        if base.idle[i]
            || s.max_payload() <= base.max_idle_payload
            || (s.end as f64) < handshake_end
        {
            continue;
        }
        let (start, end) = (secs(s.start), secs(s.end));
        let (up, down) = device_view(s, local_is_orig);
        match out.last_mut() {
            Some(last) if start - last.end <= h.burst_gap_secs => {
                last.end = end;
                last.packets += s.packets();
                last.up += up;
                last.down += down;
            }
            _ => out.push(Burst {
                start,
                end,
                packets: s.packets(),
                up,
                down,
                uid: rec.uid.clone(),
                client,
                app: rec.app.as_deref().map(str::to_owned),
                app_uid: rec.app_uid,
            }),
        }
    }
    out
}

/// Media items of a media flow record, each one: its segments (split by silence and by
/// request/response turns) merged across short stalls (a silence under `media_gap` that is not
/// a turn), kept when the busier direction moved at least `media_min_bytes`. An item is a
/// `media_upload` when the device sent more than it received, else a `media_download`.
pub fn media(
    rec: &FlowRecord,
    log: Option<&ActivityLog>,
    h: &Heuristics,
    device: &str,
    local_is_orig: bool,
) -> Vec<ActivityEvent> {
    let Some(log) = log.filter(|l| !l.segments.is_empty()) else {
        // No log (tracking began late or was off): the record is one item.
        let (up, down) = if local_is_orig {
            (rec.orig_bytes, rec.resp_bytes)
        } else {
            (rec.resp_bytes, rec.orig_bytes)
        };
        let span = (rec.ts, rec.ts + rec.duration);
        return item(rec, device, h, span, rec.orig_pkts + rec.resp_pkts, (up, down))
            .into_iter()
            .collect();
    };
    let turn_gap = crate::flow::activity::SEGMENT_GAP_NS;
    let stall = (h.media_gap_secs * NS) as i64;
    let mut items: Vec<Segment> = Vec::new();
    for s in &log.segments {
        match items.last_mut() {
            Some(it) if s.start - it.end >= turn_gap && s.start - it.end < stall => it.merge(s),
            _ => items.push(*s),
        }
    }
    items
        .iter()
        .filter_map(|s| {
            let span = (secs(s.start), secs(s.end));
            item(rec, device, h, span, s.packets(), device_view(s, local_is_orig))
        })
        .collect()
}

fn item(
    rec: &FlowRecord,
    device: &str,
    h: &Heuristics,
    span: (f64, f64),
    packets: u64,
    (up, down): (u64, u64),
) -> Option<ActivityEvent> {
    if up.max(down) < h.media_min_bytes {
        return None;
    }
    let kind = if up > down { ActivityKind::MediaUpload } else { ActivityKind::MediaDownload };
    let mut a = simple(rec, device, kind, span, packets, (up, down));
    a.direction = Some(if up > down { "sent" } else { "received" }.into());
    Some(a)
}

/// A one-flow activity (registration, telemetry) covering the whole record.
pub fn whole_flow(rec: &FlowRecord, device: &str, kind: ActivityKind) -> ActivityEvent {
    simple(
        rec,
        device,
        kind,
        (rec.ts, rec.ts + rec.duration),
        rec.orig_pkts + rec.resp_pkts,
        (rec.orig_bytes, rec.resp_bytes),
    )
}

fn simple(
    rec: &FlowRecord,
    device: &str,
    kind: ActivityKind,
    (start, end): (f64, f64),
    packets: u64,
    (up, down): (u64, u64),
) -> ActivityEvent {
    ActivityEvent {
        ts: round_us(start),
        device: device.to_owned(),
        activity: kind,
        end: round_us(end),
        duration: round_us(end - start),
        packets,
        bytes_up: up,
        bytes_down: down,
        endpoint: rec.endpoint.as_deref().map(str::to_owned),
        uids: vec![rec.uid.clone()],
        app: rec.app.as_deref().map(str::to_owned),
        app_uid: rec.app_uid,
        ..ActivityEvent::default()
    }
}

/// Rounds seconds to µs so JSON shows at most 6 decimals.
pub fn round_us(secs: f64) -> f64 {
    (secs * 1e6).round() / 1e6
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seg(at: f64, up: u64, down: u64, max: u16) -> Segment {
        let t = (at * NS) as i64;
        Segment {
            start: t,
            end: t + 100_000_000,
            bytes_up: up,
            bytes_down: down,
            pkts_up: u16::from(up > 0),
            pkts_down: u16::from(down > 0),
            max_up: if up > 0 { max } else { 0 },
            max_down: if down > 0 { max } else { 0 },
        }
    }

    #[test]
    fn recurring_lone_exchange_is_the_keepalive_and_raises_the_idle_limit() {
        let h = Heuristics::default();
        // A 72-byte ping with a 70-byte pong every 30 s, and one 71/300-byte exchange.
        let mut segs: Vec<Segment> = (0..5).map(|i| seg(f64::from(i) * 30.0, 72, 70, 72)).collect();
        segs.push(seg(200.0, 71, 300, 300));
        let b = baseline(&segs, &h);
        assert_eq!(b.idle, [true, true, true, true, true, false]);
        assert_eq!(b.max_idle_payload, 72);
        // Two repeats are not a baseline: the floor stays.
        let b = baseline(&segs[..2], &h);
        assert_eq!((b.idle, b.max_idle_payload), (vec![false, false], h.keepalive_floor));
    }

    #[test]
    fn ping_and_late_pong_are_one_exchange() {
        let h = Heuristics::default();
        // Ping and pong 1.5 s apart (a slow link): two segments, one exchange, four times.
        let segs: Vec<Segment> = (0..4)
            .flat_map(|i| {
                let t = f64::from(i) * 30.0;
                [seg(t, 72, 0, 72), seg(t + 1.5, 0, 69, 69)]
            })
            .collect();
        let b = baseline(&segs, &h);
        assert!(b.idle.iter().all(|&i| i), "{:?}", b.idle);
    }

    #[test]
    fn direction_by_share() {
        assert_eq!(direction(900, 100), "sent");
        assert_eq!(direction(100, 900), "received");
        assert_eq!(direction(500, 500), "both");
        assert_eq!(direction(0, 0), "sent");
    }
}
