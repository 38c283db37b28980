//! Work split between the compute task pool's threads: whether it is worth it, in how many
//! shares, and running the shares (this thread doing the first meanwhile) with their results in
//! order. With one share everything runs on this thread and the pool is not woken.

use bevy::tasks::TaskPool;

/// Entities to record or encode below which one thread does it all: waking the others and
/// waiting for them costs about 50 µs on the development machine, more than they would save.
pub(super) const PARALLEL_RECORDS: usize = 2048;

/// How many shares work is split into: one per thread of `pool` when there is a pool and the
/// work is `worth_it`, else 1 (all of it on this thread).
pub(super) fn shares(pool: Option<&TaskPool>, worth_it: bool) -> usize {
    match pool {
        Some(pool) if worth_it => pool.thread_num().max(1),
        _ => 1,
    }
}

/// `items` in `shares` runs of equal length (the last one shorter): the first, and the others.
/// With one share, the first is all of them.
pub(super) fn split<T>(items: &[T], shares: usize) -> (&[T], std::slice::Chunks<'_, T>) {
    let chunk = items.len().div_ceil(shares).max(1);
    let (first, rest) = items.split_at(chunk.min(items.len()));
    (first, rest.chunks(chunk))
}

/// [`split`], of items to change.
pub(super) fn split_mut<T>(
    items: &mut [T],
    shares: usize,
) -> (&mut [T], std::slice::ChunksMut<'_, T>) {
    let chunk = items.len().div_ceil(shares).max(1);
    let (first, rest) = items.split_at_mut(chunk.min(items.len()));
    (first, rest.chunks_mut(chunk))
}

/// Runs `work` on every share: each of `rest` on the threads of `pool` while this thread does
/// `first`, instead of only waiting. Returns the first's result and the others' in order. Without
/// other shares (or without a pool) it all runs here.
pub(super) fn run<S, R>(
    pool: Option<&TaskPool>,
    first: S,
    rest: impl Iterator<Item = S>,
    work: impl Fn(S) -> R + Sync,
) -> (R, Vec<R>)
where
    S: Send,
    R: Send + 'static,
{
    let mut rest = rest.peekable();
    match pool {
        Some(pool) if rest.peek().is_some() => {
            let work = &work;
            let mut own = None;
            let others = pool.scope(|scope| {
                for share in rest {
                    scope.spawn(async move { work(share) });
                }
                own = Some(work(first));
            });
            (own.expect("run in the scope"), others)
        }
        _ => (work(first), rest.map(work).collect()),
    }
}
