//! Usage sessions: a device's message bursts (on any of its WhatsApp chat connections) grouped
//! while the quiet time between them stays under the session gap (default 5 minutes). Where
//! PCAPdroid names the app of the chat flows, sessions are per device and app: the caller hands
//! each app's bursts in separately.

#[cfg(test)]
use super::activity::ChatClient;
use super::activity::{Burst, round_us};
use crate::record::exposure::{SessionEvent, SessionStats};

/// A finished session and its bursts.
pub struct Session {
    /// The `session` event.
    pub event: SessionEvent,
    /// Its bursts, in time order.
    pub bursts: Vec<Burst>,
}

/// Groups `bursts` (any order, all of one app or all without app) into sessions separated by
/// more than `gap_secs`. Session ids are left empty: they are given when a session is written
/// (`S1`, `S2`, … in writing order).
pub fn build(device: &str, mut bursts: Vec<Burst>, gap_secs: f64) -> Vec<Session> {
    bursts.sort_by(|a, b| a.start.total_cmp(&b.start));
    let mut out: Vec<Session> = Vec::new();
    for b in bursts {
        match out.last_mut() {
            Some(s) if b.start - s.event.end <= gap_secs => {
                s.event.end = s.event.end.max(b.end);
                s.bursts.push(b);
            }
            _ => {
                let event = SessionEvent {
                    ts: b.start,
                    device: device.to_owned(),
                    app: b.app.clone(),
                    app_uid: b.app_uid,
                    end: b.end,
                    ..SessionEvent::default()
                };
                out.push(Session { event, bursts: vec![b] });
            }
        }
    }
    for s in &mut out {
        let e = &mut s.event;
        e.duration = round_us(e.end - e.ts);
        e.bursts = s.bursts.len() as u64;
        e.bytes_up = s.bursts.iter().map(|b| b.up).sum();
        e.bytes_down = s.bursts.iter().map(|b| b.down).sum();
        for b in &s.bursts {
            if !e.uids.contains(&b.uid) {
                e.uids.push(b.uid.clone());
            }
            if !e.clients.iter().any(|c| c == b.client.name()) {
                e.clients.push(b.client.name().into());
            }
        }
    }
    out
}

/// Folds a session into a device's summary.
pub fn account(stats: &mut SessionStats, e: &SessionEvent) {
    if stats.by_hour.len() != 24 {
        stats.by_hour = vec![0; 24];
    }
    stats.count += 1;
    stats.total_secs = round_us(stats.total_secs + e.duration);
    stats.longest_secs = stats.longest_secs.max(e.duration);
    stats.first = Some(stats.first.map_or(e.ts, |f| f.min(e.ts)));
    stats.last = Some(stats.last.map_or(e.end, |l| l.max(e.end)));
    let hour = (e.ts as i64).rem_euclid(86_400) / 3600;
    stats.by_hour[hour as usize] += 1;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn burst(start: f64, end: f64) -> Burst {
        Burst {
            start,
            end,
            packets: 2,
            up: 100,
            down: 200,
            uid: "C1".into(),
            client: ChatClient::App,
            app: None,
            app_uid: None,
        }
    }

    #[test]
    fn gap_splits_sessions() {
        let s =
            build("d", vec![burst(1000.0, 1002.0), burst(0.0, 5.0), burst(200.0, 201.0)], 300.0);
        assert_eq!(s.len(), 2);
        assert_eq!((s[0].event.ts, s[0].event.end, s[0].event.bursts), (0.0, 201.0, 2));
        assert_eq!((s[1].event.bursts, s[1].event.duration), (1, 2.0));
        let mut stats = SessionStats::default();
        account(&mut stats, &s[0].event);
        assert_eq!((stats.count, stats.by_hour[0]), (1, 1));
    }
}
