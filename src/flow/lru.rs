//! Intrusive doubly linked lists over slab indices, ordered by last activity. Touching a flow
//! moves it to the tail in O(1); expiry pops from the head while the head is idle long enough, so
//! timeout work is proportional to the flows that expire, not to the flows that exist.

/// Index of "no neighbour".
pub const NIL: u32 = u32::MAX;

/// Links stored inside each slab entry.
#[derive(Clone, Copy, Debug)]
pub struct Links {
    /// Previous (older) entry.
    pub prev: u32,
    /// Next (newer) entry.
    pub next: u32,
}

impl Default for Links {
    fn default() -> Self {
        Links { prev: NIL, next: NIL }
    }
}

/// Head and tail of one list.
#[derive(Clone, Copy, Debug)]
pub struct List {
    /// Oldest entry.
    pub head: u32,
    /// Newest entry.
    pub tail: u32,
}

impl Default for List {
    fn default() -> Self {
        List { head: NIL, tail: NIL }
    }
}

/// Access to the links of slab entries.
pub trait Linked {
    /// The links of entry `i`.
    fn links(&mut self, i: u32) -> &mut Links;
}

impl List {
    /// Appends `i` at the tail (newest).
    pub fn push_back<S: Linked>(&mut self, slab: &mut S, i: u32) {
        *slab.links(i) = Links { prev: self.tail, next: NIL };
        if self.tail == NIL {
            self.head = i;
        } else {
            slab.links(self.tail).next = i;
        }
        self.tail = i;
    }

    /// Unlinks `i`, which must be in this list.
    pub fn remove<S: Linked>(&mut self, slab: &mut S, i: u32) {
        let Links { prev, next } = *slab.links(i);
        if prev == NIL {
            self.head = next;
        } else {
            slab.links(prev).next = next;
        }
        if next == NIL {
            self.tail = prev;
        } else {
            slab.links(next).prev = prev;
        }
        *slab.links(i) = Links::default();
    }

    /// Moves `i` to the tail.
    pub fn touch<S: Linked>(&mut self, slab: &mut S, i: u32) {
        if self.tail != i {
            self.remove(slab, i);
            self.push_back(slab, i);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Slab(Vec<Links>);
    impl Linked for Slab {
        fn links(&mut self, i: u32) -> &mut Links {
            &mut self.0[i as usize]
        }
    }

    fn order(l: &List, s: &mut Slab) -> Vec<u32> {
        let mut v = Vec::new();
        let mut i = l.head;
        while i != NIL {
            v.push(i);
            i = s.links(i).next;
        }
        v
    }

    #[test]
    fn push_touch_remove() {
        let mut s = Slab(vec![Links::default(); 4]);
        let mut l = List::default();
        for i in 0..4 {
            l.push_back(&mut s, i);
        }
        l.touch(&mut s, 1);
        assert_eq!(order(&l, &mut s), [0, 2, 3, 1]);
        l.remove(&mut s, 0);
        l.remove(&mut s, 1);
        assert_eq!(order(&l, &mut s), [2, 3]);
        assert_eq!((l.head, l.tail), (2, 3));
    }
}
