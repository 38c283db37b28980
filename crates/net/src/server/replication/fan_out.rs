//! When work is split between the compute task pool's threads instead of done on one.

/// Entities to record or encode below which one thread does it all: waking the others and
/// waiting for them costs about 50 µs on the development machine, more than they would save.
pub(super) const PARALLEL_RECORDS: usize = 2048;
