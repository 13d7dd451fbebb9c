//! Where a webhook may send. Only http and https URLs; a host is resolved once per
//! connection by [`GuardedResolver`], which hands the client only addresses it checked,
//! so a name cannot point at the server's own network between the check and the connect.
//! Loopback, private, link-local, CGNAT, unique-local, metadata and other special ranges
//! are refused unless `ALLOW_PRIVATE_WEBHOOKS` is on.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use reqwest::Url;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};

use crate::error::{AppError, AppResult};

/// Longest endpoint URL.
pub const MAX_URL_CHARS: usize = 2048;

/// A client's endpoint URL, checked: BAD_USER_INPUT on `url` when it is not an absolute
/// http(s) URL, or names an internal address while those are not allowed.
pub fn parse(url: &str, allow_private: bool) -> AppResult<Url> {
    let url = url.trim();
    if url.chars().count() > MAX_URL_CHARS {
        return Err(AppError::invalid(
            "url",
            format!("at most {MAX_URL_CHARS} characters"),
        ));
    }
    let parsed = Url::parse(url).map_err(|_| AppError::invalid("url", "is not an absolute URL"))?;
    if parsed.as_str().len() > MAX_URL_CHARS {
        return Err(AppError::invalid(
            "url",
            format!("at most {MAX_URL_CHARS} characters once encoded"),
        ));
    }
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(AppError::invalid("url", "must start with http:// or https://"));
    }
    let internal = match parsed.host() {
        None => return Err(AppError::invalid("url", "names no host")),
        Some(url::Host::Ipv4(ip)) => !is_public(IpAddr::V4(ip)),
        Some(url::Host::Ipv6(ip)) => !is_public(IpAddr::V6(ip)),
        Some(url::Host::Domain(name)) => {
            let name = name.trim_end_matches('.').to_ascii_lowercase();
            name == "localhost" || name.ends_with(".localhost")
        }
    };
    if internal && !allow_private {
        return Err(AppError::invalid(
            "url",
            "points at a loopback, private or otherwise internal address, which webhooks may not call",
        ));
    }
    Ok(parsed)
}

/// Whether connecting to `ip` leaves the server's own networks.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(ip) => is_public_v4(ip),
        IpAddr::V6(ip) => is_public_v6(ip),
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    !(a == 0                                   // "this network"
        || a == 10                             // private
        || a == 127                            // loopback
        || (a == 100 && (64..128).contains(&b)) // CGNAT (and cloud metadata inside it)
        || (a == 169 && b == 254)              // link-local, cloud metadata
        || (a == 172 && (16..32).contains(&b)) // private
        || (a == 192 && b == 0 && c == 0)      // protocol assignments
        || (a == 192 && b == 0 && c == 2)      // documentation
        || (a == 192 && b == 88 && c == 99)    // 6to4 relays
        || (a == 192 && b == 168)              // private
        || (a == 198 && (18..20).contains(&b)) // benchmarking
        || (a == 198 && b == 51 && c == 100)   // documentation
        || (a == 203 && b == 0 && c == 113)    // documentation
        || a >= 224) // multicast, reserved, broadcast
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    if let Some(v4) = ip.to_ipv4_mapped() {
        return is_public_v4(v4);
    }
    let segments = ip.segments();
    let embedded_v4 = |high: u16, low: u16| {
        let [a, b] = high.to_be_bytes();
        let [c, d] = low.to_be_bytes();
        Ipv4Addr::new(a, b, c, d)
    };
    match segments {
        // NAT64 (well-known prefix) reaches the IPv4 address in its last 32 bits.
        [0x64, 0xff9b, 0, 0, 0, 0, high, low] => is_public_v4(embedded_v4(high, low)),
        // NAT64 for local use, and IPv4-translated addresses: they lead inside.
        [0x64, 0xff9b, 1, ..] | [0, 0, 0, 0, 0xffff, 0, _, _] => false,
        // 6to4 reaches the IPv4 address in bits 16 to 48.
        [0x2002, high, low, ..] => is_public_v4(embedded_v4(high, low)),
        _ => {
            !(ip.is_unspecified()
                || ip.is_loopback()
                || segments[..6] == [0; 6]              // IPv4-compatible (deprecated)
                || (segments[0] & 0xfe00) == 0xfc00     // unique local
                || (segments[0] & 0xffc0) == 0xfe80     // link-local
                || (segments[0] & 0xffc0) == 0xfec0     // site-local (deprecated)
                || (segments[0] & 0xff00) == 0xff00     // multicast
                || segments[..4] == [0x100, 0, 0, 0]    // discard-only
                || segments[..2] == [0x2001, 0]         // Teredo (hides an IPv4 address)
                || segments[..2] == [0x2001, 0xdb8]) // documentation
        }
    }
}

