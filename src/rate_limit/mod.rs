//! Sliding-window rate limits kept in PostgreSQL, so every server instance shares them and
//! tests can move the App clock through a window. Call these inside a transaction: the
//! count and the new hit are serialised per key with an advisory lock.

mod store;

use chrono::{DateTime, Duration, Utc};
use diesel_async::AsyncPgConnection;

use crate::error::{AppError, AppResult};

/// The separator of keys composed of several parts (an account and an address, say), so
/// that [`forget_key`] finds them by their first part.
pub const KEY_SEPARATOR: char = '|';

/// The key a client address is counted under: an IPv4 address as it is, an IPv6 address
/// by its /64 network, which one subscriber holds whole (counting single IPv6 addresses
/// would let a guesser rotate through 2^64 of them).
pub fn address_key(ip: &str) -> String {
    match ip.parse::<std::net::IpAddr>() {
        Ok(std::net::IpAddr::V6(v6)) if v6.to_ipv4_mapped().is_none() => {
            let network = u128::from(v6) & !(u128::from(u64::MAX));
            format!("{}/64", std::net::Ipv6Addr::from(network))
        }
        Ok(std::net::IpAddr::V6(v6)) => v6
            .to_ipv4_mapped()
            .map_or_else(|| ip.to_owned(), |v4| v4.to_string()),
        _ => ip.to_owned(),
    }
}

/// A limit: at most `max` hits per `key` in any `window`.
#[derive(Debug, Clone, Copy)]
pub struct Limit {
    pub bucket: &'static str,
    pub max: u32,
    pub window: Duration,
}

impl Limit {
    /// Fifteen-minute window, the one every auth flow uses.
    pub const fn per_15_minutes(bucket: &'static str, max: u32) -> Self {
        Self {
            bucket,
            max,
            window: Duration::minutes(15),
        }
    }

    /// One-day window.
    pub const fn per_day(bucket: &'static str, max: u32) -> Self {
        Self {
            bucket,
            max,
            window: Duration::days(1),
        }
    }

    /// One-hour window.
    pub const fn per_hour(bucket: &'static str, max: u32) -> Self {
        Self {
            bucket,
            max,
            window: Duration::hours(1),
        }
    }
}

/// A recorded hit, which a successful attempt may take back with [`forget`].
#[derive(Debug, Clone, Copy)]
pub struct Hit(i64);

/// Counts one hit for `key`, or answers RATE_LIMITED when the window is already full.
pub async fn hit(
    conn: &mut AsyncPgConnection,
    limit: Limit,
    key: &str,
    now: DateTime<Utc>,
) -> AppResult<Hit> {
    store::lock_key(conn, limit.bucket, key).await?;
    let since = now - limit.window;
    let (count, oldest) = store::hits_since(conn, limit.bucket, key, since).await?;
    if count >= i64::from(limit.max) {
        let retry_at = oldest.unwrap_or(now) + limit.window;
        let seconds = (retry_at - now).num_seconds().max(1);
        metrics::counter!("guildhall_rate_limit_refusals_total", "limit" => limit.bucket).increment(1);
        return Err(AppError::rate_limited(seconds.unsigned_abs()));
    }
    Ok(Hit(store::insert_hit(conn, limit.bucket, key, now).await?))
}

/// How many more hits `key` may have in the current window (holds the key's lock until
/// the transaction ends, so the answer stays true for the caller's own hits).
pub async fn remaining(
    conn: &mut AsyncPgConnection,
    limit: Limit,
    key: &str,
    now: DateTime<Utc>,
) -> AppResult<u32> {
    store::lock_key(conn, limit.bucket, key).await?;
    let (count, _) = store::hits_since(conn, limit.bucket, key, now - limit.window).await?;
    let used = u32::try_from(count).unwrap_or(u32::MAX);
    Ok(limit.max.saturating_sub(used))
}

/// Takes back one hit (an attempt that turned out legitimate).
pub async fn forget(conn: &mut AsyncPgConnection, hit: Hit) -> AppResult<()> {
    store::delete_hit(conn, hit.0).await?;
    Ok(())
}

/// Forgets every hit of `key` (e.g. failed logins after a successful one).
pub async fn clear(conn: &mut AsyncPgConnection, limit: Limit, key: &str) -> AppResult<()> {
    store::delete_hits(conn, limit.bucket, key).await?;
    Ok(())
}

/// Forgets `key` in every bucket, with the keys composed from it (`key|address`): its
/// owner's data is being erased.
pub async fn forget_key(conn: &mut AsyncPgConnection, key: &str) -> AppResult<()> {
    store::delete_key(conn, key, KEY_SEPARATOR).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::address_key;

    #[test]
    fn ipv6_addresses_count_by_their_network() {
        assert_eq!(address_key("203.0.113.7"), "203.0.113.7");
        assert_eq!(address_key("2001:db8:1:2:aaaa::1"), "2001:db8:1:2::/64");
        assert_eq!(
            address_key("2001:db8:1:2:ffff:ffff:ffff:ffff"),
            "2001:db8:1:2::/64"
        );
        assert_ne!(address_key("2001:db8:1:3::1"), address_key("2001:db8:1:2::1"));
        assert_eq!(address_key("::ffff:203.0.113.7"), "203.0.113.7");
        assert_eq!(address_key("not an address"), "not an address");
    }
}
