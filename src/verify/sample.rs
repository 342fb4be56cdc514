//! A deterministic reservoir sample: `capacity` items drawn uniformly from a stream of unknown
//! length in one pass, holding at most `capacity` items; the same stream gives the same sample.

/// Algorithm R over a fixed-seed generator (SplitMix64).
pub struct Reservoir<T> {
    capacity: usize,
    seen: u64,
    state: u64,
    items: Vec<T>,
}

impl<T> Reservoir<T> {
    pub fn new(capacity: usize) -> Reservoir<T> {
        Reservoir {
            capacity,
            seen: 0,
            state: 0x9e37_79b9_7f4a_7c15,
            items: Vec::new(),
        }
    }

    /// Offers the next item of the stream.
    pub fn offer(&mut self, item: T) {
        self.seen += 1;
        if self.items.len() < self.capacity {
            self.items.push(item);
            return;
        }
        let slot = self.next() % self.seen;
        if let Some(kept) = usize::try_from(slot).ok().and_then(|slot| self.items.get_mut(slot)) {
            *kept = item;
        }
    }

    pub fn into_items(self) -> Vec<T> {
        self.items
    }

    fn next(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

#[cfg(test)]
mod tests {
    use super::Reservoir;

    #[test]
    fn keeps_everything_below_capacity_and_capacity_items_above() {
        let mut small = Reservoir::new(10);
        (0..5).for_each(|item| small.offer(item));
        assert_eq!(small.into_items(), vec![0, 1, 2, 3, 4]);
        let mut large = Reservoir::new(10);
        (0..10_000).for_each(|item| large.offer(item));
        let items = large.into_items();
        assert_eq!(items.len(), 10);
        // Drawn from the whole stream, not only its start.
        assert!(items.iter().any(|item| *item > 5_000), "{items:?}");
        let mut again = Reservoir::new(10);
        (0..10_000).for_each(|item| again.offer(item));
        assert_eq!(again.into_items(), items, "deterministic");
    }
}
