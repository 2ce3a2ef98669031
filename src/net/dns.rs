//! A small DNS stub resolver (RFC 1035): A, AAAA and TXT queries to one recursive resolver over
//! UDP, retried over TCP when the answer is truncated. It serves domain verification (TXT
//! records) and, when `dns.resolver` is set, every name the outbound client connects to, so that
//! tests and locked-down deployments name the resolver explicitly.
//!
//! The message codec ([`encode_query`], [`parse_response`]) is pure and bounded: names are at
//! most 255 bytes, compression pointers may only point backwards and at most 64 are followed.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

pub const TYPE_A: u16 = 1;
pub const TYPE_TXT: u16 = 16;
pub const TYPE_AAAA: u16 = 28;
const CLASS_IN: u16 = 1;
const TIMEOUT: Duration = Duration::from_secs(3);

/// Why a lookup failed, worded for the operator.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DnsError {
    #[error("`{0}` is not a domain name")]
    BadName(String),
    #[error("no answer from the DNS resolver {0} (set dns.resolver to a reachable resolver)")]
    Timeout(SocketAddr),
    #[error("the DNS resolver {0} cannot be reached: {1}")]
    Io(SocketAddr, String),
    #[error("the DNS resolver answered {0} for this name")]
    Rcode(&'static str),
    #[error("malformed DNS answer: {0}")]
    Malformed(&'static str),
}

/// One record of an answer section that the resolver asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Record {
    Addr(IpAddr),
    Txt(String),
}

/// Encodes a recursive query for `name` and `qtype` with message id `id`.
pub fn encode_query(id: u16, name: &str, qtype: u16) -> Result<Vec<u8>, DnsError> {
    let bad = || DnsError::BadName(name.chars().take(80).collect());
    let name = name.trim_end_matches('.');
    if name.is_empty() || name.len() > 253 {
        return Err(bad());
    }
    let mut out = Vec::with_capacity(18 + name.len());
    out.extend_from_slice(&id.to_be_bytes());
    // RD (recursion desired); one question.
    out.extend_from_slice(&[0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]);
    for label in name.split('.') {
        let ok = !label.is_empty()
            && label.len() <= 63
            && label
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if !ok {
            return Err(bad());
        }
        out.push(label.len() as u8);
        out.extend_from_slice(label.as_bytes());
    }
    out.push(0);
    out.extend_from_slice(&qtype.to_be_bytes());
    out.extend_from_slice(&CLASS_IN.to_be_bytes());
    Ok(out)
}

/// Whether an answer is truncated (TC bit): the query must be repeated over TCP.
pub fn truncated(msg: &[u8]) -> bool {
    msg.len() > 2 && msg[2] & 0x02 != 0
}

/// The records of type `qtype` in a response to query `id`. NXDOMAIN and "no data" are an empty
/// list; other error codes are errors.
pub fn parse_response(msg: &[u8], id: u16, qtype: u16) -> Result<Vec<Record>, DnsError> {
    let u16_at = |i: usize| -> Result<u16, DnsError> {
        msg.get(i..i + 2)
            .map(|b| u16::from_be_bytes([b[0], b[1]]))
            .ok_or(DnsError::Malformed("short message"))
    };
    if u16_at(0)? != id {
        return Err(DnsError::Malformed("answer to another query"));
    }
    let flags = u16_at(2)?;
    if flags & 0x8000 == 0 {
        return Err(DnsError::Malformed("not a response"));
    }
    match flags & 0x000f {
        0 | 3 => {}
        2 => return Err(DnsError::Rcode("SERVFAIL")),
        5 => return Err(DnsError::Rcode("REFUSED")),
        _ => return Err(DnsError::Rcode("an error")),
    }
    if flags & 0x000f == 3 {
        return Ok(Vec::new());
    }
    let (qd, an) = (u16_at(4)?, u16_at(6)?);
    let mut pos = 12;
    for _ in 0..qd {
        pos = skip_name(msg, pos)? + 4;
    }
    let mut out = Vec::new();
    for _ in 0..an {
        pos = skip_name(msg, pos)?;
        let rtype = u16_at(pos)?;
        let class = u16_at(pos + 2)?;
        let len = usize::from(u16_at(pos + 8)?);
        let start = pos + 10;
        let data = msg
            .get(start..start + len)
            .ok_or(DnsError::Malformed("record runs past the message"))?;
        pos = start + len;
        if class != CLASS_IN || rtype != qtype {
            continue; // CNAME links of the chain, or other classes
        }
        match rtype {
            TYPE_A if len == 4 => out.push(Record::Addr(IpAddr::V4(Ipv4Addr::new(
                data[0], data[1], data[2], data[3],
            )))),
            TYPE_AAAA if len == 16 => {
                let mut b = [0u8; 16];
                b.copy_from_slice(data);
                out.push(Record::Addr(IpAddr::V6(Ipv6Addr::from(b))));
            }
            TYPE_TXT => {
                // One or more character-strings, concatenated (RFC 7208 §3.3 style).
                let mut text = Vec::new();
                let mut i = 0;
                while i < data.len() {
                    let n = usize::from(data[i]);
                    let part = data
                        .get(i + 1..i + 1 + n)
                        .ok_or(DnsError::Malformed("TXT string runs past its record"))?;
                    text.extend_from_slice(part);
                    i += 1 + n;
                }
                out.push(Record::Txt(String::from_utf8_lossy(&text).into_owned()));
            }
            _ => return Err(DnsError::Malformed("record of the wrong size")),
        }
    }
    Ok(out)
}

