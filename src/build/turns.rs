//! Which instance takes the next job token: the one with the longest chain of work behind it.
//!
//! Every instance whose dependencies are done waits for a token on a thread of its own. Left
//! to the jobserver, whichever thread read the pipe first would win, and a long chain (perl,
//! then python, then LLVM) could start late and end the build last while short recipes beside
//! it had nothing waiting on them. So the instances queue here, ordered by how long the work
//! that needs them takes, and one dispatcher takes each token from the jobserver for the
//! instance at the head of the queue.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet};
use std::io;
use std::sync::{Condvar, Mutex};

/// What an instance without an estimate is taken to last when none has one: one second, so
/// that the chains are compared by their length in instances.
const UNKNOWN_SECONDS: f64 = 1.0;

/// The queue of instances waiting for a job token, the priority of each, and the tokens
/// handed out and not yet picked up. One thread, [`Turns::dispatch`], takes the tokens from
/// the jobserver and gives each to the head of the queue as it is at that moment.
pub struct Turns<T> {
    priorities: Mutex<BTreeMap<usize, u64>>,
    state: Mutex<State<T>>,
    changed: Condvar,
}

struct State<T> {
    queue: BTreeSet<(Reverse<u64>, usize)>,
    granted: BTreeMap<usize, io::Result<T>>,
    closed: bool,
}

impl<T> Default for Turns<T> {
    fn default() -> Self {
        Turns {
            priorities: Default::default(),
            state: Mutex::new(State {
                queue: BTreeSet::new(),
                granted: BTreeMap::new(),
                closed: false,
            }),
            changed: Condvar::new(),
        }
    }
}

impl<T> Turns<T> {
    /// Sets the priorities of a build's instances (see [`chain_lengths`]) and opens the queue.
    pub fn prioritize(&self, priorities: BTreeMap<usize, u64>) {
        *self.priorities.lock().unwrap() = priorities;
        self.state.lock().unwrap().closed = false;
    }

    /// Puts the instances that became ready in the queue, all at once, before their threads
    /// start and before the scheduler hands back the token of the instance whose end made them
    /// ready: none of them gets a token for having been first. An [`InQueue`] in an
    /// instance's thread takes it out again if the thread ends without its token.
    pub fn enqueue(&self, indices: &[usize]) {
        let entries: Vec<_> = indices.iter().map(|index| self.entry(*index)).collect();
        self.state.lock().unwrap().queue.extend(entries);
        self.changed.notify_all();
    }

    /// Waits for the token given to `index`.
    pub fn take(&self, index: usize) -> io::Result<T> {
        let mut state = self.state.lock().unwrap();
        loop {
            if let Some(token) = state.granted.remove(&index) {
                return token;
            }
            if state.closed {
                return Err(io::Error::other("the build ended before a job token came"));
            }
            state = self.changed.wait(state).unwrap();
        }
    }

    /// Takes `index` out of the queue, and hands back a token given to it and not taken: its
    /// thread needed none after all, or ended by a panic.
    pub fn leave(&self, index: usize) {
        let entry = self.entry(index);
        let mut state = self.state.lock().unwrap();
        state.queue.remove(&entry);
        state.granted.remove(&index);
    }

    /// Until [`Turns::close`]: whenever an instance waits, takes a token with `acquire` and
    /// gives it to the instance then at the head of the queue (highest priority first, then
    /// lowest index); a token nobody waits for by then goes back at once.
    pub fn dispatch(&self, acquire: impl Fn() -> io::Result<T>) {
        loop {
            let mut state = self.state.lock().unwrap();
            while state.queue.is_empty() && !state.closed {
                state = self.changed.wait(state).unwrap();
            }
            if state.closed {
                return;
            }
            drop(state);
            let token = acquire();
            let mut state = self.state.lock().unwrap();
            if let Some((_, head)) = state.queue.pop_first() {
                state.granted.insert(head, token);
                self.changed.notify_all();
            }
        }
    }

    /// Ends [`Turns::dispatch`] and wakes everyone waiting.
    pub fn close(&self) {
        self.state.lock().unwrap().closed = true;
        self.changed.notify_all();
    }

    fn entry(&self, index: usize) -> (Reverse<u64>, usize) {
        let priority = self.priorities.lock().unwrap().get(&index).copied();
        (Reverse(priority.unwrap_or(0)), index)
    }
}

/// Takes an instance out of the queue when its builder's thread is done with it, whichever
/// way that thread ends.
pub struct InQueue<'a, T> {
    pub turns: &'a Turns<T>,
    pub index: usize,
}

impl<T> Drop for InQueue<'_, T> {
    fn drop(&mut self) {
        self.turns.leave(self.index);
    }
}

