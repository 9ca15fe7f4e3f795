//! Which server a connection URL names — host, port and database, the port filled in with
//! the scheme's default — so that a failed connect says where it tried, in words, even
//! when the URL left the port out.

/// `host H, port P, database D` for a `postgres://` or `mysql://` URL; `None` for a URL
/// without a host (SQLite's files, a Unix socket).
pub(crate) fn describe(url: &str) -> Option<String> {
    let (scheme, rest) = url.split_once("://")?;
    let default_port = match scheme {
        "postgres" | "postgresql" => 5432,
        "mysql" | "mariadb" => 3306,
        _ => return None,
    };
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = &rest[..end];
    // The user and password end at the last '@'; a password may itself hold one.
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let (host, port) = split_port(host_port);
    if host.is_empty() {
        return None;
    }
    let port = port.unwrap_or(default_port);
    let path = rest[end..].strip_prefix('/').unwrap_or("");
    let database = path.split(['?', '#']).next().unwrap_or("");
    let database = if database.is_empty() {
        "(the server's default)"
    } else {
        database
    };
    Some(format!("host {host}, port {port}, database {database}"))
}

/// `host:port` → the host and the port if one is given (`[::1]:5432` keeps its brackets).
fn split_port(host_port: &str) -> (&str, Option<u16>) {
    let port_at = match host_port.rfind(':') {
        // An IPv6 literal's colons are inside its brackets.
        Some(colon) if !host_port[colon..].contains(']') => colon,
        _ => return (host_port, None),
    };
    match host_port[port_at + 1..].parse() {
        Ok(port) => (&host_port[..port_at], Some(port)),
        Err(_) => (host_port, None),
    }
}

#[cfg(test)]
mod tests {
    use super::describe;

    #[test]
    fn names_host_port_and_database_with_the_scheme_s_default_port() {
        assert_eq!(
            describe("postgres://app:p@ss@db.internal/orders?sslmode=require").as_deref(),
            Some("host db.internal, port 5432, database orders")
        );
        assert_eq!(
            describe("mysql://root@127.0.0.1:3307/test").as_deref(),
            Some("host 127.0.0.1, port 3307, database test")
        );
        assert_eq!(
            describe("postgresql://[::1]:6432").as_deref(),
            Some("host [::1], port 6432, database (the server's default)")
        );
        assert_eq!(
            describe("mariadb://[::1]/shop").as_deref(),
            Some("host [::1], port 3306, database shop")
        );
        assert_eq!(describe("sqlite:///tmp/orders.db"), None);
        assert_eq!(describe("postgres:///orders?host=/run/postgresql"), None);
    }
}
