use lambda_thaw::{Context, Error, handler};

struct Order;

#[handler]
async fn handle(_order: Order, _context: Context) -> Result<(), Error> {
    Ok(())
}
