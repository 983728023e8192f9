//! Pagination of the list routes: `limit` items per page after the id `after`, answered with
//! the `next` id to pass as `after` for the following page.
//!
//! Lists are sorted by id, and ids are UUIDv7, so pages run from the oldest item to the newest.

use serde::Deserialize;
use utoipa::IntoParams;
use uuid::Uuid;

use crate::ApiError;

/// Items per page when `limit` is absent.
pub const DEFAULT_LIMIT: usize = 100;

/// Maximum items per page.
pub const MAX_LIMIT: usize = 1000;

/// Query of a paginated list: `limit`, `after` and `min_position`.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// Items per page, 1 to 1000; 100 when absent.
    #[param(value_type = Option<u32>, minimum = 1, maximum = 1000)]
    limit: Option<String>,
    /// Only items whose id sorts after this one: the `next` of the previous page.
    #[param(value_type = Option<Uuid>)]
    after: Option<String>,
    /// Wait (at most 2 s) until the read model has reached this global position.
    pub min_position: Option<u64>,
}

/// A checked page request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Page {
    pub limit: usize,
    pub after: Option<Uuid>,
}

impl PageQuery {
    /// Checks `limit` and `after`.
    ///
    /// # Errors
    /// Returns 400 naming the value when `limit` is not a whole number from 1 to
    /// [`MAX_LIMIT`] or `after` is not a UUID.
    pub fn page(&self) -> Result<Page, ApiError> {
        let limit = match self.limit.as_deref() {
            None => DEFAULT_LIMIT,
            Some(text) => match text.trim().parse::<usize>() {
                Ok(limit) if (1..=MAX_LIMIT).contains(&limit) => limit,
                _ => {
                    return Err(
                        ApiError::invalid(format!("invalid limit {text:?}")).with_hint(format!(
                            "use a whole number from 1 to {MAX_LIMIT}, or leave limit out for \
                             {DEFAULT_LIMIT}"
                        )),
                    );
                }
            },
        };
        let after = match self.after.as_deref() {
            None => None,
            Some(text) => Some(text.trim().parse::<Uuid>().map_err(|_| {
                ApiError::invalid(format!("invalid after {text:?}; it is not an id"))
                    .with_hint("pass the `next` of the previous page, or leave after out")
            })?),
        };
        Ok(Page { limit, after })
    }
}

impl Page {
    /// Takes the page from `items`, which must be sorted by `id`, and returns it with the
    /// `next` cursor, which is set only when more items follow.
    pub fn take<T>(
        &self,
        items: impl IntoIterator<Item = T>,
        id: impl Fn(&T) -> Uuid,
    ) -> (Vec<T>, Option<Uuid>) {
        let mut rest = items
            .into_iter()
            .filter(|item| self.after.is_none_or(|after| id(item) > after));
        let page: Vec<T> = rest.by_ref().take(self.limit).collect();
        let next = match rest.next() {
            Some(_) => page.last().map(&id),
            None => None,
        };
        (page, next)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(limit: Option<&str>, after: Option<&str>) -> PageQuery {
        PageQuery {
            limit: limit.map(str::to_owned),
            after: after.map(str::to_owned),
            min_position: None,
        }
    }

    #[test]
    fn defaults_apply_without_parameters() {
        let page = query(None, None).page().unwrap();
        assert_eq!(page.limit, DEFAULT_LIMIT);
        assert_eq!(page.after, None);
    }

    #[test]
    fn bad_values_are_named() {
        for (limit, after, named) in [
            (Some("0"), None, "\"0\""),
            (Some("1001"), None, "\"1001\""),
            (Some("ten"), None, "\"ten\""),
            (Some("-1"), None, "\"-1\""),
            (None, Some("key-1"), "\"key-1\""),
        ] {
            let error = query(limit, after).page().unwrap_err();
            assert_eq!(error.status, axum::http::StatusCode::BAD_REQUEST);
            assert!(error.message.contains(named), "{}", error.message);
            assert!(error.hint.is_some(), "{limit:?} {after:?} has no hint");
        }
    }

    #[test]
    fn pages_cover_every_item_once() {
        let ids: Vec<Uuid> = (1..=5u128).map(Uuid::from_u128).collect();
        let mut seen = Vec::new();
        let mut after = None;
        loop {
            let page = Page { limit: 2, after };
            let (items, next) = page.take(ids.clone(), |id| *id);
            seen.extend(items);
            match next {
                Some(next) => after = Some(next),
                None => break,
            }
        }
        assert_eq!(seen, ids);
    }

    #[test]
    fn last_full_page_has_no_next() {
        let ids: Vec<Uuid> = (1..=4u128).map(Uuid::from_u128).collect();
        let page = Page {
            limit: 2,
            after: Some(ids[1]),
        };
        let (items, next) = page.take(ids.clone(), |id| *id);
        assert_eq!(items, ids[2..]);
        assert_eq!(next, None);
    }
}
