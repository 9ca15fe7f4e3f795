//! The generated `main`'s first call: the [`Builder`] for the handler, with the options
//! the attribute named. From there the generated code uses the public builder.

use std::future::Future;
use std::sync::Arc;

use crate::builder::Builder;
use crate::close::ShutdownFn;
use crate::erase::SharedInit;
use crate::init::InitError;
use crate::lifecycle::function::Options;
use crate::requirements::Checked;

impl Checked {
    /// The [`Builder`] for this handler: the first call of the generated `main`, which
    /// then sets the options the attribute names and calls `run` with the handler.
    ///
    /// `init` builds the state (the macro wraps the user's init so it yields
    /// `Result<S, InitError>`).
    pub fn builder<S, I, IFut>(
        self,
        options: Options,
        init: I,
        shutdown: Option<ShutdownFn<S>>,
    ) -> Builder<S>
    where
        S: Send + Sync + 'static,
        I: Fn() -> IFut + Send + Sync + 'static,
        IFut: Future<Output = Result<S, InitError>> + Send + 'static,
    {
        let init: SharedInit<S> = Arc::new(move || Box::pin(init()));
        let mut builder = Builder::new().with_init(options.init_name, init);
        // Every option the attribute named (the init's name included).
        builder.options = options;
        if let Some(shutdown) = shutdown {
            builder = builder.shutdown(shutdown);
        }
        builder
    }
}
