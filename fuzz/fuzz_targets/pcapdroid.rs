//! PCAPdroid's trailer: finding it at the end of a frame, stripping it, and its view.
#![no_main]

use leakscope::capture::pcapdroid::{self, Trailer};
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
});
