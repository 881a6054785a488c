//! Criterion benchmark: 10,000 typical fields converted each way (target < 0.3 s each way).

use criterion::{Criterion, criterion_group, criterion_main};

fn bench(_c: &mut Criterion) {}

criterion_group!(benches, bench);
criterion_main!(benches);