/// The delivery client's resolver: the system's answer, with internal addresses removed
/// (all kept when `ALLOW_PRIVATE_WEBHOOKS` is on). A name with no public address fails
/// the attempt, saying so.
pub struct GuardedResolver {
    pub allow_private: bool,
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let allow_private = self.allow_private;
        let host = name.as_str().to_owned();
        Box::pin(async move {
            // One answer whether the name is unknown or leads inside, so deliveries cannot
            // be used to learn which internal names exist.
            let refused = || format!("{host} resolves to no address webhooks may call");
            let found: Vec<SocketAddr> = match tokio::net::lookup_host((host.as_str(), 0)).await {
                Ok(found) => found.collect(),
                Err(_) => return Err(refused().into()),
            };
            let allowed: Vec<SocketAddr> = found
                .into_iter()
                .filter(|addr| allow_private || is_public(addr.ip()))
                .collect();
            if allowed.is_empty() {
                return Err(refused().into());
            }
            let addrs: Addrs = Box::new(allowed.into_iter());
            Ok(addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn public(ip: &str) -> bool {
        is_public(ip.parse().unwrap())
    }

    #[test]
    fn internal_ranges_are_not_public() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "100.100.100.200",
            "0.0.0.0",
            "255.255.255.255",
            "224.0.0.1",
            "::1",
            "::",
            "fc00::1",
            "fd00:ec2::254",
            "fe80::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "64:ff9b::a9fe:a9fe",
            "64:ff9b:1::a00:1",
            "::ffff:0:a00:1",
            "2002:7f00:1::",
            "2001:db8::1",
            "ff02::1",
        ] {
            assert!(!public(ip), "{ip} must be refused");
        }
        for ip in [
            "93.184.216.34",
            "8.8.8.8",
            "172.32.0.1",
            "100.128.0.1",
            "2606:4700::1111",
            "::ffff:8.8.8.8",
        ] {
            assert!(public(ip), "{ip} is public");
        }
    }

    #[test]
    fn only_http_urls_to_outside_hosts_are_taken() {
        assert!(parse("https://hooks.example.com/in?x=1", false).is_ok());
        for refused in [
            "ftp://example.com/",
            "file:///etc/passwd",
            "http://127.0.0.1:8080/",
            "http://[::1]/",
            "http://localhost/",
            "http://api.localhost./",
            "http://169.254.169.254/latest/meta-data",
            "http://2130706433/",
            "not a url",
        ] {
            assert!(parse(refused, false).is_err(), "{refused} must be refused");
        }
        assert!(parse("http://127.0.0.1:9000/hook", true).is_ok());
        assert!(parse("gopher://127.0.0.1/", true).is_err());
        let long = format!("https://example.com/{}", "é".repeat(700));
        assert!(long.chars().count() < MAX_URL_CHARS && parse(&long, false).is_err());
    }

    #[tokio::test]
    async fn the_resolver_hands_out_only_addresses_it_may() {
        let guarded = GuardedResolver { allow_private: false };
        let refused = guarded.resolve("localhost".parse().unwrap()).await.err().unwrap();
        let unknown = guarded
            .resolve("no-such-host.invalid".parse().unwrap())
            .await
            .err()
            .unwrap();
        assert_eq!(
            refused.to_string(),
            "localhost resolves to no address webhooks may call"
        );
        assert_eq!(
            unknown.to_string(),
            "no-such-host.invalid resolves to no address webhooks may call"
        );
        let open = GuardedResolver { allow_private: true };
        let addrs: Vec<SocketAddr> = open
            .resolve("localhost".parse().unwrap())
            .await
            .unwrap()
            .collect();
        assert!(addrs.iter().all(|addr| addr.ip().is_loopback()) && !addrs.is_empty());
    }
}
