use std::collections::{BTreeMap, VecDeque};

/// The order of one build: which instances wait for dependencies, which may start, how many
/// run, and which are given up because something they need failed. An instance leaves the
/// schedule once it is done or failed; what it built is the caller's to note.
pub struct Schedule {
    /// The dependencies of each instance that are built in this run too (the others are
    /// built already and need no waiting for).
    needs: BTreeMap<usize, Vec<usize>>,
    /// How many of its needs each waiting instance still waits for.
    waiting: BTreeMap<usize, usize>,
    /// Instances whose needs are all done, in the order they may start.
    ready: VecDeque<usize>,
    running: usize,
    /// Instances that will not be built because something they need failed, in the order
    /// they were given up.
    given_up: Vec<usize>,
}

impl Schedule {
    /// Schedules `todo`; `deps` gives an instance's dependencies, built or not.
    pub fn new<'d>(todo: &[usize], deps: impl Fn(usize) -> &'d [usize]) -> Schedule {
        let needs: BTreeMap<usize, Vec<usize>> = todo
            .iter()
            .map(|index| {
                let needed = deps(*index)
                    .iter()
                    .copied()
                    .filter(|dep| todo.contains(dep))
                    .collect();
                (*index, needed)
            })
            .collect();
        let mut waiting: BTreeMap<usize, usize> = needs
            .iter()
            .map(|(index, needed)| (*index, needed.len()))
            .collect();
        let ready: VecDeque<usize> = waiting
            .iter()
            .filter(|(_, pending)| **pending == 0)
            .map(|(index, _)| *index)
            .collect();
        for index in &ready {
            waiting.remove(index);
        }
        Schedule {
            needs,
            waiting,
            ready,
            running: 0,
            given_up: Vec::new(),
        }
    }

    /// The next instance that may start now, counted as running from here on.
    pub fn ready(&mut self) -> Option<usize> {
        let index = self.ready.pop_front()?;
        self.running += 1;
        Some(index)
    }

    /// How many instances started and did not end yet.
    pub fn running(&self) -> usize {
        self.running
    }

    /// Ends a running instance that was built: the dependents it was the last need of
    /// become ready, lowest index first.
    pub fn done(&mut self, index: usize) {
        self.running -= 1;
        let dependents: Vec<usize> = self
            .waiting
            .keys()
            .copied()
            .filter(|other| self.needs[other].contains(&index))
            .collect();
        for dependent in dependents {
            let pending = self.waiting.get_mut(&dependent).expect("waiting");
            *pending -= 1;
            if *pending == 0 {
                self.waiting.remove(&dependent);
                self.ready.push_back(dependent);
            }
        }
    }

    /// Ends a running instance that failed: whatever needs it, directly or not, cannot be
    /// built this time and is given up.
    pub fn failed(&mut self, index: usize) {
        self.running -= 1;
        let mut blocked = vec![index];
        while let Some(failed) = blocked.pop() {
            let dependents: Vec<usize> = self
                .waiting
                .keys()
                .copied()
                .filter(|other| self.needs[other].contains(&failed))
                .collect();
            for dependent in dependents {
                self.waiting.remove(&dependent);
                self.given_up.push(dependent);
                blocked.push(dependent);
            }
        }
    }

    /// The instances not started yet (waiting or ready), each with what it needs.
    pub fn unstarted(&self) -> impl Iterator<Item = (usize, &[usize])> + '_ {
        self.waiting
            .keys()
            .chain(&self.ready)
            .map(|index| (*index, self.needs[index].as_slice()))
    }

    /// Every instance that was not built and did not fail: given up, still waiting, or
    /// ready but not started because the build stopped.
    pub fn not_built(&self) -> impl Iterator<Item = usize> + '_ {
        self.given_up
            .iter()
            .chain(self.waiting.keys())
            .chain(&self.ready)
            .copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 0 and 1 need nothing, 2 needs 0, 3 needs 1 and 2, 4 needs 3, 5 needs 9 (built
    /// already, so not in the schedule).
    fn schedule() -> Schedule {
        let deps: Vec<Vec<usize>> = vec![vec![], vec![], vec![0], vec![1, 2], vec![3], vec![9]];
        Schedule::new(&[0, 1, 2, 3, 4, 5], |index| &deps[index])
    }

    fn start_all(schedule: &mut Schedule) -> Vec<usize> {
        std::iter::from_fn(|| schedule.ready()).collect()
    }

    #[test]
    fn starts_what_needs_nothing_unbuilt() {
        let mut schedule = schedule();
        assert_eq!(start_all(&mut schedule), [0, 1, 5]);
        assert_eq!(schedule.running(), 3);
    }

    #[test]
    fn an_instance_is_ready_when_its_last_need_is_done() {
        let mut schedule = schedule();
        start_all(&mut schedule);
        schedule.done(1);
        assert_eq!(start_all(&mut schedule), [] as [usize; 0]);
        schedule.done(0);
        assert_eq!(start_all(&mut schedule), [2]);
        schedule.done(2);
        assert_eq!(start_all(&mut schedule), [3]);
        schedule.done(5);
        schedule.done(3);
        assert_eq!(start_all(&mut schedule), [4]);
        schedule.done(4);
        assert_eq!(schedule.running(), 0);
        assert_eq!(schedule.not_built().count(), 0);
    }

    #[test]
    fn a_failure_gives_up_everything_that_needs_it() {
        let mut schedule = schedule();
        start_all(&mut schedule);
        schedule.failed(0);
        schedule.done(1);
        schedule.done(5);
        assert_eq!(start_all(&mut schedule), [] as [usize; 0]);
        assert_eq!(schedule.running(), 0);
        assert_eq!(schedule.not_built().collect::<Vec<_>>(), [2, 3, 4]);
    }

    #[test]
    fn what_was_not_started_is_not_built() {
        let mut schedule = schedule();
        assert_eq!(schedule.ready(), Some(0));
        schedule.failed(0);
        assert_eq!(schedule.not_built().collect::<Vec<_>>(), [2, 3, 4, 1, 5]);
    }
}
