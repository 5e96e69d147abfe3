//! The flow table's index: flow key → slab slot. Only the 4-byte slot is stored; the key lives
//! once, in the flow, and is compared there. A `HashMap<FlowKey, u32>` kept a second copy of the
//! 38-byte key in every bucket: with hashbrown's load factor, ~94 B per live flow at 1 M flows,
//! against ~10 B here.

use std::hash::BuildHasher;

use foldhash::fast::RandomState;
use hashbrown::HashTable;

use super::key::FlowKey;

/// Slot → key, for comparing and rehashing.
pub trait Keys {
    /// The key of live slot `i`.
    fn key(&self, i: u32) -> &FlowKey;
}

/// Key → slot.
#[derive(Default)]
pub struct Index {
    table: HashTable<u32>,
    hasher: RandomState,
}

impl Index {
    fn hash(&self, key: &FlowKey) -> u64 {
        self.hasher.hash_one(key)
    }

    /// Live flows.
    pub fn len(&self) -> usize {
        self.table.len()
    }

    /// The slot of `key`.
    pub fn get<K: Keys>(&self, key: &FlowKey, slots: &K) -> Option<u32> {
        self.table.find(self.hash(key), |&i| slots.key(i) == key).copied()
    }

    /// Adds slot `i`, whose flow (with `key`) is already in `slots`; the key must be new.
    pub fn insert<K: Keys>(&mut self, key: &FlowKey, i: u32, slots: &K) {
        let hasher = &self.hasher;
        self.table.insert_unique(self.hasher.hash_one(key), i, |&j| hasher.hash_one(slots.key(j)));
    }

    /// Removes slot `i`, which had `key`.
    pub fn remove(&mut self, key: &FlowKey, i: u32) {
        if let Ok(e) = self.table.find_entry(self.hash(key), |&j| j == i) {
            e.remove();
        }
    }
}