/// For each instance of `todo`, in milliseconds, how long the longest chain starting with it
/// takes: its own estimate plus the longest chain among the instances of `todo` that need it.
/// An instance without an estimate counts as the mean of those with one.
pub fn chain_lengths<'d>(
    todo: &[usize],
    deps: impl Fn(usize) -> &'d [usize],
    estimates: &BTreeMap<usize, f64>,
) -> BTreeMap<usize, u64> {
    let known: Vec<f64> = todo
        .iter()
        .filter_map(|i| estimates.get(i).copied())
        .collect();
    let unknown = if known.is_empty() {
        UNKNOWN_SECONDS
    } else {
        known.iter().sum::<f64>() / known.len() as f64
    };
    let mut needed_by: BTreeMap<usize, Vec<usize>> = todo.iter().map(|i| (*i, vec![])).collect();
    for index in todo {
        for dep in deps(*index) {
            if let Some(dependents) = needed_by.get_mut(dep) {
                dependents.push(*index);
            }
        }
    }
    let mut lengths = BTreeMap::new();
    for index in todo {
        chain_length(
            *index,
            &needed_by,
            &|i| estimates.get(&i).copied().unwrap_or(unknown),
            &mut lengths,
        );
    }
    lengths
        .into_iter()
        .map(|(index, seconds)| (index, (seconds * 1000.0).round() as u64))
        .collect()
}

fn chain_length(
    index: usize,
    needed_by: &BTreeMap<usize, Vec<usize>>,
    estimate: &dyn Fn(usize) -> f64,
    lengths: &mut BTreeMap<usize, f64>,
) -> f64 {
    if let Some(length) = lengths.get(&index) {
        return *length;
    }
    let longest_after = needed_by[&index]
        .iter()
        .map(|dependent| chain_length(*dependent, needed_by, estimate, lengths))
        .fold(0.0, f64::max);
    let length = estimate(index) + longest_after;
    lengths.insert(index, length);
    length
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::time::Duration;

    /// 0 -> 1 -> 2 -> 3 is a chain (each needs the one before); 4 and 5 need nothing and
    /// nothing needs them.
    fn graph() -> Vec<Vec<usize>> {
        vec![vec![], vec![0], vec![1], vec![2], vec![], vec![]]
    }

    #[test]
    fn without_estimates_the_longest_chain_in_instances_comes_first() {
        let deps = graph();
        let lengths = chain_lengths(&[0, 1, 2, 3, 4, 5], |i| &deps[i], &BTreeMap::new());
        assert_eq!(lengths[&0], 4000);
        assert_eq!(lengths[&3], 1000);
        assert_eq!(lengths[&4], 1000);
    }

    #[test]
    fn estimates_weigh_the_chains_and_unknowns_count_as_their_mean() {
        let deps = graph();
        // 4 alone takes longer than the whole chain 0..3 (1 + 2 + 3 + the unknown 3's mean).
        let estimates = BTreeMap::from([(0, 1.0), (1, 2.0), (2, 3.0), (4, 20.0), (5, 4.0)]);
        let lengths = chain_lengths(&[0, 1, 2, 3, 4, 5], |i| &deps[i], &estimates);
        assert_eq!(
            lengths[&3], 6000,
            "3 has no estimate: the mean of 1, 2, 3, 20 and 4"
        );
        assert_eq!(lengths[&0], 12000);
        assert!(lengths[&4] > lengths[&0]);
    }

    #[test]
    fn needs_outside_the_build_are_done_already() {
        let deps = graph();
        let lengths = chain_lengths(&[2, 3], |i| &deps[i], &BTreeMap::new());
        assert_eq!(lengths, BTreeMap::from([(2, 2000), (3, 1000)]));
    }

    /// With one token held elsewhere, three instances are queued in the order 1, 2, 3; when
    /// the token comes back they get it by priority, each handing it back when done.
    #[test]
    fn the_waiting_instance_with_the_highest_priority_takes_the_next_token() {
        let client = jobserver::Client::new(1).unwrap();
        let held = client.acquire().unwrap();
        let turns: Arc<Turns<jobserver::Acquired>> = Arc::new(Turns::default());
        turns.prioritize(BTreeMap::from([(1, 10), (2, 30), (3, 20)]));
        let order = Arc::new(Mutex::new(Vec::new()));
        std::thread::scope(|scope| {
            scope.spawn(|| turns.dispatch(|| client.acquire()));
            let waiters: Vec<_> = [1, 2, 3]
                .into_iter()
                .map(|index| {
                    turns.enqueue(&[index]);
                    let (turns, order) = (turns.clone(), order.clone());
                    scope.spawn(move || {
                        let token = turns.take(index).unwrap();
                        order.lock().unwrap().push(index);
                        drop(token);
                    })
                })
                .collect();
            std::thread::sleep(Duration::from_millis(100));
            drop(held);
            for waiter in waiters {
                waiter.join().unwrap();
            }
            turns.close();
        });
        assert_eq!(*order.lock().unwrap(), [2, 3, 1]);
    }
}
