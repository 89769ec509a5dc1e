//! Paging of list responses (AIP-158): page sizes and the tokens this service issues.

use crate::error::Error;

pub(super) const DEFAULT_PAGE_SIZE: usize = 100;
pub(super) const MAX_PAGE_SIZE: usize = 1000;

pub(super) fn page_size(requested: i32) -> Result<usize, Error> {
    match usize::try_from(requested) {
        Ok(0) => Ok(DEFAULT_PAGE_SIZE),
        Ok(n) => Ok(n.min(MAX_PAGE_SIZE)),
        Err(_) => Err(Error::invalid("page_size", "must not be negative")),
    }
}

/// Where a page starts: a position this service issued as `next_page_token`.
pub(super) fn page_token(token: &str) -> Result<Option<u64>, Error> {
    if token.is_empty() {
        return Ok(None);
    }
    token
        .parse::<u64>()
        .ok()
        .filter(|n| *n > 0)
        .map(Some)
        .ok_or_else(|| Error::invalid("page_token", "is not a token this service issued"))
}

/// Cuts `items` (fetched one beyond the page) to the page; the token names where the next page starts.
pub(super) fn next_page<T>(items: &mut Vec<T>, page_size: usize, position: impl Fn(&T) -> u64) -> String {
    if items.len() > page_size {
        items.truncate(page_size);
        items.last().map(|item| (position(item) + 1).to_string()).unwrap_or_default()
    } else {
        String::new()
    }
}
