//! Where outgoing webhooks may go: a receiver's host must resolve to public addresses
//! only, unless `webhooks.allow_private_targets` is on (tests, on-premise receivers).
//!
//! An admin must not be able to make the server call into its own network (loopback,
//! private, link-local, carrier-grade NAT, unique-local addresses). A check of the URL's
//! text is not enough: any host name can resolve to 127.0.0.1, and a name can resolve
//! differently later (DNS rebinding). So the host is resolved and checked when the
//! endpoint is registered ([`check_host`]), again before every delivery, and the
//! delivery client connects only to addresses that pass ([`GuardedResolver`]), so what
//! was checked is what is connected to.

use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;

/// Whether an address is one the server must not call by default.
pub fn is_private(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                // 100.64.0.0/10, carrier-grade NAT.
                || (v4.octets()[0] == 100 && (v4.octets()[1] & 0xc0) == 64)
        }
        IpAddr::V6(v6) => {
            v6.is_loopback()
                || v6.is_unspecified()
                // fc00::/7 unique local, fe80::/10 link local.
                || (v6.segments()[0] & 0xfe00) == 0xfc00
                || (v6.segments()[0] & 0xffc0) == 0xfe80
                || v6.to_ipv4_mapped().is_some_and(|v4| is_private(IpAddr::V4(v4)))
        }
    }
}

/// Why a target was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TargetError {
    /// The host resolves to (or is) a loopback, private or link-local address.
    #[error("{host} resolves to a loopback, private or link-local address ({address}); refused (webhooks.allow_private_targets)")]
    Private {
        /// The host as given.
        host: String,
        /// The first refused address.
        address: IpAddr,
    },
    /// The host name does not resolve.
    #[error("{host} does not resolve: {reason}")]
    Unresolvable {
        /// The host as given.
        host: String,
        /// What the resolver said.
        reason: String,
    },
}

/// A future of resolved addresses.
pub type Lookup = Pin<Box<dyn Future<Output = std::io::Result<Vec<SocketAddr>>> + Send>>;

/// Resolves a host name (the system resolver in production; a fixed table in tests).
pub trait HostResolver: Send + Sync + 'static {
    /// The addresses of `host` (port 0).
    fn lookup(&self, host: &str) -> Lookup;
}

/// The operating system's resolver (`getaddrinfo`, through tokio).
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemResolver;

impl HostResolver for SystemResolver {
    fn lookup(&self, host: &str) -> Lookup {
        let host = host.to_owned();
        Box::pin(async move { Ok(tokio::net::lookup_host((host, 0)).await?.collect()) })
    }
}

/// The host of a URL without IPv6 brackets.
fn bare(host: &str) -> &str {
    host.trim_start_matches('[').trim_end_matches(']')
}

/// The addresses `host` may be called at: every resolved address must be public, unless
/// `allow_private`. An IP literal is checked as is; a name that resolves to no address
/// is refused. Refusing when *any* address is private (not only all) keeps a name that
/// mixes public and private answers from reaching the private one.
pub async fn check_host(
    resolver: &dyn HostResolver,
    host: &str,
    allow_private: bool,
) -> Result<Vec<IpAddr>, TargetError> {
    let host = bare(host);
    let addresses: Vec<IpAddr> = match host.parse::<IpAddr>() {
        Ok(ip) => vec![ip],
        Err(_) => resolver
            .lookup(host)
            .await
            .map_err(|e| TargetError::Unresolvable {
                host: host.to_owned(),
                reason: e.to_string(),
            })?
            .into_iter()
            .map(|a| a.ip())
            .collect(),
    };
    if addresses.is_empty() {
        return Err(TargetError::Unresolvable {
            host: host.to_owned(),
            reason: "no address".to_owned(),
        });
    }
    if !allow_private {
        if let Some(address) = addresses.iter().copied().find(|ip| is_private(*ip)) {
            return Err(TargetError::Private {
                host: host.to_owned(),
                address,
            });
        }
    }
    Ok(addresses)
}

/// The delivery client's DNS resolver: answers only with addresses [`check_host`]
/// accepts, so a name re-pointed at a private address between the check and the
/// connection (DNS rebinding) is still refused.
pub struct GuardedResolver {
    inner: Arc<dyn HostResolver>,
    allow_private: bool,
}

