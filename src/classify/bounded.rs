//! A hash map that forgets its oldest keys past a cap, counting what it forgets: the shape of
//! every table the classifier learns from traffic (DNS names, carried names).

use std::collections::{HashMap, VecDeque};
use std::hash::Hash;

use foldhash::fast::RandomState;

use crate::capture::Timestamp;

/// Entries in insertion order; an entry's `stamp` tells a live key from one re-inserted later.
pub struct OldestFirst<K, V> {
    cap: usize,
    map: HashMap<K, (V, Timestamp), RandomState>,
    /// Insertion order for eviction; stale keys (re-inserted later) are skipped.
    order: VecDeque<(K, Timestamp)>,
    evicted: u64,
}

impl<K: Hash + Eq + Copy, V> OldestFirst<K, V> {
    /// An empty map holding at most `cap` keys.
    pub fn new(cap: usize) -> Self {
        OldestFirst { cap, map: HashMap::default(), order: VecDeque::new(), evicted: 0 }
    }

    /// Keys held.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Whether empty.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// Keys dropped because the map was full.
    pub fn evicted(&self) -> u64 {
        self.evicted
    }

    /// The value of `key`.
    pub fn get(&self, key: &K) -> Option<&V> {
        self.map.get(key).map(|(v, _)| v)
    }

    /// The value of `key`, to change in place (its place in the eviction order stays).
    pub fn get_mut(&mut self, key: &K) -> Option<&mut V> {
        self.map.get_mut(key).map(|(v, _)| v)
    }

    /// Inserts or replaces `key` as the newest entry, stamped `at`; evicts the oldest past the cap.
    pub fn insert(&mut self, key: K, value: V, at: Timestamp) {
        self.map.insert(key, (value, at));
        self.order.push_back((key, at));
        while self.map.len() > self.cap {
            self.pop_oldest();
        }
        // Keep the order queue from growing with re-inserted keys.
        if self.order.len() > 2 * self.cap.max(1) {
            self.order.retain(|(k, t)| self.map.get(k).is_some_and(|(_, s)| s == t));
        }
    }

    fn pop_oldest(&mut self) {
        while let Some((key, at)) = self.order.pop_front() {
            if self.map.get(&key).is_some_and(|(_, s)| *s == at) {
                self.map.remove(&key);
                self.evicted += 1;
                return;
            }
        }
    }
}
