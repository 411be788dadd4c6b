//! Where outgoing webhooks may go: a receiver's host must resolve to public addresses
//! only, unless `webhooks.allow_private_targets` is on (tests, on-premise receivers).
//!
//! An admin must not be able to make the server call into its own network (loopback,
//! private, link-local, carrier-grade NAT, unique-local, multicast, reserved addresses,
//! and IPv6 addresses that embed one of them: see [`is_private`]). A check of the URL's
//! text is not enough: any host name can resolve to 127.0.0.1, and a name can resolve
//! differently later (DNS rebinding). So the host is resolved and checked when the
//! endpoint is registered ([`check_host`]), again before every delivery, and the
//! delivery client connects only to addresses that pass ([`GuardedResolver`]), so what
//! was checked is what is connected to.

use std::future::Future;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;

/// Whether an address is one the server must not call by default: loopback, private,
/// link-local, carrier-grade NAT, multicast, reserved, benchmarking, documentation and
/// IETF-assignment ranges, and any IPv6 address that embeds such an IPv4 address
/// (IPv4-mapped and -compatible, NAT64 `64:ff9b::/96`, 6to4 `2002::/16`).
pub fn is_private(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => private_v4(v4),
        IpAddr::V6(v6) => private_v6(v6),
    }
}

fn private_v4(v4: Ipv4Addr) -> bool {
    let [a, b, c, _] = v4.octets();
    v4.is_loopback()
        || v4.is_private()
        || v4.is_link_local()
        || v4.is_unspecified()
        || v4.is_broadcast()
        || v4.is_multicast()
        // 0.0.0.0/8, "this network".
        || a == 0
        // 100.64.0.0/10, carrier-grade NAT.
        || (a == 100 && (b & 0xc0) == 64)
        // 192.0.0.0/24, IETF protocol assignments.
        || (a == 192 && b == 0 && c == 0)
        // Documentation: 192.0.2.0/24, 198.51.100.0/24, 203.0.113.0/24.
        || (a == 192 && b == 0 && c == 2)
        || (a == 198 && b == 51 && c == 100)
        || (a == 203 && b == 0 && c == 113)
        // 198.18.0.0/15, benchmarking.
        || (a == 198 && (b & 0xfe) == 18)
        // 240.0.0.0/4, reserved.
        || a >= 240
}

fn private_v6(v6: Ipv6Addr) -> bool {
    let s = v6.segments();
    if v6.is_loopback() || v6.is_unspecified() || v6.is_multicast() {
        return true;
    }
    // fc00::/7 unique local, fe80::/10 link local.
    if (s[0] & 0xfe00) == 0xfc00 || (s[0] & 0xffc0) == 0xfe80 {
        return true;
    }
    // 2001:db8::/32 documentation; 2001::/32 Teredo, whose IPv4 addresses are
    // obfuscated and cannot be checked; 64:ff9b:1::/48, local-use NAT64.
    if (s[0] == 0x2001 && (s[1] == 0x0db8 || s[1] == 0))
        || (s[0] == 0x64 && s[1] == 0xff9b && s[2] == 1)
    {
        return true;
    }
    // An address that embeds an IPv4 address reaches that address: check it.
    embedded_v4(v6).is_some_and(private_v4)
}

/// The IPv4 address an IPv6 address carries, for the forms that route to it.
fn embedded_v4(v6: Ipv6Addr) -> Option<Ipv4Addr> {
    let s = v6.segments();
    let v4 = |hi: u16, lo: u16| {
        let [a, b] = hi.to_be_bytes();
        let [c, d] = lo.to_be_bytes();
        Ipv4Addr::new(a, b, c, d)
    };
    if let Some(mapped) = v6.to_ipv4_mapped() {
        // ::ffff:0:0/96, IPv4-mapped.
        return Some(mapped);
    }
    match s {
        // ::/96, IPv4-compatible (deprecated), and 64:ff9b::/96, NAT64.
        [0, 0, 0, 0, 0, 0, hi, lo] | [0x64, 0xff9b, 0, 0, 0, 0, hi, lo] => Some(v4(hi, lo)),
        // 2002::/16, 6to4: the IPv4 address follows the prefix.
        [0x2002, hi, lo, ..] => Some(v4(hi, lo)),
        _ => None,
    }
}

/// Why a target was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TargetError {
    /// The host resolves to (or is) a loopback, private, link-local or reserved address.
    #[error("{host} resolves to a loopback, private, link-local or reserved address ({address}); refused (webhooks.allow_private_targets)")]
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
    #[test]
    fn reserved_ranges_and_embedded_private_ipv4_are_refused_and_public_ones_are_not() {
        let refused = [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.1.2.3",
            "224.0.0.1",
            "239.255.255.250",
            "255.255.255.255",
            "240.0.0.1",
            "198.18.0.1",
            "198.19.255.255",
            "192.0.0.8",
            "192.0.2.1",
            "198.51.100.7",
            "203.0.113.9",
            "::1",
            "::",
            "fc00::1",
            "fd12::1",
            "fe80::1",
            "ff02::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "::10.0.0.1",
            "64:ff9b::7f00:1",
            "64:ff9b::a00:1",
            "64:ff9b:1::1",
            "2002:7f00:1::",
            "2002:c0a8:101::1",
            "2001:db8::1",
            "2001:0:4136:e378::1",
        ];
        for address in refused {
            let ip: super::IpAddr = address.parse().unwrap();
            assert!(super::is_private(ip), "{address} should be refused");
        }
        let allowed = [
            "93.184.216.34",
            "8.8.8.8",
            "1.1.1.1",
            "198.20.0.1",
            "192.0.1.1",
            "2606:4700::1111",
            "64:ff9b::808:808",
            "2002:808:808::1",
            "::ffff:8.8.8.8",
        ];
        for address in allowed {
            let ip: super::IpAddr = address.parse().unwrap();
            assert!(!super::is_private(ip), "{address} should be allowed");
        }
    }

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
