//! BPF filters (`-f EXPR`, tcpdump syntax). libpcap compiles the expression once per link type and
//! runs it on packets from any reader, so pcapng files with mixed link types filter correctly.

use super::LinkType;

/// libpcap would not compile the expression (its message).
#[derive(Debug, thiserror::Error)]
#[error(transparent)]
pub struct FilterError(#[from] pcap::Error);

/// A filter expression and its compiled programs, one per link type met so far.
pub struct Filter {
    expr: String,
    programs: Vec<(LinkType, pcap::BpfProgram)>,
}

impl Filter {
    /// A filter for `expr`; it is compiled when a link type is first seen. Checked against
    /// Ethernet right away so a typo fails before any file is read.
    pub fn new(expr: &str) -> Result<Self, FilterError> {
        let mut f = Filter { expr: expr.to_owned(), programs: Vec::new() };
        f.prepare(LinkType::ETHERNET)?;
        Ok(f)
    }

    /// The expression as given.
    pub fn expr(&self) -> &str {
        &self.expr
    }

    /// Compiles the expression for `lt` unless already done.
    pub fn prepare(&mut self, lt: LinkType) -> Result<(), FilterError> {
        if self.programs.iter().any(|(l, _)| *l == lt) {
            return Ok(());
        }
        let dead = pcap::Capture::dead(pcap::Linktype(lt.0 as i32))?;
        let program = dead.compile(&self.expr, true)?;
        self.programs.push((lt, program));
        Ok(())
    }

    /// Whether the frame passes. Frames of a link type never prepared do not pass.
    pub fn matches(&mut self, lt: LinkType, frame: &[u8]) -> bool {
        // Almost every file has one link type: the first entry hits.
        match self.programs.iter().find(|(l, _)| *l == lt) {
            Some((_, p)) => p.filter(frame),
            None => false,
        }
    }
}
