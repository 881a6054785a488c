//! `cargo xtask`: chores that are not `cargo build` or `cargo test` (test backend, demo, bench, tidy).

fn main() {
    eprintln!("usage: cargo xtask <anki|demo|tidy|bench>");
    std::process::exit(2);
}
