//! `flows.jsonl` lines written field by field: the same bytes as `serde_json::to_writer` on a
//! [`FlowRecord`], a third of the instructions. The flow record is the most written line of a
//! replay, and serde_json escapes every key and drives every field through its map machinery
//! (≈ 360 instructions per field); here keys are constant bytes and only values are encoded.
//!
//! The record is destructured without `..`, so a new field does not compile until it is written
//! here; `tests` checks the bytes against serde_json for full and empty records.

use serde::Serialize;

use crate::record::FlowRecord;

/// Appends `rec` as JSON (no newline), exactly as serde_json would.
pub fn write(rec: &FlowRecord, out: &mut Vec<u8>) -> serde_json::Result<()> {
    let FlowRecord {
        ts,
        uid,
        proto,
        orig_h,
        orig_p,
        resp_h,
        resp_p,
        community_id,
        duration,
        orig_pkts,
        resp_pkts,
        orig_ip_bytes,
        resp_ip_bytes,
        orig_bytes,
        resp_bytes,
        conn_state,
        history,
        end_reason,
        orig_mac,
        resp_mac,
        vlan,
        tunnel,
        fragments,
        app_proto,
        server_name,
        name_source,
        alpn,
        ja4,
        ja3,
        quic_version,
        protocol_version,
        wa_client,
        wa_phone,
        set_cookie_names,
        service,
        endpoint,
        role: _, // not written (serde(skip))
        confidence,
        evidence,
        resp_asn,
        resp_as_org,
        resp_cc,
        device,
        app,
        app_uid,
        source,
        activity: _, // not written (serde(skip))
    } = rec;
    out.extend_from_slice(b"{\"ts\":");
    value(out, ts)?;
    key(out, "uid");
    value(out, uid)?;
    key(out, "proto");
    value(out, proto)?;
    key(out, "orig_h");
    value(out, orig_h)?;
    key(out, "orig_p");
    int(out, *orig_p);
    key(out, "resp_h");
    value(out, resp_h)?;
    key(out, "resp_p");
    int(out, *resp_p);
    key(out, "community_id");
    value(out, community_id)?;
    key(out, "duration");
    value(out, duration)?;
    for (k, n) in [
        ("orig_pkts", orig_pkts),
        ("resp_pkts", resp_pkts),
        ("orig_ip_bytes", orig_ip_bytes),
        ("resp_ip_bytes", resp_ip_bytes),
        ("orig_bytes", orig_bytes),
        ("resp_bytes", resp_bytes),
    ] {
        key(out, k);
        int(out, *n);
    }
    key(out, "conn_state");
    value(out, conn_state)?;
    key(out, "history");
    value(out, history)?;
    key(out, "end_reason");
    value(out, end_reason)?;
    opt(out, "orig_mac", orig_mac)?;
    opt(out, "resp_mac", resp_mac)?;
    if let Some(v) = vlan {
        key(out, "vlan");
        int(out, *v);
    }
    opt(out, "tunnel", tunnel)?;
    if *fragments != 0 {
        key(out, "fragments");
        int(out, *fragments);
    }
    opt(out, "app_proto", app_proto)?;
    opt(out, "server_name", server_name)?;
    opt(out, "name_source", name_source)?;
    opt(out, "alpn", alpn)?;
    opt(out, "ja4", ja4)?;
    opt(out, "ja3", ja3)?;
    opt(out, "quic_version", quic_version)?;
    opt(out, "protocol_version", protocol_version)?;
    opt(out, "wa_client", wa_client)?;
    opt(out, "wa_phone", wa_phone)?;
    if !set_cookie_names.is_empty() {
        key(out, "set_cookie_names");
        value(out, set_cookie_names)?;
    }
    opt(out, "service", service)?;
    opt(out, "endpoint", endpoint)?;
    opt(out, "confidence", confidence)?;
    if !evidence.is_empty() {
        key(out, "evidence");
        value(out, evidence)?;
    }
    if let Some(v) = resp_asn {
        key(out, "resp_asn");
        int(out, *v);
    }
    opt(out, "resp_as_org", resp_as_org)?;
    opt(out, "resp_cc", resp_cc)?;
    opt(out, "device", device)?;
    opt(out, "app", app)?;
    if let Some(v) = app_uid {
        key(out, "app_uid");
        int(out, *v);
    }
    opt(out, "source", source)?;
    out.push(b'}');
    Ok(())
}

