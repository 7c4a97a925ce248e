//! How long the rest of a build takes if each instance takes as long as its last build: the
//! schedule played forward on the job slots.

use std::collections::BTreeMap;

/// Plays the rest of the schedule on `jobs` slots: the `running` instances end after the
/// seconds they have left; each `waiting` instance (its estimate, and the instances it needs)
/// starts, the one ready earliest first, on the slot that frees first. Returns the seconds
/// until the last one ends. Needs that are neither running nor waiting are done.
pub fn remaining(
    jobs: usize,
    running: &BTreeMap<usize, f64>,
    waiting: &BTreeMap<usize, (f64, Vec<usize>)>,
) -> f64 {
    let mut ends = running.clone();
    let mut slots: Vec<f64> = running.values().copied().collect();
    slots.resize(jobs.max(running.len()).max(1), 0.0);
    let mut left = waiting.clone();
    loop {
        let ready = |needs: &[usize]| {
            needs.iter().try_fold(0.0_f64, |latest, need| {
                if left.contains_key(need) {
                    return None;
                }
                Some(latest.max(ends.get(need).copied().unwrap_or(0.0)))
            })
        };
        let next = left
            .iter()
            .filter_map(|(index, (_, needs))| Some((*index, ready(needs)?)))
            .min_by(|a, b| a.1.total_cmp(&b.1));
        let Some((index, ready)) = next else {
            break;
        };
        let slot = (0..slots.len())
            .min_by(|a, b| slots[*a].total_cmp(&slots[*b]))
            .expect("at least one slot");
        let end = ready.max(slots[slot]) + left[&index].0;
        slots[slot] = end;
        ends.insert(index, end);
        left.remove(&index);
    }
    ends.values().copied().fold(0.0, f64::max)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn waiting(list: &[(usize, f64, &[usize])]) -> BTreeMap<usize, (f64, Vec<usize>)> {
        list.iter()
            .map(|(index, seconds, needs)| (*index, (*seconds, needs.to_vec())))
            .collect()
    }

    #[test]
    fn a_chain_takes_its_sum_whatever_the_slots() {
        let chain = waiting(&[(1, 2.0, &[0]), (2, 3.0, &[1])]);
        let running = BTreeMap::from([(0, 1.0)]);
        assert_eq!(remaining(8, &running, &chain), 6.0);
    }

    #[test]
    fn independent_instances_share_the_slots() {
        let four = waiting(&[(0, 2.0, &[]), (1, 2.0, &[]), (2, 2.0, &[]), (3, 2.0, &[])]);
        assert_eq!(remaining(2, &BTreeMap::new(), &four), 4.0);
        assert_eq!(remaining(4, &BTreeMap::new(), &four), 2.0);
    }

    #[test]
    fn a_busy_slot_delays_what_is_ready() {
        // One slot, busy for 5 s with 0; 1 needs nothing but waits for the slot; 2 needs 9,
        // which is done.
        let rest = waiting(&[(1, 1.0, &[]), (2, 1.0, &[9])]);
        assert_eq!(remaining(1, &BTreeMap::from([(0, 5.0)]), &rest), 7.0);
    }
}
