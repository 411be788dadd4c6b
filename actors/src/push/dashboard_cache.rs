//! An organisation's rendered dashboard views, readable without a call to its actor.
//!
//! `GET /api/v1/metrics/dashboard` is the hottest REST read. The organisation actor renders
//! a view once per change and publishes it here; requests read it under a shared lock
//! instead of queueing behind the actor's mailbox (which also carries every update of the
//! stream), so a read costs a lock and a reference-count increment. Only the actor writes:
//! it clears the views in the same handler that changes what they show, so a reader sees
//! either the view before a change or, after the clear, a fresh one rendered by the actor.

use bytes::Bytes;
use parking_lot::RwLock;
use warroom_engine::Window;

/// The latest rendered dashboard view per window (`None`: render through the actor).
#[derive(Debug, Default)]
pub struct DashboardCache {
    views: RwLock<[Option<Bytes>; 4]>,
}

impl DashboardCache {
    /// The rendered view of `window`, if it is current.
    pub fn get(&self, window: Window) -> Option<Bytes> {
        self.views.read()[window.index()].clone()
    }

    /// Publishes the rendered view of `window` (organisation actor only).
    pub fn put(&self, window: Window, view: Bytes) {
        self.views.write()[window.index()] = Some(view);
    }

    /// Forgets every view (organisation actor only, when what they show changes).
    pub fn clear(&self) {
        *self.views.write() = Default::default();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn views_are_kept_per_window_until_cleared() {
        let cache = DashboardCache::default();
        assert_eq!(cache.get(Window::H1), None);
        cache.put(Window::H1, Bytes::from_static(b"h1"));
        cache.put(Window::D7, Bytes::from_static(b"d7"));
        assert_eq!(cache.get(Window::H1), Some(Bytes::from_static(b"h1")));
        assert_eq!(cache.get(Window::M15), None);
        cache.clear();
        assert_eq!(cache.get(Window::H1), None);
        assert_eq!(cache.get(Window::D7), None);
    }
}