/// The position after a (possibly compressed) name at `pos`.
fn skip_name(msg: &[u8], mut pos: usize) -> Result<usize, DnsError> {
    let mut total = 0usize;
    loop {
        let len = *msg
            .get(pos)
            .ok_or(DnsError::Malformed("name runs past the message"))?;
        match len {
            0 => return Ok(pos + 1),
            // A compression pointer ends the name in place.
            l if l & 0xc0 == 0xc0 => {
                msg.get(pos + 1).ok_or(DnsError::Malformed("cut pointer"))?;
                return Ok(pos + 2);
            }
            l if l & 0xc0 != 0 => return Err(DnsError::Malformed("unknown label type")),
            l => {
                total += usize::from(l) + 1;
                if total > 255 {
                    return Err(DnsError::Malformed("name longer than 255 bytes"));
                }
                pos += usize::from(l) + 1;
            }
        }
    }
}

/// A resolver at one address.
#[derive(Debug, Clone)]
pub struct Resolver {
    server: SocketAddr,
}

impl Resolver {
    pub fn new(server: SocketAddr) -> Self {
        Self { server }
    }

    /// The first `nameserver` of `/etc/resolv.conf`, else 127.0.0.1:53.
    pub fn system() -> Self {
        let server = std::fs::read_to_string("/etc/resolv.conf")
            .ok()
            .and_then(|text| {
                text.lines()
                    .filter_map(|l| l.trim().strip_prefix("nameserver"))
                    .find_map(|ip| ip.trim().parse::<IpAddr>().ok())
            })
            .unwrap_or(IpAddr::V4(Ipv4Addr::LOCALHOST));
        Self::new(SocketAddr::new(server, 53))
    }

    pub fn server(&self) -> SocketAddr {
        self.server
    }

    /// The TXT strings of `name`.
    pub async fn txt(&self, name: &str) -> Result<Vec<String>, DnsError> {
        Ok(self
            .query(name, TYPE_TXT)
            .await?
            .into_iter()
            .filter_map(|r| match r {
                Record::Txt(t) => Some(t),
                Record::Addr(_) => None,
            })
            .collect())
    }

    /// The IPv4 and IPv6 addresses of `name`.
    pub async fn addrs(&self, name: &str) -> Result<Vec<IpAddr>, DnsError> {
        let (v4, v6) = tokio::join!(self.query(name, TYPE_A), self.query(name, TYPE_AAAA));
        let mut out = Vec::new();
        for r in v4?.into_iter().chain(v6.unwrap_or_default()) {
            if let Record::Addr(a) = r {
                out.push(a);
            }
        }
        Ok(out)
    }

    async fn query(&self, name: &str, qtype: u16) -> Result<Vec<Record>, DnsError> {
        let id = u16::from_be_bytes(crate::crypto::random_bytes::<2>());
        let q = encode_query(id, name, qtype)?;
        let io = |e: std::io::Error| DnsError::Io(self.server, e.to_string());
        let bind: SocketAddr = if self.server.is_ipv4() {
            (Ipv4Addr::UNSPECIFIED, 0).into()
        } else {
            (Ipv6Addr::UNSPECIFIED, 0).into()
        };
        let sock = tokio::net::UdpSocket::bind(bind).await.map_err(io)?;
        sock.connect(self.server).await.map_err(io)?;
        let mut buf = vec![0u8; 4096];
        for _attempt in 0..2 {
            sock.send(&q).await.map_err(io)?;
            match tokio::time::timeout(TIMEOUT, sock.recv(&mut buf)).await {
                Ok(Ok(n)) => {
                    let msg = &buf[..n];
                    if truncated(msg) {
                        return self.query_tcp(&q, id, qtype).await;
                    }
                    // A stray datagram for another id: wait for ours on the next attempt.
                    match parse_response(msg, id, qtype) {
                        Err(DnsError::Malformed("answer to another query")) => continue,
                        other => return other,
                    }
                }
                Ok(Err(e)) => return Err(io(e)),
                Err(_) => continue,
            }
        }
        Err(DnsError::Timeout(self.server))
    }

