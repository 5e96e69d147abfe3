//! Ids of a compiled ruleset's services and endpoints: what the host matcher, the prefix table
//! and verdicts carry instead of names.

/// Index of a service in a `Ruleset`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ServiceId(pub u16);

/// Index of an endpoint (a service's role) in a `Ruleset`; carries its service, so a verdict knows
/// the service without the ruleset at hand.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EndpointId {
    service: ServiceId,
    index: u16,
}

impl EndpointId {
    /// The service this endpoint belongs to.
    pub fn service(self) -> ServiceId {
        self.service
    }

    /// The id of the `index`th endpoint (of `Ruleset::endpoints()`), a role of `service`.
    pub(crate) fn new(service: ServiceId, index: u16) -> EndpointId {
        EndpointId { service, index }
    }

    /// Position in `Ruleset::endpoints()`.
    pub fn index(self) -> usize {
        usize::from(self.index)
    }

    #[cfg(test)]
    pub(crate) fn test(index: u16) -> EndpointId {
        EndpointId { service: ServiceId(0), index }
    }
}
