//! PCAPdroid: the trailer (finding it at the end of a frame, stripping it, its view) and the UDP
//! stream parser (the input split into datagrams at `UDPD`).
#![no_main]

use leakscope::capture::pcapdroid::{self, Trailer};
use leakscope::capture::pcapdroid_udp::Stream;
use leakscope::capture::{LinkType, Packet, Timestamp};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Some((ip, t)) = pcapdroid::split(data) {
        assert!(ip.len() + pcapdroid::TRAILER_LEN + pcapdroid::FAKE_ETHERNET_LEN <= data.len());
        let _ = (t.uid(), t.app_name(), t.fcs(), t.tag().to_app());
    }
    let pkt = Packet {
        ts: Timestamp(0),
        linktype: LinkType::ETHERNET,
        data,
        wire_len: data.len() as u32,
    };
    if let Some((bare, app)) = pcapdroid::strip(&pkt) {
        assert!(bare.wire_len <= pkt.wire_len);
        let _ = (app.is_known(), app.to_app());
    }
    if let Ok(t) = Trailer::new_checked(data) {
        let _ = (t.uid(), t.app_name(), t.tag().to_app());
    }
    // PCAPdroid's pcapng: a uid map block and a packet's options from the same bytes.
    let mut apps = pcapdroid::NgApps::default();
    for be in [false, true] {
        apps.custom_block(pcapdroid::PEN, data, be);
        let _ = apps.packet(pcapdroid::ng_options(data, be));
    }
    let mut stream = Stream::default();
    for datagram in split_at(data, b"UDPD") {
        let mut n = 0u32;
        let r = stream.datagram(datagram, &mut |p, _app| {
            n += 1;
            assert!(p.data.len() <= datagram.len());
            let _ = pcapdroid::strip(p);
        });
        assert_eq!(r.packets, n);
    }
});

fn split_at<'a>(data: &'a [u8], sep: &'a [u8]) -> impl Iterator<Item = &'a [u8]> {
    let mut rest = Some(data);
    std::iter::from_fn(move || {
        let r = rest?;
        match r.windows(sep.len()).position(|w| w == sep) {
            Some(i) => {
                rest = Some(&r[i + sep.len()..]);
                Some(&r[..i])
            }
            None => {
                rest = None;
                Some(r)
            }
        }
    })
}
