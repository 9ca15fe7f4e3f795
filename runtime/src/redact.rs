//! Keeping secrets out of reported errors: an init error often quotes a connection URL,
//! and what reaches `init/error` or the logs must not carry its password.

/// Replaces the password of every `scheme://user:password@host` URL, and the value of
/// every `password=…` / `pwd=…` key (connection-string style), with `***`.
///
/// ```
/// use lambda_thaw::redact_secrets;
///
/// assert_eq!(
///     redact_secrets("cannot connect to postgres://app:s3cret@db.internal:5432/orders"),
///     "cannot connect to postgres://app:***@db.internal:5432/orders",
/// );
/// assert_eq!(redact_secrets("host=db password=s3cret user=app"), "host=db password=*** user=app");
/// ```
pub fn redact_secrets(text: &str) -> String {
    redact_keys(&redact_urls(text))
}

fn redact_urls(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find("://") {
        let (head, tail) = rest.split_at(at + 3);
        out.push_str(head);
        // The authority ends at the first '/', '?', '#' or whitespace.
        let end = tail
            .find(|c: char| c == '/' || c == '?' || c == '#' || c.is_whitespace())
            .unwrap_or(tail.len());
        let authority = &tail[..end];
        match authority.rfind('@') {
            Some(at) => {
                let userinfo = &authority[..at];
                match userinfo.find(':') {
                    Some(colon) => {
                        out.push_str(&userinfo[..=colon]);
                        out.push_str("***");
                    }
                    None => out.push_str(userinfo),
                }
                out.push_str(&authority[at..]);
            }
            None => out.push_str(authority),
        }
        rest = &tail[end..];
    }
    out.push_str(rest);
    out
}

fn redact_keys(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    loop {
        let lower = rest.to_ascii_lowercase();
        let found = ["password=", "pwd="]
            .iter()
            .filter_map(|key| lower.find(key).map(|i| (i, key.len())))
            .min();
        let Some((index, key_len)) = found else { break };
        let value_start = index + key_len;
        out.push_str(&rest[..value_start]);
        let value_end = rest[value_start..]
            .find(|c: char| c.is_whitespace() || c == ';' || c == '&' || c == ',')
            .map_or(rest.len(), |i| value_start + i);
        if value_end > value_start {
            out.push_str("***");
        }
        rest = &rest[value_end..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::redact_secrets;

    #[test]
    fn url_passwords_are_hidden_and_hosts_kept() {
        assert_eq!(
            redact_secrets(
                "error: mysql://root:hunter2@127.0.0.1:3306/test refused; retry postgres://u:p@h/db?sslmode=require"
            ),
            "error: mysql://root:***@127.0.0.1:3306/test refused; retry postgres://u:***@h/db?sslmode=require"
        );
    }

    #[test]
    fn urls_without_password_are_unchanged() {
        let text = "see https://docs.aws.amazon.com/lambda and postgres://app@db/orders";
        assert_eq!(redact_secrets(text), text);
    }

    #[test]
    fn passwords_with_at_signs_are_hidden_whole() {
        assert_eq!(
            redact_secrets("postgres://app:p@ss@db:5432/x"),
            "postgres://app:***@db:5432/x"
        );
    }

    #[test]
    fn key_value_passwords_are_hidden() {
        assert_eq!(
            redact_secrets("Server=db;User=app;Password=s3cret;PWD=x"),
            "Server=db;User=app;Password=***;PWD=***"
        );
    }
}
