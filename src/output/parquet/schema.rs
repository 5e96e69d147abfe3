//! The Parquet column types of every record kind, field for field as `docs/schema.md` lists
//! them (same names, same order). Every column is nullable: an optional field the JSONL leaves
//! out is a null here.

use std::sync::Arc;

use arrow_schema::{DataType, Field, Fields, TimeUnit};

/// A column's type, as read from the JSON value of a record.
#[derive(Debug)]
pub enum Ty {
    /// Epoch seconds as a float with µs precision → `Timestamp(µs, UTC)`.
    Ts,
    /// Whole epoch seconds (an integer) → `Timestamp(µs, UTC)`.
    TsSecs,
    /// A float.
    F64,
    /// An integer → `Int64`.
    I64,
    /// A string (addresses included).
    Str,
    /// An object with arbitrary keys (`{"call": 1}`), kept as its JSON text.
    Json,
    /// An array.
    List(Box<Ty>),
    /// An object with known keys.
    Struct(Vec<(&'static str, Ty)>),
}

use Ty::*;

impl Ty {
    /// The Arrow type.
    pub fn data_type(&self) -> DataType {
        match self {
            Ts | TsSecs => DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
            F64 => DataType::Float64,
            I64 => DataType::Int64,
            Str | Json => DataType::Utf8,
            List(t) => DataType::List(Arc::new(Field::new("item", t.data_type(), true))),
            Struct(_) => DataType::Struct(self.fields()),
        }
    }

    /// A struct's fields (empty for other types).
    pub fn fields(&self) -> Fields {
        match self {
            Struct(f) => f.iter().map(|(n, t)| Field::new(*n, t.data_type(), true)).collect(),
            _ => Fields::empty(),
        }
    }
}

/// The dataset name of an event's `kind` (a `&'static str` for the sink's map).
pub fn kind_name(kind: &str) -> Option<&'static str> {
    KINDS.iter().copied().find(|k| *k == kind)
}

/// Every event kind `events.jsonl` holds.
pub const KINDS: &[&str] = &[
    "dns", "dhcp", "arp", "http", "stun", "tls_cert", "device", "session", "activity", "exposure",
];

fn list(t: Ty) -> Ty {
    List(Box::new(t))
}

/// The row type of dataset `kind` (`flows` or an event kind).
pub fn of(kind: &str) -> Option<Ty> {
    Some(Struct(match kind {
        "flows" => vec![
            ("ts", Ts),
            ("uid", Str),
            ("proto", Str),
            ("orig_h", Str),
            ("orig_p", I64),
            ("resp_h", Str),
            ("resp_p", I64),
            ("community_id", Str),
            ("duration", F64),
            ("orig_pkts", I64),
            ("resp_pkts", I64),
            ("orig_ip_bytes", I64),
            ("resp_ip_bytes", I64),
            ("orig_bytes", I64),
            ("resp_bytes", I64),
            ("conn_state", Str),
            ("history", Str),
            ("end_reason", Str),
            ("orig_mac", Str),
            ("resp_mac", Str),
            ("vlan", I64),
            ("tunnel", Str),
            ("fragments", I64),
            ("app_proto", Str),
            ("server_name", Str),
            ("name_source", Str),
            ("alpn", Str),
            ("ja4", Str),
            ("ja3", Str),
            ("quic_version", Str),
            ("protocol_version", Str),
            ("wa_client", Str),
            ("set_cookie_names", list(Str)),
            ("wa_phone", Str),
            ("service", Str),
            ("endpoint", Str),
            ("confidence", Str),
            ("evidence", list(Str)),
            ("resp_asn", I64),
            ("resp_as_org", Str),
            ("resp_cc", Str),
            ("device", Str),
            ("app", Str),
            ("app_uid", I64),
            ("source", Str),
        ],
        "dns" => vec![
            ("ts", Ts),
            ("uid", Str),
            ("client", Str),
            ("server", Str),
            ("query", Str),
            ("qtype", I64),
            ("rcode", I64),
            ("answers", list(Struct(vec![("addr", Str), ("ttl", I64)]))),
            ("cnames", list(Str)),
            ("app", Str),
        ],
        "dhcp" => vec![
            ("ts", Ts),
            ("uid", Str),
            ("mac", Str),
            ("msg_type", I64),
            ("hostname", Str),
            ("vendor_class", Str),
            ("parameter_request_list", list(I64)),
            ("requested_ip", Str),
            ("assigned_ip", Str),
            ("client_id", Str),
        ],
        "arp" => vec![("ts", Ts), ("op", I64), ("mac", Str), ("ip", Str), ("target_ip", Str)],
        "http" => vec![
            ("ts", Ts),
            ("uid", Str),
            ("method", Str),
            ("host", Str),
            ("user_agent", Str),
            ("cookie_names", list(Str)),
            ("app", Str),
        ],
        "stun" => vec![("ts", Ts), ("uid", Str), ("mapped_address", Str)],
        "tls_cert" => vec![
            ("ts", Ts),
            ("uid", Str),
            ("subject_cn", Str),
            ("san_dns", list(Str)),
            ("san_count", I64),
            ("issuer_org", Str),
            ("not_before", TsSecs),
            ("not_after", TsSecs),
            ("ja4x", Str),
            ("app", Str),
        ],
        "device" => vec![
            ("ts", Ts),
            ("device", Str),
            ("mac", Str),
            ("oui_vendor", Str),
            ("addresses", list(Str)),
            ("hostname", Str),
            ("vendor_class", Str),
            ("parameter_request_list", list(I64)),
            ("first_seen", Ts),
            ("last_seen", Ts),
            ("flows", I64),
            ("meta_flows", I64),
            ("meta_bytes_up", I64),
            ("meta_bytes_down", I64),
            (
                "services",
                list(Struct(vec![
                    ("service", Str),
                    ("flows", I64),
                    ("bytes_up", I64),
                    ("bytes_down", I64),
                    ("endpoints", list(Struct(vec![("endpoint", Str), ("flows", I64)]))),
                ])),
            ),
            (
                "hours",
                list(Struct(vec![
                    ("hour", TsSecs),
                    ("flows", I64),
                    ("bytes_up", I64),
                    ("bytes_down", I64),
                ])),
            ),
            ("hours_dropped", I64),
            (
                "sessions",
                Struct(vec![
                    ("count", I64),
                    ("total_secs", F64),
                    ("longest_secs", F64),
                    ("first", Ts),
                    ("last", Ts),
                    ("by_hour", list(I64)),
                ]),
            ),
            ("activities", Json),
            ("user_agents", list(Str)),
            ("ja4", list(Str)),
            (
                "apps",
                list(Struct(vec![
                    ("app", Str),
                    ("app_uid", I64),
                    ("flows", I64),
                    ("meta_flows", I64),
                    ("meta_bytes_up", I64),
                    ("meta_bytes_down", I64),
                    ("services", list(Str)),
                ])),
            ),
        ],
        "session" => vec![
            ("ts", Ts),
            ("device", Str),
            ("app", Str),
            ("app_uid", I64),
            ("session", Str),
            ("end", Ts),
            ("duration", F64),
            ("bursts", I64),
            ("bytes_up", I64),
            ("bytes_down", I64),
            ("uids", list(Str)),
            ("clients", list(Str)),
        ],
        "activity" => vec![
            ("ts", Ts),
            ("device", Str),
            ("app", Str),
            ("app_uid", I64),
            ("activity", Str),
            ("end", Ts),
            ("duration", F64),
            ("packets", I64),
            ("bytes_up", I64),
            ("bytes_down", I64),
            ("endpoint", Str),
            ("direction", Str),
            ("client", Str),
            ("setup", Ts),
            ("ringing_secs", F64),
            ("talk_secs", F64),
            ("opened_by", Str),
            ("bitrate_kbps", F64),
            ("media", Str),
            ("session", Str),
            ("uids", list(Str)),
        ],
        "exposure" => vec![
            ("ts", Ts),
            ("device", Str),
            ("field", Str),
            ("label", Str),
            ("observability", Str),
            ("status", Str),
            ("value", Str),
            ("note", Str),
            ("count", I64),
            ("bytes", I64),
            ("last", Ts),
            ("evidence", list(Str)),
            ("uids", list(Str)),
            ("apps", list(Str)),
        ],
        _ => return None,
    }))
}
