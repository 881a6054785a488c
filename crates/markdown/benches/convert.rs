//! Criterion benchmark: 10,000 typical fields converted each way (target < 0.3 s each way).
//!
//! The fields mix what cards hold: short answers, formatting, clozes, math, lists, code, images.

use ankiops_markdown::convert::{html_to_markdown, markdown_to_html};
use criterion::{Criterion, criterion_group, criterion_main};
use std::hint::black_box;
use std::time::Duration;

const TEMPLATES: &[&str] = &[
    "What is the capital of **France**?",
    "The **mitochondria** is the *powerhouse* of the cell.\n\n- produces ATP\n- has its own DNA",
    "{{c1::Paris::capital}} is in {{c2::France}} since 987.",
    "Pythagoras: \\(a^2 + b^2 = c^2\\) and \\[\\sum_{i=1}^n i = \\frac{n(n+1)}{2}\\]",
    "What does this print?\n\n```python\ndef f(x):\n    return x * 2  # double\nprint(f(21))\n```",
    "![diagram](media/diagram-42.png){width=300}\nSee the figure.",
    "| Term | Meaning |\n| --- | --- |\n| ATP | energy |\n| DNA | code |",
    "1. first step\n2. second step\n   - detail with `code`\n3. third",
    "> A quote that spans\n> two lines\n\n— Author",
    "der Hund (n.) — *dog*; Plural: die Hunde, 2 * 3 = 6, C++ and C#",
];

fn fields() -> Vec<String> {
    (0..10_000).map(|i| format!("{} #{i}", TEMPLATES[i % TEMPLATES.len()])).collect()
}

fn bench(c: &mut Criterion) {
    let md = fields();
    let html: Vec<String> = md.iter().map(|m| markdown_to_html(m)).collect();
    let mut group = c.benchmark_group("convert_10k_fields");
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(8));
    group.bench_function("markdown_to_html", |b| {
        b.iter(|| {
            for m in &md {
                black_box(markdown_to_html(black_box(m)));
            }
        })
    });
    group.bench_function("html_to_markdown", |b| {
        b.iter(|| {
            for h in &html {
                black_box(html_to_markdown(black_box(h)));
            }
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
