// `init = db::setup` from another module, and the macro through a re-export with
// `crate = "…"`.
pub mod db {
    pub struct Pool;

    pub async fn setup() -> Result<Pool, lambda_thaw::Error> {
        Ok(Pool)
    }
}

pub mod reexport {
    pub use lambda_thaw as thaw;
}

#[allow(dead_code)]
mod function {
    use crate::reexport::thaw::{Error, LambdaEvent, handler};

    #[handler(init = crate::db::setup, crate = "crate::reexport::thaw")]
    async fn handle(_event: LambdaEvent<()>, _pool: &crate::db::Pool) -> Result<(), Error> {
        Ok(())
    }
}

fn main() {}
