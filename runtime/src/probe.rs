//! Asking the compiler a question about a type, by method resolution ("autoref
//! specialization"): `(&&Probe::<T>::new()).method()` picks the impl on `&Probe<T>` when
//! its bounds hold and falls back to the impl on `Probe<T>` otherwise. The generated code
//! asks three such questions, each a trait pair with its own method name: is the state
//! `Close` (`close.rs`), do the handler's types pass their checks, and is the `main` in
//! scope the generated one (`macro_glue/checks.rs`).

use std::marker::PhantomData;

/// Stands for the type `T` being asked about; zero-sized.
pub struct Probe<T>(PhantomData<fn() -> T>);

impl<T> Probe<T> {
    /// A probe for `T`.
    pub const fn new() -> Self {
        Self(PhantomData)
    }
}

impl<F, X> Probe<(F, X)> {
    /// A probe for the type of `value` (a function item, whose type cannot be written)
    /// paired with `X`.
    pub fn of(_value: F) -> Self {
        Self(PhantomData)
    }
}

impl<T> Default for Probe<T> {
    fn default() -> Self {
        Self::new()
    }
}
