//! The one outbound HTTP client. Every fetch idbridge makes goes through it: IdP discovery,
//! JWKS, token, userinfo and groups endpoints, SAML metadata, back-channel logout (and webhooks).
//!
//! The rule, in [`Outbound::check_url`] and the resolver below: https only; the host's name is
//! resolved here and a connection goes only to the address that was checked (no DNS rebinding),
//! and only to public addresses (never loopback, private, link-local, CGNAT, multicast,
//! cloud-metadata, reserved, or IPv4-mapped/NAT64 forms of those); redirects are never followed;
//! answers are cut at `outbound.max_response_bytes` and `outbound.timeout_secs`. Plain http and
//! non-public addresses are allowed only by the deployment setting `outbound.allow_private`
//! (tests and labs), never by a tenant.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use super::dns::Resolver;
use crate::config::OutboundSettings;

/// Why an outbound request did not happen or did not complete.
#[derive(Debug, Clone, thiserror::Error)]
pub enum OutboundError {
    /// Refused before any connection (the rule above).
    #[error("{0}")]
    Refused(String),
    /// The request was made and failed (network, status, size, time).
    #[error("{0}")]
    Failed(String),
}

impl OutboundError {
    pub fn is_refused(&self) -> bool {
        matches!(self, Self::Refused(_))
    }
}

/// A received answer (the body read in full, within the size cap).
#[derive(Debug)]
pub struct Answer {
    pub status: reqwest::StatusCode,
    pub headers: reqwest::header::HeaderMap,
    pub body: Vec<u8>,
}

#[derive(Clone)]
pub struct Outbound {
    client: reqwest::Client,
    allow_private: bool,
    max_bytes: usize,
    timeout: Duration,
}

impl Outbound {
    /// `resolver`: the configured DNS resolver, or `None` for the system's.
    pub fn new(s: &OutboundSettings, resolver: Option<Resolver>) -> crate::error::Result<Self> {
        crate::crypto::install_tls_provider();
        let timeout = Duration::from_secs(s.timeout_secs.max(1));
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(Duration::from_secs(5).min(timeout))
            .timeout(timeout)
            .user_agent(concat!("idbridge/", env!("CARGO_PKG_VERSION")))
            .dns_resolver(Arc::new(Guard {
                resolver,
                allow_private: s.allow_private,
            }))
            .build()
            .map_err(|e| {
                crate::error::Error::internal(format!("cannot build the HTTP client: {e}"))
            })?;
        Ok(Self {
            client,
            allow_private: s.allow_private,
            max_bytes: s.max_response_bytes,
            timeout,
        })
    }

    /// Whether plain http and non-public addresses are allowed (`outbound.allow_private`).
    pub fn allows_private(&self) -> bool {
        self.allow_private
    }

    /// Checks a URL before anything is sent: scheme, credentials, and an IP literal host.
    /// (Names are checked when they are resolved, for the address actually connected to.)
    pub fn check_url(&self, raw: &str) -> Result<reqwest::Url, OutboundError> {
        let url = reqwest::Url::parse(raw)
            .map_err(|e| OutboundError::Refused(format!("`{raw}` is not a URL: {e}")))?;
        match url.scheme() {
            "https" => {}
            "http" if self.allow_private => {}
            "http" => {
                return Err(OutboundError::Refused(format!(
                    "`{raw}` is not https: idbridge only calls https URLs (outbound.allow_private admits http for tests and labs)"
                )));
            }
            other => {
                return Err(OutboundError::Refused(format!(
                    "`{raw}`: the scheme `{other}` is not allowed, only https"
                )));
            }
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(OutboundError::Refused(format!(
                "`{raw}` carries credentials in the URL"
            )));
        }
        let host = url
            .host_str()
            .filter(|h| !h.is_empty())
            .ok_or_else(|| OutboundError::Refused(format!("`{raw}` has no host")))?;
        // The URL parser has already normalised IPv4 forms (`0x7f.1`, `2130706433`).
        let literal = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<IpAddr>()
            .ok();
        if let Some(ip) = literal
            && !self.allow_private
            && !is_public(ip)
        {
            return Err(OutboundError::Refused(format!(
                "`{raw}` points at {ip}, which is not a public address"
            )));
        }
        Ok(url)
    }

    /// A request builder on the guarded client (send it with [`Outbound::send`]).
    pub fn request(&self, method: reqwest::Method, url: reqwest::Url) -> reqwest::RequestBuilder {
        self.client.request(method, url)
    }

    /// Sends a request after the URL check, and reads the whole answer within the caps.
    pub async fn send(&self, req: reqwest::RequestBuilder) -> Result<Answer, OutboundError> {
        let req = req
            .build()
            .map_err(|e| OutboundError::Refused(format!("not a request: {e}")))?;
        self.execute(req).await
    }

