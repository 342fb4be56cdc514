//! [`StoreLocation`]: where an online store is (a file path or a URL), and [`redact_location`], the
//! one function that removes a password from a location before anything prints it.

use std::fmt;

/// An online store's location as given: the path of an embedded store, or a `redis://` URL that
/// may carry a password. `Display` and `Debug` print it through [`redact_location`], so a location
/// can be printed anywhere; only [`StoreLocation::as_given`] returns the password, to connect.
#[derive(Clone, PartialEq, Eq)]
pub struct StoreLocation(String);

impl StoreLocation {
    pub fn new(text: impl Into<String>) -> StoreLocation {
        StoreLocation(text.into())
    }

    /// The location exactly as given, password included: for connecting, never for printing.
    pub fn as_given(&self) -> &str {
        &self.0
    }
}

impl From<&str> for StoreLocation {
    fn from(text: &str) -> StoreLocation {
        StoreLocation::new(text)
    }
}

impl From<String> for StoreLocation {
    fn from(text: String) -> StoreLocation {
        StoreLocation(text)
    }
}

impl fmt::Display for StoreLocation {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(&redact_location(&self.0))
    }
}

impl fmt::Debug for StoreLocation {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "StoreLocation({:?})", redact_location(&self.0))
    }
}

/// `location` with its password replaced by `***`, for messages, banners and logs.
///
/// The user information is everything before the **last** `@` (after `scheme://` when there is
/// one), so a password holding an unencoded `@`, `/`, `?` or `#` is still caught, even in a URL
/// that does not parse; this errs towards hiding too much. In it, a `user:` prefix is kept and the
/// rest hidden; without a `:` the whole of it is hidden in a URL (a bare token) and kept in a plain
/// file path (`/data/team@corp/online.redb`).
pub fn redact_location(location: &str) -> String {
    let Some(at) = location.rfind('@') else {
        return location.to_string();
    };
    let start = location
        .find("://")
        .filter(|separator| *separator < at)
        .map(|separator| separator + 3);
    let userinfo = &location[start.unwrap_or(0)..at];
    let kept = match userinfo.find(':') {
        Some(colon) => &userinfo[..=colon],
        None if start.is_some() => "",
        None => return location.to_string(),
    };
    format!("{}{kept}***{}", &location[..start.unwrap_or(0)], &location[at..])
}
