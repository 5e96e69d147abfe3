//! Connection state and history, with Zeek's conn.log codes so that users can read them the same
//! way (`conn_state`: S0, S1, SF, REJ, …; `history`: ShADadFf, …).

use crate::decode::tcp_flags::{ACK, FIN, RST, SYN};
use crate::record::EndReason;
use crate::record::flow::ConnCode;

/// What one endpoint has done so far (Zeek's TCP endpoint states).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum EndpointState {
    /// Nothing sent.
    #[default]
    Inactive,
    /// Sent a SYN.
    SynSent,
    /// Sent a SYN-ACK.
    SynAckSent,
    /// Sent data or ACKs without a handshake being seen (flow picked up mid-stream).
    Partial,
    /// Handshake completed.
    Established,
    /// Sent a FIN.
    Closed,
    /// Sent a RST.
    Reset,
}

impl EndpointState {
    fn inactive(self) -> bool {
        matches!(self, EndpointState::Inactive | EndpointState::Partial)
    }
}

/// Per-flow TCP/UDP state: endpoint states plus the history string.
#[derive(Clone, Copy, Debug, Default)]
pub struct ConnState {
    /// Originator's state.
    pub orig: EndpointState,
    /// Responder's state.
    pub resp: EndpointState,
    history: History,
}

/// History letters, each recorded once per direction in order of first appearance
/// (uppercase: originator, lowercase: responder; `^`: direction flipped by heuristics).
#[derive(Clone, Copy, Debug, Default)]
struct History {
    seen: u32,
    len: u8,
    chars: [u8; 20],
}

const LETTERS: &[u8] = b"SHADFR";

impl History {
    fn push(&mut self, letter: u8, from_orig: bool) {
        let idx =
            LETTERS.iter().position(|&l| l == letter).unwrap_or(0) + if from_orig { 0 } else { 8 };
        let bit = 1u32 << idx;
        if self.seen & bit != 0 || usize::from(self.len) >= self.chars.len() {
            return;
        }
        self.seen |= bit;
        self.chars[usize::from(self.len)] =
            if from_orig { letter } else { letter.to_ascii_lowercase() };
        self.len += 1;
    }

    fn push_flip(&mut self) {
        if self.len == 0 {
            self.chars[0] = b'^';
            self.len = 1;
        }
    }

    fn as_str(&self) -> &str {
        std::str::from_utf8(&self.chars[..usize::from(self.len)]).unwrap_or("")
    }
}

impl ConnState {
    /// Marks that the originator was chosen against the first packet's direction.
    pub fn flipped(&mut self) {
        self.history.push_flip();
    }

    /// Updates the state for a TCP segment.
    pub fn tcp(&mut self, flags: u8, payload_len: u32, from_orig: bool) {
        let (me, peer) = if from_orig {
            (&mut self.orig, &mut self.resp)
        } else {
            (&mut self.resp, &mut self.orig)
        };
        let h = &mut self.history;
        if flags & RST != 0 {
            h.push(b'R', from_orig);
            *me = EndpointState::Reset;
        } else if flags & SYN != 0 {
            if flags & ACK != 0 {
                h.push(b'H', from_orig);
                if *me == EndpointState::Inactive {
                    *me = EndpointState::SynAckSent;
                }
            } else {
                h.push(b'S', from_orig);
                if *me == EndpointState::Inactive {
                    *me = EndpointState::SynSent;
                }
            }
        } else {
            if flags & FIN != 0 {
                h.push(b'F', from_orig);
            } else if payload_len == 0 && flags & ACK != 0 {
                h.push(b'A', from_orig);
            }
            match *me {
                EndpointState::Inactive => *me = EndpointState::Partial,
                EndpointState::SynSent | EndpointState::SynAckSent if flags & ACK != 0 => {
                    *me = EndpointState::Established;
                    if *peer == EndpointState::SynAckSent || *peer == EndpointState::SynSent {
                        *peer = EndpointState::Established;
                    }
                }
                _ => {}
            }
            if flags & FIN != 0 && *me != EndpointState::Reset {
                *me = EndpointState::Closed;
            }
        }
        if payload_len > 0 {
            h.push(b'D', from_orig);
        }
    }

    /// Updates the state for a UDP datagram or other packet.
    pub fn datagram(&mut self, from_orig: bool) {
        let me = if from_orig { &mut self.orig } else { &mut self.resp };
        *me = EndpointState::Established;
        self.history.push(b'D', from_orig);
    }