    pub async fn execute(&self, req: reqwest::Request) -> Result<Answer, OutboundError> {
        let url = self.check_url(req.url().as_str())?;
        let shown = redacted(&url);
        let exchange = async {
            let mut resp = self
                .client
                .execute(req)
                .await
                .map_err(|e| describe(&shown, e))?;
            let (status, headers) = (resp.status(), resp.headers().clone());
            let mut body = Vec::new();
            while let Some(chunk) = resp.chunk().await.map_err(|e| describe(&shown, e))? {
                if body.len() + chunk.len() > self.max_bytes {
                    return Err(OutboundError::Failed(format!(
                        "{shown}: the answer is larger than {} bytes (outbound.max_response_bytes)",
                        self.max_bytes
                    )));
                }
                body.extend_from_slice(&chunk);
            }
            Ok(Answer {
                status,
                headers,
                body,
            })
        };
        tokio::time::timeout(self.timeout, exchange)
            .await
            .map_err(|_| {
                OutboundError::Failed(format!(
                    "{shown}: no answer within {} s",
                    self.timeout.as_secs()
                ))
            })?
    }
}

/// A URL for logs and errors: scheme, host, port and path (no query: it may hold a token).
fn redacted(url: &reqwest::Url) -> String {
    let mut u = url.clone();
    u.set_query(None);
    u.set_fragment(None);
    u.to_string()
}

/// A failure and its causes (the refusal of the resolver guard among them).
fn describe(url: &str, e: reqwest::Error) -> OutboundError {
    let mut text = e.to_string();
    let mut refused = false;
    let mut src = std::error::Error::source(&e);
    while let Some(inner) = src {
        if inner.downcast_ref::<Refusal>().is_some() {
            refused = true;
        }
        text.push_str(": ");
        text.push_str(&inner.to_string());
        src = inner.source();
    }
    if refused {
        OutboundError::Refused(format!("{url}: {text}"))
    } else {
        OutboundError::Failed(format!("{url}: {text}"))
    }
}

/// The resolver's refusal (a name that resolves to a non-public address).
#[derive(Debug)]
struct Refusal(String);

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Refusal {}

/// Resolves names for the client and refuses any that has a non-public address; the addresses
/// it returns are the ones connected to.
struct Guard {
    resolver: Option<Resolver>,
    allow_private: bool,
}

