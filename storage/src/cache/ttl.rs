//! The seed's Redis caching strategy (section 3.2) as a named, configurable policy.

use std::time::Duration;

use warroom_engine::config::CacheTtlConfig;

/// The kinds of cached entries the seed names, each with its own lifetime.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CacheKind {
    /// Mentionlytics API responses (5 min).
    Mentionlytics,
    /// Meta insights API responses (1 h).
    MetaInsights,
    /// Google Ads API responses (15 min).
    GoogleAds,
    /// User sessions (15 min).
    UserSessions,
    /// Refresh tokens (7 days).
    RefreshTokens,
    /// Dashboard KPIs (1 min).
    DashboardKpis,
    /// Crisis alert lists (30 s).
    CrisisAlerts,
    /// System health (30 s).
    SystemHealth,
}

impl CacheKind {
    /// The seed's name, also the first segment of the entry names of this kind.
    pub fn as_str(self) -> &'static str {
        match self {
            CacheKind::Mentionlytics => "mentionlytics",
            CacheKind::MetaInsights => "metaInsights",
            CacheKind::GoogleAds => "googleAds",
            CacheKind::UserSessions => "userSessions",
            CacheKind::RefreshTokens => "refreshTokens",
            CacheKind::DashboardKpis => "dashboardKPIs",
            CacheKind::CrisisAlerts => "crisisAlerts",
            CacheKind::SystemHealth => "systemHealth",
        }
    }
}

/// Lifetimes per [`CacheKind`], from `[redis.ttl]`.
#[derive(Debug, Clone)]
pub struct TtlPolicy {
    config: CacheTtlConfig,
}

impl TtlPolicy {
    /// The policy a configuration describes.
    pub fn from_config(config: &CacheTtlConfig) -> Self {
        Self {
            config: config.clone(),
        }
    }

    /// The lifetime of entries of `kind`.
    pub fn ttl(&self, kind: CacheKind) -> Duration {
        let c = &self.config;
        match kind {
            CacheKind::Mentionlytics => c.mentionlytics,
            CacheKind::MetaInsights => c.meta_insights,
            CacheKind::GoogleAds => c.google_ads,
            CacheKind::UserSessions => c.user_sessions,
            CacheKind::RefreshTokens => c.refresh_tokens,
            CacheKind::DashboardKpis => c.dashboard_kpis,
            CacheKind::CrisisAlerts => c.crisis_alerts,
            CacheKind::SystemHealth => c.system_health,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_follow_the_seed() {
        let policy = TtlPolicy::from_config(&warroom_engine::Config::defaults().redis.ttl);
        assert_eq!(
            policy.ttl(CacheKind::Mentionlytics),
            Duration::from_secs(300)
        );
        assert_eq!(
            policy.ttl(CacheKind::MetaInsights),
            Duration::from_secs(3600)
        );
        assert_eq!(policy.ttl(CacheKind::GoogleAds), Duration::from_secs(900));
        assert_eq!(
            policy.ttl(CacheKind::DashboardKpis),
            Duration::from_secs(60)
        );
        assert_eq!(policy.ttl(CacheKind::CrisisAlerts), Duration::from_secs(30));
        assert_eq!(policy.ttl(CacheKind::SystemHealth), Duration::from_secs(30));
        assert_eq!(
            policy.ttl(CacheKind::RefreshTokens),
            Duration::from_secs(604_800)
        );
    }
}
