//! Short-lived caches for the requests dashboards repeat many times a second:
//! the API key lookup behind every request, and the rendered job a progress
//! bar polls. Both trade a bounded staleness (the TTL, a fraction of a
//! second to a few seconds, configurable; 0 turns a cache off) for not asking
//! the database on every poll. Changes made through this process evict at
//! once (revoking a key, cancelling a job); changes made elsewhere (another
//! API replica, the worker's progress) show within the TTL.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Entries kept at most; when full the cache starts over (simple, and a
/// full cache means the working set is not small anyway).
const MAX_ENTRIES: usize = 10_000;

#[derive(Debug)]
pub struct TtlCache<K, V> {
    ttl: Duration,
    entries: Mutex<HashMap<K, (V, Instant)>>,
}

impl<K: Eq + Hash, V: Clone> TtlCache<K, V> {
    pub fn new(ttl: Duration) -> Self {
        Self {
            ttl,
            entries: Mutex::new(HashMap::new()),
        }
    }

    pub fn get(&self, key: &K) -> Option<V> {
        if self.ttl.is_zero() {
            return None;
        }
        let entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        entries
            .get(key)
            .filter(|(_, at)| at.elapsed() < self.ttl)
            .map(|(v, _)| v.clone())
    }

    pub fn put(&self, key: K, value: V) {
        if self.ttl.is_zero() {
            return;
        }
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        if entries.len() >= MAX_ENTRIES {
            entries.clear();
        }
        entries.insert(key, (value, Instant::now()));
    }

    pub fn evict(&self, key: &K) {
        self.entries
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(key);
    }

    pub fn clear(&self) {
        self.entries
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_expire_and_evict() {
        let cache = TtlCache::new(Duration::from_millis(50));
        cache.put("k", 1);
        assert_eq!(cache.get(&"k"), Some(1));
        cache.evict(&"k");
        assert_eq!(cache.get(&"k"), None);
        cache.put("k", 2);
        std::thread::sleep(Duration::from_millis(60));
        assert_eq!(cache.get(&"k"), None, "expired");
    }

    #[test]
    fn zero_ttl_is_off() {
        let cache = TtlCache::new(Duration::ZERO);
        cache.put("k", 1);
        assert_eq!(cache.get(&"k"), None);
    }
}