impl reqwest::dns::Resolve for Guard {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let resolver = self.resolver.clone();
        let allow_private = self.allow_private;
        Box::pin(async move {
            let host = name.as_str().to_string();
            let addrs = resolve(resolver.as_ref(), &host)
                .await
                .map_err(|e| Box::new(Refusal(e)) as Box<dyn std::error::Error + Send + Sync>)?;
            if addrs.is_empty() {
                return Err(Box::new(Refusal(format!("{host} has no address"))) as _);
            }
            if !allow_private && let Some(bad) = addrs.iter().find(|a| !is_public(**a)) {
                return Err(Box::new(Refusal(format!(
                    "{host} resolves to {bad}, which is not a public address: idbridge connects to public addresses only"
                ))) as _);
            }
            let out: Vec<SocketAddr> = addrs.into_iter().map(|a| SocketAddr::new(a, 0)).collect();
            Ok(Box::new(out.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

/// The addresses of `host`: through the configured resolver, else the system's.
pub async fn resolve(resolver: Option<&Resolver>, host: &str) -> Result<Vec<IpAddr>, String> {
    match resolver {
        Some(r) => r.addrs(host).await.map_err(|e| format!("{host}: {e}")),
        None => tokio::net::lookup_host((host, 0))
            .await
            .map(|it| it.map(|a| a.ip()).collect())
            .map_err(|e| format!("cannot resolve {host}: {e}")),
    }
}

/// Whether an address is a public unicast address (none of loopback, private, link-local and
/// cloud metadata, CGNAT, multicast, broadcast, documentation, benchmarking, reserved, or an
/// IPv4-mapped, IPv4-compatible or NAT64 form of those).
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v) => public_v4(v),
        IpAddr::V6(v) => public_v6(v),
    }
}

fn public_v4(v: Ipv4Addr) -> bool {
    let o = v.octets();
    !(v.is_private()
        || v.is_loopback()
        || v.is_link_local() // 169.254/16, the metadata service among them
        || v.is_unspecified()
        || v.is_broadcast()
        || v.is_multicast()
        || v.is_documentation()
        || o[0] == 0
        || (o[0] == 100 && (64..128).contains(&o[1])) // CGNAT 100.64/10
        || (o[0] == 192 && o[1] == 0 && o[2] == 0) // IETF 192.0.0/24
        || (o[0] == 198 && (o[1] == 18 || o[1] == 19)) // benchmarking 198.18/15
        || o[0] >= 240) // reserved 240/4
}

fn public_v6(v: Ipv6Addr) -> bool {
    if let Some(m) = v.to_ipv4_mapped() {
        return public_v4(m);
    }
    let s = v.segments();
    // IPv4-compatible (::a.b.c.d, deprecated) and NAT64 (64:ff9b::/96) embed an IPv4 address.
    if s[..6] == [0, 0, 0, 0, 0, 0] || (s[0] == 0x64 && s[1] == 0xff9b && s[2..6] == [0; 4]) {
        let [a, b] = s[6].to_be_bytes();
        let [c, d] = s[7].to_be_bytes();
        return public_v4(Ipv4Addr::new(a, b, c, d));
    }
    !(v.is_loopback()
        || v.is_unspecified()
        || v.is_multicast()
        || (s[0] & 0xfe00) == 0xfc00 // unique local fc00::/7 (AWS metadata fd00:ec2::254)
        || (s[0] & 0xffc0) == 0xfe80 // link-local fe80::/10
        || (s[0] & 0xffc0) == 0xfec0 // site-local fec0::/10
        || (s[0] == 0x2001 && s[1] == 0x0db8) // documentation
        || (s[0] == 0x100 && s[1..4] == [0, 0, 0])) // discard 100::/64
}

// openidconnect and oauth2 call the IdP through this client.
impl<'c> openidconnect::AsyncHttpClient<'c> for Outbound {
    type Error = OutboundError;
    type Future = std::pin::Pin<
        Box<
            dyn std::future::Future<Output = Result<openidconnect::HttpResponse, Self::Error>>
                + Send
                + 'c,
        >,
    >;

    fn call(&'c self, request: openidconnect::HttpRequest) -> Self::Future {
        Box::pin(async move {
            let req = reqwest::Request::try_from(request)
                .map_err(|e| OutboundError::Refused(format!("not a request: {e}")))?;
            let a = self.execute(req).await?;
            let mut resp = openidconnect::http::Response::builder()
                .status(a.status)
                .body(a.body)
                .map_err(|e| OutboundError::Failed(e.to_string()))?;
            *resp.headers_mut() = a.headers;
            Ok(resp)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_public_addresses_are_public() {
        for bad in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.100.100.200",
            "0.0.0.0",
            "224.0.0.1",
            "255.255.255.255",
            "198.18.0.1",
            "240.0.0.1",
            "::1",
            "::",
            "fd00:ec2::254",
            "fe80::1",
            "ff02::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "::127.0.0.1",
            "64:ff9b::a9fe:a9fe",
        ] {
            assert!(!is_public(bad.parse().unwrap()), "{bad}");
        }
        for ok in [
            "8.8.8.8",
            "1.1.1.1",
            "2606:4700:4700::1111",
            "64:ff9b::808:808",
        ] {
            assert!(is_public(ok.parse().unwrap()), "{ok}");
        }
    }

    fn client(allow_private: bool) -> Outbound {
        Outbound::new(
            &OutboundSettings {
                allow_private,
                ..Default::default()
            },
            None,
        )
        .unwrap()
    }

    #[test]
    fn urls_must_be_https_without_credentials_or_private_literals() {
        let c = client(false);
        for bad in [
            "http://example.com/",
            "ftp://example.com/",
            "file:///etc/passwd",
            "https://user:pw@example.com/",
            "https://127.0.0.1/",
            "https://[::1]/",
            "https://[::ffff:7f00:1]/",
            "https://169.254.169.254/latest/meta-data",
            "https://0x7f.0.0.1/",
            "https://2130706433/",
        ] {
            assert!(c.check_url(bad).unwrap_err().is_refused(), "{bad}");
        }
        assert!(c.check_url("https://idp.example.com/x").is_ok());
        let lab = client(true);
        assert!(lab.check_url("http://127.0.0.1:8080/").is_ok());
    }

    #[tokio::test]
    async fn a_name_that_resolves_to_loopback_is_refused_before_connecting() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let c = client(false);
        // `localhost` passes the URL check (a name) and is refused by the resolver guard.
        let url = reqwest::Url::parse(&format!("https://localhost:{port}/")).unwrap();
        let err = c
            .send(c.request(reqwest::Method::GET, url))
            .await
            .unwrap_err();
        assert!(err.is_refused(), "{err}");
        assert!(err.to_string().contains("not a public address"), "{err}");
        let accepted = tokio::time::timeout(Duration::from_millis(200), listener.accept()).await;
        assert!(accepted.is_err(), "no connection reached the listener");
    }
}
