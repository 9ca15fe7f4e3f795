//! A handler in a module *file* of a binary (`handlers.rs` beside this root), with its
//! `main` brought to the root by `use`: the macro reads this root to check for that
//! import, and must find it.

mod handlers;

use handlers::main;
