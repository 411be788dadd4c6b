//! Key and channel names: every one starts with the configured prefix, and every tenant
//! entry carries its organisation in a form no other organisation can spell.

use std::sync::Arc;

use warroom_engine::OrgId;

/// Builds the names of keys and channels.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Keyspace {
    prefix: Arc<str>,
}

impl Keyspace {
    /// Names under `prefix` (checked by the configuration: no `:`).
    pub fn new(prefix: &str) -> Self {
        Self {
            prefix: Arc::from(prefix),
        }
    }

    /// The prefix.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// The start shared by every entry of `org`: `<prefix>:org:<len>:<org>:`. The length
    /// makes the organisation's end unambiguous even if an id contained `:`, so entries of
    /// two organisations never share a key whatever their entry names are.
    pub fn org_prefix(&self, org: &OrgId) -> String {
        let org = org.as_str();
        format!("{}:org:{}:{org}:", self.prefix, org.len())
    }

    /// The key of one entry of `org`.
    pub fn entry(&self, org: &OrgId, name: &str) -> String {
        let mut key = self.org_prefix(org);
        key.push_str("e:");
        key.push_str(name);
        key
    }

    /// The key holding the generation of `org`'s entries.
    pub fn generation(&self, org: &OrgId) -> String {
        let mut key = self.org_prefix(org);
        key.push_str("generation");
        key
    }

    /// The key of a system-wide value.
    pub fn system(&self, name: &str) -> String {
        format!("{}:system:{name}", self.prefix)
    }

    /// The key of a rate-limit counter.
    pub fn rate(&self, name: &str) -> String {
        format!("{}:rate:{name}", self.prefix)
    }

    /// The Redis channel of a bus channel.
    pub fn channel(&self, name: &str) -> String {
        format!("{}:bus:{name}", self.prefix)
    }

    /// The bus channel of a Redis channel, if it is one of ours.
    pub fn channel_name<'a>(&self, redis_channel: &'a str) -> Option<&'a str> {
        redis_channel
            .strip_prefix(&*self.prefix)?
            .strip_prefix(":bus:")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn organisations_never_share_a_key() {
        let keys = Keyspace::new("wr");
        // Without the length, org "a" with entry "b:e:x" could collide with org "a:b".
        let a = keys.entry(&OrgId::new("a"), "b:e:x");
        let ab = keys.entry(&OrgId::new("a:b"), "x");
        assert_ne!(a, ab);
        assert_eq!(
            keys.entry(&OrgId::new("demo"), "alerts"),
            "wr:org:4:demo:e:alerts"
        );
        assert!(keys
            .entry(&OrgId::new("demo"), "x")
            .starts_with(&keys.org_prefix(&OrgId::new("demo"))));
        assert!(!keys
            .entry(&OrgId::new("demo2"), "x")
            .starts_with(&keys.org_prefix(&OrgId::new("demo"))));
    }

    #[test]
    fn channels_round_trip_and_foreign_ones_are_ignored() {
        let keys = Keyspace::new("wr");
        assert_eq!(
            keys.channel_name(&keys.channel("data-mode")),
            Some("data-mode")
        );
        assert_eq!(keys.channel_name("other:bus:data-mode"), None);
        assert_eq!(keys.channel_name("wr:system:x"), None);
    }
}
