//! The orders function: its `main` is the library's.

use lambda_thaw_open_box::handlers::orders::main;
