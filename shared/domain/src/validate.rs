//! Checks on what clients send, each failing with the field it is about.

use crate::error::DomainError;

pub const MAX_EMAIL_LEN: usize = 254;
pub const MAX_NAME_LEN: usize = 200;
pub const MAX_URL_LEN: usize = 2048;

/// A pragmatic address check (one `@`, a dotted domain, no spaces or control characters),
/// returning the address lower-cased so that one person is one email everywhere.
pub fn email(field: &str, raw: &str) -> Result<String, DomainError> {
    let e = raw.trim().to_ascii_lowercase();
    let bad = || DomainError::invalid(field, "must be a valid email address");
    if e.is_empty() || e.len() > MAX_EMAIL_LEN {
        return Err(bad());
    }
    if e.chars().any(|c| c.is_whitespace() || c.is_control() || c == '<' || c == '>' || c == '"' || c == ',')
    {
        return Err(bad());
    }
    let (local, domain) = e.split_once('@').ok_or_else(bad)?;
    if local.is_empty() || local.len() > 64 || domain.contains('@') {
        return Err(bad());
    }
    let labels: Vec<&str> = domain.split('.').collect();
    if labels.len() < 2 || labels.iter().any(|l| l.is_empty() || l.starts_with('-') || l.ends_with('-')) {
        return Err(bad());
    }
    Ok(e)
}

pub fn name(field: &str, raw: &str) -> Result<String, DomainError> {
    let n = raw.trim();
    if n.is_empty() {
        return Err(DomainError::invalid(field, "must not be empty"));
    }
    if n.chars().count() > MAX_NAME_LEN || n.chars().any(|c| c.is_control()) {
        return Err(DomainError::invalid(
            field,
            format!("must be at most {MAX_NAME_LEN} printable characters"),
        ));
    }
    Ok(n.to_string())
}

/// Slugs: 3–48 of `a-z`, `0-9`, `-`, not starting or ending with `-`.
pub fn slug(field: &str, raw: &str) -> Result<String, DomainError> {
    let ok = (3..=48).contains(&raw.len())
        && raw.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !raw.starts_with('-')
        && !raw.ends_with('-');
    if ok {
        Ok(raw.to_string())
    } else {
        Err(DomainError::invalid(
            field,
            "must be 3-48 characters of a-z, 0-9 and '-', not starting or ending with '-'",
        ))
    }
}

pub fn currency(field: &str, raw: &str) -> Result<String, DomainError> {
    if raw.len() == 3 && raw.bytes().all(|b| b.is_ascii_lowercase()) {
        Ok(raw.to_string())
    } else {
        Err(DomainError::invalid(field, "must be a lower-case ISO 4217 code such as \"usd\""))
    }
}

pub fn http_url(field: &str, raw: &str) -> Result<String, DomainError> {
    let ok = raw.len() <= MAX_URL_LEN
        && (raw.starts_with("https://") || raw.starts_with("http://"))
        && raw.len() > "http://".len() + 1
        && !raw.chars().any(|c| c.is_whitespace() || c.is_control());
    if ok {
        Ok(raw.to_string())
    } else {
        Err(DomainError::invalid(field, "must be an http(s) URL"))
    }
}

pub fn id(field: &str, prefix: &str, raw: &str) -> Result<String, DomainError> {
    if crate::ids::is_valid(prefix, raw) {
        Ok(raw.to_string())
    } else {
        Err(DomainError::invalid(field, format!("must be a {prefix}_ id")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails() {
        assert_eq!(email("e", " Ann@Example.COM ").as_deref(), Ok("ann@example.com"));
        for bad in ["", "a", "a@", "@b.c", "a@b", "a b@c.d", "a@b..c", "a@@b.c", "a@-b.c"] {
            assert!(email("e", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn slugs_and_currencies() {
        assert!(slug("s", "acme-inc").is_ok());
        assert!(slug("s", "Acme").is_err());
        assert!(slug("s", "-acme").is_err());
        assert!(currency("c", "usd").is_ok());
        assert!(currency("c", "USD").is_err());
    }
}
