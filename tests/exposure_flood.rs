//! Bad input for the exposure map: a flood of call setups from many devices, and of
//! chat connections with messages, stays bounded (the caps of `ExposureConfig`), and what was
//! pushed out early is counted and still written.

use std::net::Ipv4Addr;
use std::sync::{Arc, Mutex};

use etherparse::PacketBuilder;
use leakscope::capture::{LinkType, Packet, PacketSink, Timestamp};
use leakscope::classify::{Geo, Ruleset};
use leakscope::exposure::{ExposureConfig, ExposureSink};
use leakscope::flow::{FlowConfig, FlowRecord};
use leakscope::output::RecordSink;
use leakscope::output::events::Event;
use leakscope::pipeline::{Pipeline, PipelineConfig};
use leakscope::record::SinkError;

/// Counts what reaches the outputs.
#[derive(Default)]
struct Count {
    calls: usize,
    sessions: usize,
    bursts: usize,
}

impl RecordSink for Count {
    fn flow(&mut self, _: &mut FlowRecord) {}
    fn event(&mut self, ev: &Event) {
        match ev {
            Event::Activity(a) if a.activity.as_str().starts_with("call") => self.calls += 1,
            Event::Activity(a) if a.activity.as_str() == "message_burst" => self.bursts += 1,
            Event::Session(_) => self.sessions += 1,
            _ => {}
        }
    }
    fn finish(&mut self) -> Result<(), SinkError> {
        Ok(())
    }
}

/// The exposure sink, shared so the test can look at it while the pipeline runs.
#[derive(Clone)]
struct Shared(Arc<Mutex<ExposureSink<Count>>>);

impl RecordSink for Shared {
    fn flow(&mut self, rec: &mut FlowRecord) {
        self.0.lock().unwrap().flow(rec)
    }
    fn event(&mut self, ev: &Event) {
        self.0.lock().unwrap().event(ev)
    }
    fn finish(&mut self) -> Result<(), SinkError> {
        self.0.lock().unwrap().finish()
    }
}

fn setup(cfg: ExposureConfig) -> (Pipeline, Shared) {
    let shared = Shared(Arc::new(Mutex::new(cfg.build(Count::default()))));
    let p = Pipeline::new(PipelineConfig {
        flow: FlowConfig::default(),
        sink: Box::new(shared.clone()),
        classify: true,
        rules: Ruleset::builtin(),
        geo: Geo::default(),
    });
    (p, shared)
}

fn mac(i: u32) -> [u8; 6] {
    let b = i.to_be_bytes();
    [0x00, 0x1a, 0x11, b[1], b[2], b[3]]
}

fn dev(i: u32) -> Ipv4Addr {
    Ipv4Addr::from(0x0a10_0000 + i)
}

fn send(p: &mut Pipeline, ts_us: u64, frame: &[u8]) {
    let ts = Timestamp(ts_us as i64 * 1000);
    p.packet(&Packet { ts, linktype: LinkType::ETHERNET, data: frame, wire_len: 0 });
}

const T0: u64 = 1_700_000_000_000_000;
const GW: [u8; 6] = [2, 0, 0, 0, 0, 1];

