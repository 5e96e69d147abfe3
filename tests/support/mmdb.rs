//! A minimal MaxMind DB writer, enough to build tiny test databases
//! (spec: https://maxmind.github.io/MaxMind-DB/): an IPv6 binary search tree with 32-bit records
//! (IPv4 networks live under `::/96`), 16 zero bytes, the data section, then the metadata after
//! the marker `\xAB\xCD\xEFMaxMind.com`.

use std::net::IpAddr;

use ipnet::IpNet;

/// A data-section value.
#[derive(Debug, Clone)]
pub enum Value {
    /// UTF-8 string (type 2).
    Str(String),
    /// uint16 (type 5).
    U16(u16),
    /// uint32 (type 6).
    U32(u32),
    /// uint64 (type 9).
    U64(u64),
    /// Map with string keys (type 7).
    Map(Vec<(String, Value)>),
    /// Array (type 11).
    Array(Vec<Value>),
}

/// Builds a map value from pairs.
pub fn map(pairs: &[(&str, Value)]) -> Value {
    Value::Map(pairs.iter().map(|(k, v)| (k.to_string(), v.clone())).collect())
}

/// Builds a string value.
pub fn s(v: &str) -> Value {
    Value::Str(v.to_string())
}

#[derive(Clone, Copy)]
enum Rec {
    Empty,
    Node(u32),
    Data(u32),
}

/// Collects networks and their records, then writes the database.
pub struct Writer {
    database_type: String,
    nodes: Vec<[Rec; 2]>,
    data: Vec<u8>,
}

impl Writer {
    /// An empty IPv6 database of this `database_type` (e.g. "GeoLite2-ASN").
    pub fn new(database_type: &str) -> Writer {
        Writer {
            database_type: database_type.into(),
            nodes: vec![[Rec::Empty; 2]],
            data: Vec::new(),
        }
    }

    /// Maps `net` to `value`. Insert wider networks before the narrower ones inside them.
    pub fn insert(&mut self, net: &str, value: &Value) -> &mut Self {
        let net: IpNet = net.parse().expect("test network");
        let (key, len) = match net.network() {
            IpAddr::V4(a) => (u128::from(u32::from(a)), u32::from(net.prefix_len()) + 96),
            IpAddr::V6(a) => (u128::from(a), u32::from(net.prefix_len())),
        };
        assert!(len > 0, "no ::/0 in test databases");
        let off = self.data.len() as u32;
        encode(&mut self.data, value);
        let mut node = 0usize;
        for i in 0..len {
            let bit = ((key >> (127 - i)) & 1) as usize;
            if i == len - 1 {
                self.nodes[node][bit] = Rec::Data(off);
                break;
            }
            node = match self.nodes[node][bit] {
                Rec::Node(n) => n as usize,
                old => {
                    // Split a wider network (or fill a hole) so the narrower one can be placed.
                    let fill = if let Rec::Data(_) = old { old } else { Rec::Empty };
                    self.nodes.push([fill; 2]);
                    let n = self.nodes.len() - 1;
                    self.nodes[node][bit] = Rec::Node(n as u32);
                    n
                }
            };
        }
        self
    }

    /// The database bytes.
    pub fn build(&self) -> Vec<u8> {
        let count = self.nodes.len() as u32;
        let rec = |r: Rec| match r {
            Rec::Empty => count,
            Rec::Node(n) => n,
            Rec::Data(off) => count + 16 + off,
        };
        let mut out = Vec::new();
        for [l, r] in &self.nodes {
            out.extend_from_slice(&rec(*l).to_be_bytes());
            out.extend_from_slice(&rec(*r).to_be_bytes());
        }
        out.extend_from_slice(&[0; 16]);
        out.extend_from_slice(&self.data);
        out.extend_from_slice(b"\xAB\xCD\xEFMaxMind.com");
        let meta = map(&[
            ("binary_format_major_version", Value::U16(2)),
            ("binary_format_minor_version", Value::U16(0)),
            ("build_epoch", Value::U64(1_700_000_000)),
            ("database_type", s(&self.database_type)),
            ("description", map(&[("en", s("leakscope test database"))])),
            ("ip_version", Value::U16(6)),
            ("languages", Value::Array(vec![s("en")])),
            ("node_count", Value::U32(count)),
            ("record_size", Value::U16(32)),
        ]);
        encode(&mut out, &meta);
        out
    }
}

fn control(out: &mut Vec<u8>, kind: u8, size: usize) {
    let (bits, extra): (u8, Vec<u8>) = match size {
        0..29 => (size as u8, vec![]),
        29..285 => (29, vec![(size - 29) as u8]),
        285..65821 => (30, ((size - 285) as u16).to_be_bytes().to_vec()),
        _ => (31, ((size - 65821) as u32).to_be_bytes()[1..].to_vec()),
    };
    if kind <= 7 {
        out.push(kind << 5 | bits);
    } else {
        out.push(bits);
        out.push(kind - 7);
    }
    out.extend_from_slice(&extra);
}

fn uint(out: &mut Vec<u8>, kind: u8, v: u64) {
    let bytes = v.to_be_bytes();
    let skip = bytes.iter().take_while(|b| **b == 0).count();
    control(out, kind, 8 - skip);
    out.extend_from_slice(&bytes[skip..]);
}

fn encode(out: &mut Vec<u8>, v: &Value) {
    match v {
        Value::Str(t) => {
            control(out, 2, t.len());
            out.extend_from_slice(t.as_bytes());
        }
        Value::U16(n) => uint(out, 5, u64::from(*n)),
        Value::U32(n) => uint(out, 6, u64::from(*n)),
        Value::U64(n) => uint(out, 9, *n),
        Value::Map(pairs) => {
            control(out, 7, pairs.len());
            for (k, v) in pairs {
                encode(out, &Value::Str(k.clone()));
                encode(out, v);
            }
        }
        Value::Array(items) => {
            control(out, 11, items.len());
            items.iter().for_each(|i| encode(out, i));
        }
    }
}
