//! Checks on what clients send, each failing with the field it is about.

use crate::error::DomainError;

pub const MAX_EMAIL_LEN: usize = 254;
pub const MAX_NAME_LEN: usize = 200;
pub const MAX_URL_LEN: usize = 2048;

/// Characters that render as nothing or reorder text (zero-width, joiners, bidi controls, the
/// soft hyphen, the byte-order mark): in an address they make one mailbox look like several.
fn invisible(c: char) -> bool {
    matches!(c,
        '\u{00AD}' | '\u{034F}' | '\u{061C}' | '\u{115F}' | '\u{1160}' | '\u{17B4}' | '\u{17B5}'
        | '\u{180B}'..='\u{180F}' | '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}'
        | '\u{2060}'..='\u{206F}' | '\u{3164}' | '\u{FE00}'..='\u{FE0F}' | '\u{FEFF}' | '\u{FFA0}'
        | '\u{FFF0}'..='\u{FFF8}' | '\u{E0000}'..='\u{E007F}')
}

/// An address as one person's key: trimmed, Unicode NFC, lower-cased (all of Unicode, not only
/// ASCII), its domain in ASCII (IDNA, so `bücher.example` and `xn--bcher-kva.example` are one);
/// control and invisible characters are refused rather than dropped. Then a pragmatic shape
/// check: one `@`, a dotted domain, no spaces.
pub fn email(field: &str, raw: &str) -> Result<String, DomainError> {
    let bad = || DomainError::invalid(field, "must be a valid email address");
    let trimmed = raw.trim();
    if trimmed.is_empty() || trimmed.len() > 4 * MAX_EMAIL_LEN {
        return Err(bad());
    }
    if trimmed.chars().any(|c| c.is_control() || invisible(c)) {
        return Err(DomainError::invalid(field, "must not contain control or invisible characters"));
    }
    let composed = icu_normalizer::ComposingNormalizerBorrowed::new_nfc().normalize(trimmed);
    let lower = composed.to_lowercase();
    if lower.chars().any(|c| c.is_whitespace() || c == '<' || c == '>' || c == '"' || c == ',') {
        return Err(bad());
    }
    let (local, domain) = lower.split_once('@').ok_or_else(bad)?;
    if local.is_empty() || local.len() > 64 || domain.contains('@') {
        return Err(bad());
    }
    let domain = if domain.is_ascii() {
        domain.to_string()
    } else {
        idna::domain_to_ascii(domain).map_err(|_| bad())?
    };
    let labels: Vec<&str> = domain.split('.').collect();
    if labels.len() < 2 || labels.iter().any(|l| l.is_empty() || l.starts_with('-') || l.ends_with('-')) {
        return Err(bad());
    }
    let e = format!("{local}@{domain}");
    if e.len() > MAX_EMAIL_LEN {
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
    fn one_mailbox_is_one_email() {
        // Unicode case, composed and decomposed forms, and an IDN domain in either form.
        assert_eq!(email("e", "ÉVA@Example.com").as_deref(), Ok("éva@example.com"));
        assert_eq!(email("e", "E\u{301}va@example.com"), email("e", "\u{c9}va@example.com"));
        assert_eq!(email("e", "ann@Bücher.example").as_deref(), Ok("ann@xn--bcher-kva.example"));
        assert_eq!(email("e", "ann@bücher.example"), email("e", "ann@xn--bcher-kva.example"));
        // Invisible and control characters are refused, not silently kept or dropped.
        for bad in [
            "an\u{200B}n@corp.example",
            "ann@corp\u{200D}.example",
            "\u{FEFF}ann@corp.example",
            "ann\u{202E}@corp.example",
            "an\u{00AD}n@corp.example",
            "ann\u{0007}@corp.example",
        ] {
            assert!(email("e", bad).is_err(), "{bad:?}");
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
