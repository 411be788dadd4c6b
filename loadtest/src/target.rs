//! The server under test: its base URL, and the loopback-only safety check.

use std::net::{IpAddr, SocketAddr};

use anyhow::{bail, Context};
use reqwest::Url;

/// A checked target: an `http://host:port` base whose host resolves to loopback only,
/// unless remote targets were explicitly allowed.
#[derive(Debug, Clone)]
pub struct Target {
    base: Url,
}

impl Target {
    /// Parses `url` (e.g. `http://127.0.0.1:8080`) and refuses any host that does not
    /// resolve exclusively to loopback addresses unless `allow_remote` is set: a load test
    /// aimed at someone else's server by a typo is a denial-of-service attack.
    pub async fn check(url: &str, allow_remote: bool) -> anyhow::Result<Self> {
        let base = Url::parse(url).with_context(|| format!("parsing target URL {url:?}"))?;
        if base.scheme() != "http" {
            bail!("target {url:?}: only http:// is supported (WebSocket URLs are derived from it)");
        }
        let host = base
            .host_str()
            .with_context(|| format!("target {url:?} has no host"))?
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned();
        let port = base
            .port_or_known_default()
            .with_context(|| format!("target {url:?} has no port"))?;
        if base.path() != "/" || base.query().is_some() {
            bail!("target {url:?}: give the server root only, e.g. http://127.0.0.1:8080");
        }
        if !allow_remote {
            // Resolve rather than compare names: `localhost` may be fine, while a name
            // that resolves to a public address is not.
            let addrs: Vec<IpAddr> = match host.parse::<IpAddr>() {
                Ok(ip) => vec![ip],
                Err(_) => tokio::net::lookup_host((host.as_str(), port))
                    .await
                    .with_context(|| format!("resolving {host}"))?
                    .map(|a| a.ip())
                    .collect(),
            };
            if addrs.is_empty() {
                bail!("target host {host} resolves to no address");
            }
            if let Some(remote) = addrs.iter().find(|ip| !ip.is_loopback()) {
                bail!(
                    "target {url:?} resolves to the non-loopback address {remote}; \
                     pass --allow-remote if you really mean to load another machine"
                );
            }
        }
        Ok(Self { base })
    }

    /// `http://host:port` without a trailing slash.
    pub fn http_base(&self) -> String {
        self.base.as_str().trim_end_matches('/').to_owned()
    }

    /// The ingest endpoint for `org`.
    pub fn ingest_url(&self, org: &str) -> String {
        format!("{}/api/v1/ingest/mentions?org={org}", self.http_base())
    }

    /// `host:port`, for the `Host` header of hand-built requests.
    pub fn authority(&self) -> String {
        let host = self.base.host_str().unwrap_or("127.0.0.1");
        match self.base.port_or_known_default() {
            Some(port) => format!("{host}:{port}"),
            None => host.to_owned(),
        }
    }

    /// The socket address to connect to (the first the host resolves to).
    pub async fn socket_addr(&self) -> anyhow::Result<SocketAddr> {
        let host = self
            .base
            .host_str()
            .context("target has no host")?
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned();
        let port = self
            .base
            .port_or_known_default()
            .context("target has no port")?;
        if let Ok(ip) = host.parse::<IpAddr>() {
            return Ok(SocketAddr::new(ip, port));
        }
        let mut addrs = tokio::net::lookup_host((host.as_str(), port))
            .await
            .with_context(|| format!("resolving {host}"))?;
        let first = addrs.next();
        first.with_context(|| format!("{host} resolves to no address"))
    }

    /// Path and query of the dashboard endpoint for `org` and `window`.
    pub fn dashboard_path(org: &str, window: &str) -> String {
        format!("/api/v1/metrics/dashboard?org={org}&window={window}")
    }

    /// Path and query of the mentions listing for `org`.
    pub fn mentions_path(org: &str, limit: u32) -> String {
        format!("/api/v1/mentions?org={org}&limit={limit}")
    }

    /// The alerts listing of `org` with `status` (`active`, `acknowledged`, `resolved`).
    pub fn alerts_url(&self, org: &str, status: &str) -> String {
        format!(
            "{}/api/v1/alerts?org={org}&status={status}",
            self.http_base()
        )
    }

    /// The WebSocket endpoint, subscribed to all channels of `org` through the URL query.
    pub fn ws_url(&self, org: &str) -> String {
        let http = self.http_base();
        let rest = http.strip_prefix("http://").unwrap_or(&http);
        format!("ws://{rest}/api/v1/ws?org={org}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn loopback_targets_pass_and_remote_ones_are_refused() {
        for ok in [
            "http://127.0.0.1:8080",
            "http://[::1]:9000/",
            "http://localhost:1",
        ] {
            assert!(Target::check(ok, false).await.is_ok(), "{ok}");
        }
        let err = Target::check("http://10.1.2.3:8080", false)
            .await
            .unwrap_err();
        assert!(err.to_string().contains("--allow-remote"), "{err}");
        assert!(Target::check("http://10.1.2.3:8080", true).await.is_ok());
        assert!(Target::check("https://127.0.0.1:8080", false)
            .await
            .is_err());
        assert!(Target::check("http://127.0.0.1:8080/api", false)
            .await
            .is_err());
    }

    #[tokio::test]
    async fn urls_are_derived_from_the_base() {
        let t = Target::check("http://127.0.0.1:8080/", false)
            .await
            .unwrap();
        assert_eq!(
            t.ingest_url("harbor-city"),
            "http://127.0.0.1:8080/api/v1/ingest/mentions?org=harbor-city"
        );
        assert_eq!(
            t.ws_url("green-valley"),
            "ws://127.0.0.1:8080/api/v1/ws?org=green-valley"
        );
        assert_eq!(t.authority(), "127.0.0.1:8080");
        assert_eq!(
            t.socket_addr().await.unwrap(),
            "127.0.0.1:8080".parse().unwrap()
        );
        assert_eq!(
            Target::dashboard_path("o", "15m"),
            "/api/v1/metrics/dashboard?org=o&window=15m"
        );
        assert_eq!(
            t.alerts_url("o", "active"),
            "http://127.0.0.1:8080/api/v1/alerts?org=o&status=active"
        );
    }
}