/// The run's warnings, captured on this thread.
#[derive(Clone, Default)]
struct Logs(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Logs {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Logs {
    /// Captures this thread's log lines until the guard drops.
    fn capture() -> (Logs, tracing::subscriber::DefaultGuard) {
        let logs = Logs::default();
        let w = logs.clone();
        let sub =
            tracing_subscriber::fmt().with_ansi(false).with_writer(move || w.clone()).finish();
        (logs, tracing::subscriber::set_default(sub))
    }
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

#[test]
fn call_setup_flood_is_bounded_and_counted() {
    let (logs, _guard) = Logs::capture();
    let cfg = ExposureConfig { max_pending_calls: 64, ..ExposureConfig::default() };
    let caps = cfg.caps.clone();
    let (mut p, shared) = setup(cfg);
    // A WhatsApp relay allocation (whatsapp_voice_and_message.pcap) from 1000 devices at once.
    let mut alloc = vec![0x08, 0x00, 0x00, 0x6a, 0x21, 0x12, 0xa4, 0x42];
    alloc.extend_from_slice(&[7; 12]);
    alloc.extend_from_slice(&[0x40, 0x00, 0x00, 0x66]);
    alloc.extend_from_slice(&[0xab; 102]);
    let n = 1000u32;
    for i in 0..n {
        let b = PacketBuilder::ethernet2(mac(i), GW)
            .ipv4(dev(i).octets(), [157, 240, 1, 1], 64)
            .udp(40000, 3478);
        let mut f = Vec::new();
        b.write(&mut f, &alloc).unwrap();
        send(&mut p, T0 + u64::from(i) * 100, &f);
    }
    p.flush_flows();
    {
        let s = shared.0.lock().unwrap();
        assert!(s.pending().0 <= 64, "pending calls {}", s.pending().0);
        assert_eq!(s.overflow().calls_forced, u64::from(n) - 64);
    }
    p.finish().unwrap();
    let s = shared.0.lock().unwrap();
    // Every setup is still written, as an attempt (no media).
    assert_eq!((s.pending().0, s.inner().calls), (0, n as usize));
    // And the user is told at the end.
    let text = logs.text();
    assert!(text.contains(&format!("calls: {} written before they ended", n - 64)), "{text}");
    // And the count reaches whoever built the map (the manifest, stats.jsonl).
    assert_eq!(caps.count().calls_forced, u64::from(n) - 64);
    assert_eq!((caps.count().sessions_forced, caps.count().devices_evicted), (0, 0));
}

#[test]
fn chat_flood_is_bounded_and_counted() {
    let (logs, _guard) = Logs::capture();
    let cfg = ExposureConfig { max_pending_bursts: 100, ..ExposureConfig::default() };
    let caps = cfg.caps.clone();
    let (mut p, shared) = setup(cfg);
    let server = [185, 60, 216, 54];
    let n = 400u32;
    for i in 0..n {
        let t = T0 + u64::from(i) * 1000;
        let frame = |up: bool, at: u64, seq: u32, payload: &[u8], p: &mut Pipeline| {
            let (s, d, sm, dm) = if up {
                (dev(i).octets(), server, mac(i), GW)
            } else {
                (server, dev(i).octets(), GW, mac(i))
            };
            let (sp, dp) = if up { (40000, 5222) } else { (5222, 40000) };
            let b = PacketBuilder::ethernet2(sm, dm).ipv4(s, d, 64).tcp(sp, dp, seq, 65535);
            let mut f = Vec::new();
            b.write(&mut f, payload).unwrap();
            send(p, at, &f);
        };
        // The WhatsApp preface and handshake, the server's answer, then a message each way
        // two seconds later: one burst per connection.
        let mut hello = vec![0x57, 0x41, 0x06, 0x03, 0x00, 0x00, 0x20];
        hello.extend_from_slice(&[1; 32]);
        frame(true, t, 1, &hello, &mut p);
        frame(false, t + 100_000, 1, &[0x55; 300], &mut p);
        frame(true, t + 2_000_000, 100, &[0x66; 300], &mut p);
        frame(false, t + 2_100_000, 400, &[0x77; 300], &mut p);
    }
    p.flush_flows();
    {
        let s = shared.0.lock().unwrap();
        assert!(s.pending().1 <= 100, "pending bursts {}", s.pending().1);
        assert!(s.overflow().sessions_forced >= u64::from(n) / 101, "{:?}", s.overflow());
    }
    p.finish().unwrap();
    let s = shared.0.lock().unwrap();
    assert_eq!((s.pending().1, s.inner().bursts, s.inner().sessions), (0, n as usize, n as usize));
    let text = logs.text();
    let times = format!("sessions: written early {} time(s)", s.overflow().sessions_forced);
    assert!(text.contains(&times), "{text}");
    assert_eq!(caps.count().sessions_forced, s.overflow().sessions_forced);
    assert!(caps.count().sessions_forced > 0);
}