    async fn query_tcp(&self, q: &[u8], id: u16, qtype: u16) -> Result<Vec<Record>, DnsError> {
        let io = |e: std::io::Error| DnsError::Io(self.server, e.to_string());
        let exchange = async {
            let mut s = tokio::net::TcpStream::connect(self.server)
                .await
                .map_err(io)?;
            let mut framed = Vec::with_capacity(q.len() + 2);
            framed.extend_from_slice(&(q.len() as u16).to_be_bytes());
            framed.extend_from_slice(q);
            s.write_all(&framed).await.map_err(io)?;
            let mut len = [0u8; 2];
            s.read_exact(&mut len).await.map_err(io)?;
            let mut msg = vec![0u8; usize::from(u16::from_be_bytes(len))];
            s.read_exact(&mut msg).await.map_err(io)?;
            parse_response(&msg, id, qtype)
        };
        tokio::time::timeout(TIMEOUT, exchange)
            .await
            .map_err(|_| DnsError::Timeout(self.server))?
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A response to `query` with the given answers (name as a pointer to the question).
    fn response(query: &[u8], rcode: u8, answers: &[(u16, Vec<u8>)]) -> Vec<u8> {
        let mut m = query.to_vec();
        m[2] = 0x81;
        m[3] = 0x80 | rcode;
        m[6..8].copy_from_slice(&(answers.len() as u16).to_be_bytes());
        for (t, data) in answers {
            m.extend_from_slice(&[0xc0, 12]);
            m.extend_from_slice(&t.to_be_bytes());
            m.extend_from_slice(&CLASS_IN.to_be_bytes());
            m.extend_from_slice(&300u32.to_be_bytes());
            m.extend_from_slice(&(data.len() as u16).to_be_bytes());
            m.extend_from_slice(data);
        }
        m
    }

    #[test]
    fn a_query_encodes_labels_and_refuses_bad_names() {
        let q = encode_query(7, "a.example.com.", TYPE_A).unwrap();
        assert_eq!(&q[..2], &[0, 7]);
        assert_eq!(&q[12..], b"\x01a\x07example\x03com\x00\x00\x01\x00\x01");
        for bad in ["", "a..b", "a b.com", &"x".repeat(64), "ünï.com"] {
            assert!(encode_query(1, bad, TYPE_A).is_err(), "{bad}");
        }
    }

    #[test]
    fn answers_of_the_asked_type_are_read_and_others_skipped() {
        let q = encode_query(9, "example.com", TYPE_TXT).unwrap();
        let txt = b"\x15idbridge-verification\x04=abc".to_vec();
        let cname = b"\x03foo\x00".to_vec();
        let r = response(&q, 0, &[(5, cname), (TYPE_TXT, txt)]);
        assert_eq!(
            parse_response(&r, 9, TYPE_TXT).unwrap(),
            vec![Record::Txt("idbridge-verification=abc".into())]
        );
        let q = encode_query(3, "example.com", TYPE_A).unwrap();
        let r = response(&q, 0, &[(TYPE_A, vec![127, 0, 0, 1])]);
        assert_eq!(
            parse_response(&r, 3, TYPE_A).unwrap(),
            vec![Record::Addr("127.0.0.1".parse().unwrap())]
        );
    }

    #[test]
    fn nxdomain_is_empty_and_other_errors_and_wrong_ids_fail() {
        let q = encode_query(4, "nope.example", TYPE_A).unwrap();
        assert!(
            parse_response(&response(&q, 3, &[]), 4, TYPE_A)
                .unwrap()
                .is_empty()
        );
        assert_eq!(
            parse_response(&response(&q, 2, &[]), 4, TYPE_A),
            Err(DnsError::Rcode("SERVFAIL"))
        );
        assert!(parse_response(&response(&q, 0, &[]), 5, TYPE_A).is_err());
    }

    #[test]
    fn truncated_or_looping_messages_fail_without_panicking() {
        let q = encode_query(4, "x.example", TYPE_A).unwrap();
        let r = response(&q, 0, &[(TYPE_A, vec![1, 2, 3, 4])]);
        for cut in 0..r.len() {
            let _ = parse_response(&r[..cut], 4, TYPE_A);
        }
        // A record whose length runs past the end.
        let mut long = r.clone();
        let n = long.len();
        long[n - 6] = 0xff;
        assert!(parse_response(&long, 4, TYPE_A).is_err());
        // Labels that add up to more than 255 bytes.
        let mut m = q[..12].to_vec();
        m[2] = 0x81;
        for _ in 0..5 {
            m.push(63);
            m.extend_from_slice(&[b'a'; 63]);
        }
        m.push(0);
        assert!(parse_response(&m, 4, TYPE_A).is_err());
    }
}
