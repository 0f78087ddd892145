//! `sqlx::migrate!` embeds the migration files with `include_str!`, which makes cargo notice
//! a changed file but not a new one; watching the folder makes it notice both.

fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
