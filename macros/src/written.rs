//! Tokens as text for messages and names — the one place that turns `quote`'s spacing back
//! into what a person writes.

use quote::ToTokens;

/// Tokens as a person writes them, for messages and names: `Result<Vec<u8>, Error>`,
/// `event: LambdaEvent<Order>`, `&'static Db` — not `quote`'s `Result < Vec < u8 > , Error >`.
pub(crate) fn written<T: ToTokens>(tokens: &T) -> String {
    let text = tokens.to_token_stream().to_string();
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    for (i, &c) in chars.iter().enumerate() {
        if c == ' ' {
            let before = if i > 0 { chars[i - 1] } else { ' ' };
            let after = chars.get(i + 1).copied().unwrap_or(' ');
            let path_sep = before == ':' && i >= 2 && chars[i - 2] == ':';
            let tight_after = matches!(before, '<' | '(' | '[' | '&') || path_sep;
            let tight_before = matches!(after, ':' | ',' | '<' | '>' | '(' | ')' | '[' | ']');
            if tight_after || tight_before {
                continue;
            }
        }
        out.push(c);
    }
    out
}