    /// Whether both sides closed (FIN) or either reset: the connection is over, and why.
    pub fn tcp_finished(&self) -> Option<EndReason> {
        use EndpointState::*;
        if self.orig == Reset || self.resp == Reset {
            Some(EndReason::Rst)
        } else if self.orig == Closed && self.resp == Closed {
            Some(EndReason::Fin)
        } else {
            None
        }
    }

    /// The history string.
    pub fn history(&self) -> &str {
        self.history.as_str()
    }

    /// Zeek's `conn_state` code for a TCP connection (logic of Zeek's `conn/main.zeek`).
    pub fn tcp_code(&self, orig_bytes: u64, resp_bytes: u64) -> ConnCode {
        use EndpointState::*;
        let (os, rs) = (self.orig, self.resp);
        if rs == Reset {
            if matches!(os, SynSent | SynAckSent)
                || (os == Reset && orig_bytes == 0 && resp_bytes == 0)
            {
                ConnCode::Rej
            } else if os.inactive() {
                ConnCode::Rstrh
            } else {
                ConnCode::Rstr
            }
        } else if os == Reset {
            if rs.inactive() {
                if self.history.seen & 1 != 0 && self.history.seen & 0b1_1110 == 0 {
                    ConnCode::Rstos0
                } else {
                    ConnCode::Oth
                }
            } else {
                ConnCode::Rsto
            }
        } else if os == Closed && rs == Closed {
            ConnCode::Sf
        } else if os == Closed {
            if rs.inactive() { ConnCode::Sh } else { ConnCode::S2 }
        } else if rs == Closed {
            if os.inactive() { ConnCode::Shr } else { ConnCode::S3 }
        } else if os == SynSent && rs == Inactive {
            ConnCode::S0
        } else if os == Established && rs == Established {
            ConnCode::S1
        } else {
            ConnCode::Oth
        }
    }

    /// Zeek's `conn_state` code for UDP and other datagram protocols.
    pub fn datagram_code(&self) -> ConnCode {
        use EndpointState::*;
        match (self.orig == Established, self.resp == Established) {
            (true, true) => ConnCode::Sf,
            (true, false) => ConnCode::S0,
            (false, true) => ConnCode::Shr,
            (false, false) => ConnCode::Oth,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(steps: &[(bool, u8, u32)]) -> ConnState {
        let mut s = ConnState::default();
        for &(o, f, n) in steps {
            s.tcp(f, n, o);
        }
        s
    }

    #[test]
    fn full_connection_is_sf() {
        let s = run(&[
            (true, SYN, 0),
            (false, SYN | ACK, 0),
            (true, ACK, 0),
            (true, ACK, 100),
            (false, ACK, 200),
            (true, FIN | ACK, 0),
            (false, FIN | ACK, 0),
            (true, ACK, 0),
        ]);
        assert_eq!(s.tcp_code(100, 200), ConnCode::Sf);
        assert_eq!(s.history(), "ShADdFf");
        assert_eq!(s.tcp_finished(), Some(EndReason::Fin));
    }

    #[test]
    fn rejected_unanswered_and_midstream() {
        assert_eq!(run(&[(true, SYN, 0), (false, RST | ACK, 0)]).tcp_code(0, 0), ConnCode::Rej);
        assert_eq!(run(&[(true, SYN, 0), (true, SYN, 0)]).tcp_code(0, 0), ConnCode::S0);
        let s = run(&[(true, SYN, 0), (false, SYN | ACK, 0), (true, ACK, 0), (true, ACK, 5)]);
        assert_eq!(s.tcp_code(5, 0), ConnCode::S1);
        let s = run(&[(true, ACK, 10), (false, ACK, 0)]);
        assert_eq!((s.tcp_code(10, 0), s.history()), (ConnCode::Oth, "Da"));
        let s = run(&[(true, SYN, 0), (false, SYN | ACK, 0), (true, ACK, 0), (true, RST, 0)]);
        assert_eq!(s.tcp_code(0, 0), ConnCode::Rsto);
        assert_eq!(run(&[(true, SYN, 0), (true, RST, 0)]).tcp_code(0, 0), ConnCode::Rstos0);
    }

    #[test]
    fn udp_codes() {
        let mut s = ConnState::default();
        s.datagram(true);
        assert_eq!(s.datagram_code(), ConnCode::S0);
        s.datagram(false);
        assert_eq!((s.datagram_code(), s.history()), (ConnCode::Sf, "Dd"));
    }
}
