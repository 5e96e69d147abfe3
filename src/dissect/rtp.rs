//! RTP and RTCP header checks (RFC 3550/4585), used on a 5-tuple already seen carrying STUN: a
//! call's media. Headers only; payload is never kept.

use super::bytes::{be16, be32};

/// RTP header fields kept for a media flow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RtpInfo {
    /// Payload type (codec number, 7 bits).
    pub payload_type: u8,
    /// Synchronisation source.
    pub ssrc: u32,
}

/// RTCP header fields kept for a media flow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RtcpInfo {
    /// Packet type of the first packet (200 SR, 201 RR, 202 SDES, 203 BYE, 204 APP, 205 RTPFB,
    /// 206 PSFB).
    pub packet_type: u8,
    /// Sender SSRC of the first packet.
    pub ssrc: u32,
}

/// RTP (RFC 3550) header check: version 2, CSRC list and extension inside the payload, payload
/// type outside the range RTCP collides with (72–76 with the marker bit is RTCP 200–204).
///
/// Weak on its own (two bits of magic): use it on a 5-tuple already seen carrying STUN.
/// WhatsApp relays also carry `80 c7 ...` packets (payload type 71 with the marker set), which
/// pass as RTP.
pub fn looks_like_rtp(payload: &[u8]) -> Option<RtpInfo> {
    let hdr = payload.get(..12)?;
    if hdr[0] >> 6 != 2 {
        return None;
    }
    let payload_type = hdr[1] & 0x7f;
    if (72..=76).contains(&payload_type) {
        return None;
    }
    let mut len = 12 + 4 * usize::from(hdr[0] & 0x0f);
    if hdr[0] & 0x10 != 0 {
        let ext = payload.get(len..len + 4)?;
        len += 4 + 4 * usize::from(be16(&ext[2..4]));
    }
    if hdr[0] & 0x20 != 0 {
        // Padding: the last byte counts the padding bytes, itself included.
        let pad = usize::from(*payload.last()?);
        len += pad.max(1);
    }
    if len > payload.len() {
        return None;
    }
    Some(RtpInfo { payload_type, ssrc: be32(&hdr[8..12]) })
}

/// RTCP (RFC 3550/4585) header check on the first packet of a compound: version 2, packet
/// type 200–206, its length inside the payload.
pub fn looks_like_rtcp(payload: &[u8]) -> Option<RtcpInfo> {
    let hdr = payload.get(..8)?;
    if hdr[0] >> 6 != 2 || !(200..=206).contains(&hdr[1]) {
        return None;
    }
    let len = 4 * (usize::from(be16(&hdr[2..4])) + 1);
    if len > payload.len() {
        return None;
    }
    Some(RtcpInfo { packet_type: hdr[1], ssrc: be32(&hdr[4..8]) })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dissect::bytes::unhex;

    /// wa_video.pcap: a STUN Allocate success from a WhatsApp relay: neither RTP nor RTCP.
    const STUN_ALLOCATE_OK: &str =
        "010300182112a4420c08916e0c93ad1d78ea944c002000080001ee2471a60672400200080000016b8e0438d1";

    #[test]
    fn rtp_and_rtcp() {
        // wa_video.pcap media after STUN: RTP with extension (0x90), PT 120.
        let rtp = unhex("9078004600038e00dec0b0a1746f0001fffb000066441fad0b4e981e");
        assert_eq!(looks_like_rtp(&rtp), Some(RtpInfo { payload_type: 120, ssrc: 0xdec0_b0a1 }));
        assert_eq!(looks_like_rtcp(&rtp), None);
        // lru_ipv6_caches.pcapng: RTCP RR (201), length 1 (8 bytes) then more of the compound.
        let rtcp = unhex("80c90001734e7b28800000051150ddd7bafeb9cbd7ce");
        assert_eq!(looks_like_rtcp(&rtcp), Some(RtcpInfo { packet_type: 201, ssrc: 0x734e_7b28 }));
        assert_eq!(looks_like_rtp(&rtcp), None);
        assert_eq!(looks_like_rtp(&unhex(STUN_ALLOCATE_OK)), None);
        assert_eq!(looks_like_rtcp(&unhex(STUN_ALLOCATE_OK)), None);
    }
}
