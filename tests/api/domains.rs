//! Verified domains against a real DNS responder (PyPI `dnslib`, interop/dns-responder.py,
//! installed by scripts/test) named by `dns.resolver`: the TXT record decides, one organisation
//! at a time; and a name that DNS points at loopback is refused by the outbound client.

use std::path::PathBuf;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::*;

/// The responder, its port, and the records file it reads for every query.
struct Dns {
    _child: tokio::process::Child,
    port: u16,
    file: PathBuf,
}

impl Dns {
    async fn start() -> Self {
        use tokio::io::AsyncBufReadExt;
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/interop");
        let python = format!("{dir}/.venv-dns/bin/python");
        assert!(
            std::path::Path::new(&python).exists(),
            "the test DNS responder is not installed: run scripts/test (it installs PyPI dnslib in interop/.venv-dns)"
        );
        let file = std::env::temp_dir().join(format!("idbridge-dns-{}.json", uuid::Uuid::new_v4()));
        std::fs::write(&file, "{}").unwrap();
        let mut child = tokio::process::Command::new(python)
            .arg(format!("{dir}/dns-responder.py"))
            .env("DNS_RECORDS_FILE", &file)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("python3 runs");
        let mut lines = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
        let ready = tokio::time::timeout(std::time::Duration::from_secs(20), lines.next_line())
            .await
            .expect("the DNS responder starts")
            .unwrap()
            .expect("a READY line");
        let port = ready.strip_prefix("READY ").unwrap().parse().unwrap();
        Dns {
            _child: child,
            port,
            file,
        }
    }

    fn publish(&self, records: Value) {
        std::fs::write(&self.file, records.to_string()).unwrap();
    }
}

impl Drop for Dns {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.file);
    }
}

#[tokio::test]
async fn a_domain_is_verified_by_its_dns_txt_record_for_one_organisation_at_a_time() {
    let dns = Dns::start().await;
    let port = dns.port;
    let app = spawn_app_with(|s| s.dns.resolver = format!("127.0.0.1:{port}")).await;
    let platform = app.register_admin().await;
    let acme = app.org_admin(&platform, "acme").await;
    let beta = app.org_admin(&platform, "beta").await;
    let claim = |s: &Session, tenant: &str| {
        app.post(
            "/api/domains",
            s,
            json!({"domain": "Acme.Test", "tenant": tenant}),
        )
        .send()
    };
    let mine = expect(claim(&acme, "acme").await.unwrap(), StatusCode::CREATED).await;
    assert_eq!(mine["domain"], "acme.test");
    assert_eq!(mine["verified"], false);
    assert_eq!(mine["txt_record"]["name"], "acme.test");
    let value = mine["txt_record"]["value"].as_str().unwrap().to_string();
    assert!(value.starts_with("idbridge-verification="), "{value}");
    expect_error(
        claim(&acme, "acme").await.unwrap(),
        StatusCode::CONFLICT,
        "domain_claimed",
    )
    .await;
    let verify = |s: &Session, id: &str, body: Value| {
        app.post(&format!("/api/domains/{id}/verify"), s, body)
            .send()
    };
    let id = mine["id"].as_str().unwrap();
    // Not published yet: refused, saying what to publish.
    let e = expect_error(
        verify(&acme, id, json!({})).await.unwrap(),
        StatusCode::UNPROCESSABLE_ENTITY,
        "verification_failed",
    )
    .await;
    assert!(e["message"].as_str().unwrap().contains(&value), "{e}");
    // A tenant admin cannot skip DNS.
    expect_error(
        verify(&acme, id, json!({"method": "admin"})).await.unwrap(),
        StatusCode::FORBIDDEN,
        "platform_admin_required",
    )
    .await;
    // Published (among other TXT records, split into strings as DNS allows): verified.
    let (head, tail) = value.split_at(10);
    dns.publish(json!({"acme.test": {"TXT": ["v=spf1 -all", [head, tail]]}}));
    let v = expect(verify(&acme, id, json!({})).await.unwrap(), StatusCode::OK).await;
    assert_eq!(v["verified"], true);
    assert_eq!(v["verified_by"], "dns");
    // Another organisation may claim it, and even publish its own record: still one owner.
    let theirs = expect(claim(&beta, "beta").await.unwrap(), StatusCode::CREATED).await;
    let their_value = theirs["txt_record"]["value"].as_str().unwrap().to_string();
    dns.publish(json!({"acme.test": {"TXT": [value, their_value]}}));
    expect_error(
        verify(&beta, theirs["id"].as_str().unwrap(), json!({}))
            .await
            .unwrap(),
        StatusCode::CONFLICT,
        "domain_verified_elsewhere",
    )
    .await;
    // Beta's admin sees neither acme's claim nor can act on it.
    let r = app
        .delete(&format!("/api/domains/{id}"), &beta)
        .send()
        .await
        .unwrap();
    expect_error(r, StatusCode::NOT_FOUND, "not_found").await;
    let list = expect(
        app.get("/api/domains?tenant=beta", &beta)
            .send()
            .await
            .unwrap(),
        StatusCode::OK,
    )
    .await;
    assert_eq!(list["items"].as_array().unwrap().len(), 1);
    assert_eq!(list["items"][0]["verified"], false);
    // Audited.
    let audit = expect(
        app.get("/api/audit?action=domain.verify&tenant=acme", &acme)
            .send()
            .await
            .unwrap(),
        StatusCode::OK,
    )
    .await;
    assert_eq!(audit["items"][0]["after"]["method"], "dns", "{audit}");
}

/// Catalog 145, "via DNS that resolves there": the configured resolver points an IdP's name at
/// loopback; the outbound client refuses before connecting.
#[tokio::test]
async fn a_name_that_dns_points_at_loopback_is_refused_before_any_connection() {
    let dns = Dns::start().await;
    let sink = Sink::start().await;
    dns.publish(json!({"idp.evil.test": {"A": ["127.0.0.1"]}, "meta.evil.test": {"A": ["169.254.169.254"]}}));
    let port = dns.port;
    let app = spawn_app_with(|s| {
        s.dns.resolver = format!("127.0.0.1:{port}");
        s.outbound.allow_private = false;
    })
    .await;
    let platform = app.register_admin().await;
    let attacker = app.org_admin(&platform, "evilcorp").await;
    for issuer in [
        format!("https://idp.evil.test:{}", sink.port),
        "https://meta.evil.test".to_string(),
    ] {
        let r = app
            .post(
                "/api/sso/connections",
                &attacker,
                json!({"kind": "oidc", "name": "x", "issuer": issuer, "client_id": "c"}),
            )
            .send()
            .await
            .unwrap();
        let e = expect_error(r, StatusCode::BAD_REQUEST, "url_refused").await;
        assert!(
            e["message"]
                .as_str()
                .unwrap()
                .contains("not a public address"),
            "{e}"
        );
    }
    assert_eq!(sink.connections(), 0);
}
