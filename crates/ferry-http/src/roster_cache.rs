//! The validated roster of recent migrations, kept between requests.
//!
//! Every licence request needs the whole roster (the rules look at every
//! user), and reading and validating a million users takes seconds. A roster
//! never changes in place — an upload replaces it and bumps its generation
//! (`Store::roster_generation`) — so a copy cached under (migration,
//! generation) is exact until the generation moves; each request pays one
//! small query to learn it. Several API processes each keep their own copy.
//! The cache holds few entries: one large roster is hundreds of megabytes.

use std::sync::{Arc, Mutex};

use ferry_domain::licensing::Roster;

/// A small most-recently-used list of validated rosters.
#[derive(Debug)]
pub struct RosterCache {
    capacity: usize,
    entries: Mutex<Vec<Entry>>,
}

#[derive(Debug)]
struct Entry {
    migration_id: String,
    generation: i64,
    roster: Arc<Roster>,
}

impl RosterCache {
    /// `capacity` 0 turns the cache off.
    pub fn new(capacity: usize) -> Self {
        Self {
            capacity,
            entries: Mutex::new(Vec::new()),
        }
    }

    pub fn get(&self, migration_id: &str, generation: i64) -> Option<Arc<Roster>> {
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        let at = entries
            .iter()
            .position(|e| e.migration_id == migration_id && e.generation == generation)?;
        // Most recent first.
        let entry = entries.remove(at);
        let roster = entry.roster.clone();
        entries.insert(0, entry);
        Some(roster)
    }

    pub fn put(&self, migration_id: &str, generation: i64, roster: Arc<Roster>) {
        if self.capacity == 0 {
            return;
        }
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        // An older generation of the same migration is dead weight.
        entries.retain(|e| e.migration_id != migration_id);
        entries.insert(
            0,
            Entry {
                migration_id: migration_id.to_owned(),
                generation,
                roster,
            },
        );
        entries.truncate(self.capacity);
    }
}

impl Default for RosterCache {
    fn default() -> Self {
        Self::new(2)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn roster() -> Arc<Roster> {
        Arc::new(Roster::from_inputs(&[], &[]).unwrap_or_else(|_| unreachable!()))
    }

    #[test]
    fn hits_only_the_same_generation_and_evicts_the_least_recent() {
        let cache = RosterCache::new(2);
        cache.put("a", 1, roster());
        assert!(cache.get("a", 1).is_some());
        assert!(cache.get("a", 2).is_none(), "a new upload is a miss");
        cache.put("a", 2, roster());
        assert!(cache.get("a", 1).is_none(), "the old generation is dropped");
        cache.put("b", 1, roster());
        assert!(cache.get("a", 2).is_some());
        cache.put("c", 1, roster());
        assert!(cache.get("b", 1).is_none(), "b was the least recent");
        assert!(cache.get("a", 2).is_some() && cache.get("c", 1).is_some());
    }

    #[test]
    fn capacity_zero_caches_nothing() {
        let cache = RosterCache::new(0);
        cache.put("a", 1, roster());
        assert!(cache.get("a", 1).is_none());
    }
}
