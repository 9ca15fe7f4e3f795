// A `TtlCache` given a clock that is not one.
struct Ticks(u64);

static TICKS: Ticks = Ticks(0);

fn main() {
    let _cache: lambda_thaw::TtlCache<String> =
        lambda_thaw::TtlCache::new(std::time::Duration::from_secs(60)).with_clock(&TICKS);
}
