//! The `verdict` command.

fn main() {}