impl GuardedResolver {
    /// A guard over `inner`.
    pub fn new(inner: Arc<dyn HostResolver>, allow_private: bool) -> Self {
        Self {
            inner,
            allow_private,
        }
    }
}

impl reqwest::dns::Resolve for GuardedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let inner = Arc::clone(&self.inner);
        let allow_private = self.allow_private;
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let addresses = check_host(inner.as_ref(), &host, allow_private).await?;
            let addrs: reqwest::dns::Addrs =
                Box::new(addresses.into_iter().map(|ip| SocketAddr::new(ip, 0)));
            Ok(addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    /// A resolver with a fixed table.
    struct Table(HashMap<&'static str, Vec<IpAddr>>);

    impl HostResolver for Table {
        fn lookup(&self, host: &str) -> Lookup {
            let found = self.0.get(host).cloned();
            let host = host.to_owned();
            Box::pin(async move {
                found
                    .map(|ips| ips.into_iter().map(|ip| SocketAddr::new(ip, 0)).collect())
                    .ok_or_else(|| {
                        std::io::Error::new(std::io::ErrorKind::NotFound, format!("{host}?"))
                    })
            })
        }
    }

    fn table() -> Table {
        Table(HashMap::from([
            ("hooks.example.com", vec!["93.184.216.34".parse().unwrap()]),
            ("sneaky.example.com", vec!["127.0.0.1".parse().unwrap()]),
            (
                "mixed.example.com",
                vec![
                    "93.184.216.34".parse().unwrap(),
                    "10.0.0.7".parse().unwrap(),
                ],
            ),
        ]))
    }

    #[tokio::test]
    async fn a_name_resolving_to_loopback_is_refused_unless_allowed() {
        let resolver = table();
        assert_eq!(
            check_host(&resolver, "sneaky.example.com", false).await,
            Err(TargetError::Private {
                host: "sneaky.example.com".into(),
                address: "127.0.0.1".parse().unwrap(),
            })
        );
        assert!(check_host(&resolver, "sneaky.example.com", true)
            .await
            .is_ok());
        assert!(matches!(
            check_host(&resolver, "mixed.example.com", false).await,
            Err(TargetError::Private { .. })
        ));
        assert_eq!(
            check_host(&resolver, "hooks.example.com", false).await,
            Ok(vec!["93.184.216.34".parse::<IpAddr>().unwrap()])
        );
        assert!(matches!(
            check_host(&resolver, "nowhere.example.com", false).await,
            Err(TargetError::Unresolvable { .. })
        ));
        // Literals are checked without a lookup, brackets or not.
        assert!(check_host(&resolver, "[::1]", false).await.is_err());
        assert!(check_host(&resolver, "169.254.169.254", false)
            .await
            .is_err());
        assert!(check_host(&resolver, "100.64.0.1", false).await.is_err());
    }

    #[tokio::test]
    async fn the_delivery_client_cannot_connect_to_a_refused_address() {
        use reqwest::dns::Resolve;
        let guard = GuardedResolver::new(Arc::new(table()), false);
        let name: reqwest::dns::Name = "sneaky.example.com".parse().unwrap();
        let refused = guard.resolve(name).await.err().expect("refused");
        assert!(refused.to_string().contains("127.0.0.1"), "{refused}");
        let name: reqwest::dns::Name = "hooks.example.com".parse().unwrap();
        let Ok(addrs) = guard.resolve(name).await else {
            panic!("a public address was refused");
        };
        let addrs: Vec<SocketAddr> = addrs.collect();
        assert_eq!(addrs, vec!["93.184.216.34:0".parse().unwrap()]);
    }

    #[test]
    fn private_ranges() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "0.0.0.0",
            "100.100.0.1",
            "::1",
            "fd00::1",
            "fe80::1",
            "::ffff:127.0.0.1",
        ] {
            assert!(is_private(ip.parse().unwrap()), "{ip}");
        }
        for ip in ["93.184.216.34", "8.8.8.8", "2606:4700::1111", "100.128.0.1"] {
            assert!(!is_private(ip.parse().unwrap()), "{ip}");
        }
    }
}
