//! Endpoint roles: what a service's endpoint is for (`whatsapp.media` has the role `media`).
//! Rule files name them as text; the loader turns each into a [`Role`] and rejects names it does
//! not know, so the stages compare ids, never strings.

use std::fmt;

/// The role of an endpoint, the `ROLE` of `[service.NAME.role.ROLE]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Role {
    /// The chat connection (WhatsApp's Noise protocol, Messenger's MQTT).
    Chat,
    /// Media uploads and downloads.
    Media,
    /// Phone number registration and verification.
    Registration,
    /// Profile pictures.
    ProfilePictures,
    /// Static files.
    Static,
    /// Crash logs sent to the service.
    Crashlogs,
    /// Telemetry sent to the service.
    Telemetry,
    /// Analytics and SDK logging.
    Analytics,
    /// Payments.
    Payments,
    /// The web client.
    Web,
    /// Graph API.
    Graph,
    /// An app's API.
    Api,
    /// Content delivery.
    Cdn,
    /// Video.
    Video,
    /// Call relays.
    Calls,
    /// Shared edge servers.
    Edge,
    /// The service's address space as a whole.
    Network,
    /// Anything else of the service.
    Other,
}

impl Role {
    /// Every role, in the order `rules check` lists them.
    pub const ALL: [Role; 18] = [
        Role::Chat,
        Role::Media,
        Role::Registration,
        Role::ProfilePictures,
        Role::Static,
        Role::Crashlogs,
        Role::Telemetry,
        Role::Analytics,
        Role::Payments,
        Role::Web,
        Role::Graph,
        Role::Api,
        Role::Cdn,
        Role::Video,
        Role::Calls,
        Role::Edge,
        Role::Network,
        Role::Other,
    ];

    /// The name in rule files and in `service.role` endpoint names.
    pub fn name(self) -> &'static str {
        match self {
            Role::Chat => "chat",
            Role::Media => "media",
            Role::Registration => "registration",
            Role::ProfilePictures => "profile_pictures",
            Role::Static => "static",
            Role::Crashlogs => "crashlogs",
            Role::Telemetry => "telemetry",
            Role::Analytics => "analytics",
            Role::Payments => "payments",
            Role::Web => "web",
            Role::Graph => "graph",
            Role::Api => "api",
            Role::Cdn => "cdn",
            Role::Video => "video",
            Role::Calls => "calls",
            Role::Edge => "edge",
            Role::Network => "network",
            Role::Other => "other",
        }
    }

    /// The role named `name`, if it is one.
    pub fn parse(name: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.name() == name)
    }

    /// Logs sent to the service: telemetry, crash logs, analytics.
    pub fn sends_logs(self) -> bool {
        matches!(self, Role::Telemetry | Role::Crashlogs | Role::Analytics)
    }

    /// The names of all roles, comma-separated (for messages).
    pub fn known() -> String {
        Role::ALL.map(Role::name).join(", ")
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_parse_back_and_unknown_names_do_not() {
        for r in Role::ALL {
            assert_eq!(Role::parse(r.name()), Some(r));
        }
        assert_eq!(Role::parse("profile_pictures"), Some(Role::ProfilePictures));
        assert_eq!(Role::parse("gateway"), None);
        assert_eq!(Role::parse("Media"), None);
    }
}