/// `,"name":` — field names are plain ASCII identifiers, nothing to escape.
#[inline]
fn key(out: &mut Vec<u8>, name: &str) {
    out.extend_from_slice(b",\"");
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b"\":");
}

#[inline]
fn int(out: &mut Vec<u8>, n: impl itoa::Integer) {
    out.extend_from_slice(itoa::Buffer::new().format(n).as_bytes());
}

#[inline]
fn value<T: Serialize + ?Sized>(out: &mut Vec<u8>, v: &T) -> serde_json::Result<()> {
    v.serialize(&mut serde_json::Serializer::new(out))
}

#[inline]
fn opt<T: Serialize>(out: &mut Vec<u8>, name: &str, v: &Option<T>) -> serde_json::Result<()> {
    match v {
        Some(v) => {
            key(out, name);
            value(out, v)
        }
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{AppProto, ConnCode, EndReason, NameSource};

    fn bare() -> FlowRecord {
        let (a, b) = ("10.0.0.2".parse().unwrap(), "2a03:2880::1".parse().unwrap());
        FlowRecord {
            orig_pkts: 1,
            orig_ip_bytes: 1250,
            orig_bytes: 1222,
            conn_state: ConnCode::S0,
            ..FlowRecord::bare(
                1_700_000_000.123456,
                "CabcdefGHIJK".into(),
                "udp",
                (a, 5353),
                (b, 443),
            )
        }
    }

    fn full() -> FlowRecord {
        let hostile = "a\"b\\c\u{1}\n\t\u{7f}é☃/";
        FlowRecord {
            duration: 12.5,
            history: "ShADadFf^".into(),
            conn_state: ConnCode::Rstos0,
            end_reason: EndReason::ActiveTimeout,
            orig_mac: Some("02:00:00:00:00:01".into()),
            resp_mac: Some(hostile.into()),
            vlan: Some(4095),
            tunnel: Some("vxlan"),
            fragments: 3,
            app_proto: Some(AppProto::Quic),
            server_name: Some(hostile.into()),
            name_source: Some(NameSource::QuicSni),
            alpn: Some("h3".into()),
            ja4: Some("q13d0312h3_55b375c5d22e_06cda9e17597".into()),
            ja3: Some("d41d8cd98f00b204e9800998ecf8427e".into()),
            quic_version: Some("0xfaceb002".into()),
            protocol_version: Some("6.3".into()),
            wa_client: Some("Android-2.12.84".into()),
            wa_phone: Some("+55…10".into()),
            set_cookie_names: vec!["datr".into(), hostile.into()],
            service: Some("whatsapp".into()),
            endpoint: Some("whatsapp.media".into()),
            confidence: Some("sni"),
            evidence: vec!["sni:mmg.whatsapp.net".into(), "asn:AS32934".into()],
            resp_asn: Some(u32::MAX),
            resp_as_org: Some(hostile.into()),
            resp_cc: Some("IE".into()),
            device: Some("02:00:00:00:00:01".into()),
            app: Some(hostile.into()),
            app_uid: Some(-1),
            source: Some(std::sync::Arc::from(hostile)),
            orig_pkts: u64::MAX,
            ..bare()
        }
    }

    fn both(rec: &FlowRecord) -> (String, String) {
        let mut fast = Vec::new();
        write(rec, &mut fast).expect("written");
        let serde = serde_json::to_vec(rec).expect("serialised");
        (String::from_utf8(fast).expect("utf-8"), String::from_utf8(serde).expect("utf-8"))
    }

    #[test]
    fn same_bytes_as_serde_json() {
        for rec in [bare(), full()] {
            let (fast, serde) = both(&rec);
            assert_eq!(fast, serde);
        }
    }

    #[test]
    fn odd_numbers_too() {
        for ts in [0.0, -1.5, 1e21, 1e-7, f64::NAN, f64::INFINITY, 1_700_000_000.000001] {
            let rec = FlowRecord { ts, duration: ts, ..full() };
            let (fast, serde) = both(&rec);
            assert_eq!(fast, serde, "ts {ts}");
        }
    }
}
