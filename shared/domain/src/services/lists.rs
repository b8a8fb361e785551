//! Pages of long lists (a subscription's audit trail, an organization's subscriptions):
//! `limit` items at most, and never more than [`MAX_PAGE_BYTES`] of JSON, so that no answer
//! nears Lambda's 6 MB limit or its time limit however long the list; `next_cursor` says where
//! the next page starts.

use crate::error::DomainError;
use crate::ids;
use crate::views::List;
use serde::Serialize;

pub const DEFAULT_LIMIT: usize = 100;
pub const MAX_LIMIT: usize = 1000;
/// A page's items stop before their JSON passes this (the rest of the answer is small).
pub const MAX_PAGE_BYTES: usize = 1 << 20;

pub fn limit(raw: Option<&str>) -> Result<usize, DomainError> {
    match raw {
        None | Some("") => Ok(DEFAULT_LIMIT),
        Some(l) => match l.parse::<usize>() {
            Ok(n) if (1..=MAX_LIMIT).contains(&n) => Ok(n),
            _ => Err(DomainError::invalid("limit", format!("must be an integer from 1 to {MAX_LIMIT}"))),
        },
    }
}

/// A cursor is the id of the last item of the previous page.
pub fn cursor<'a>(raw: Option<&'a str>, prefix: &str) -> Result<Option<&'a str>, DomainError> {
    match raw {
        None | Some("") => Ok(None),
        Some(c) if ids::is_valid(prefix, c) => Ok(Some(c)),
        Some(_) => Err(DomainError::invalid("cursor", "is not a cursor of this list")),
    }
}

/// The page from `items` (read with one more than `limit`, to know whether more follow).
pub fn page<T: Serialize>(items: Vec<T>, limit: usize, id: impl Fn(&T) -> String) -> List<T> {
    let mut data = Vec::new();
    let mut bytes = 0;
    let mut more = false;
    for item in items {
        let size = serde_json::to_vec(&item).map(|v| v.len() + 1).unwrap_or(0);
        if data.len() == limit || (!data.is_empty() && bytes + size > MAX_PAGE_BYTES) {
            more = true;
            break;
        }
        bytes += size;
        data.push(item);
    }
    let next_cursor = if more { data.last().map(&id) } else { None };
    List { object: "list", data, has_more: more, next_cursor }
}
