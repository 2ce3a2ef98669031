//! The one outbound client against a tenant admin who tries to make idbridge call internal
//! addresses (hole 7, ../shared/security-tests.md 145): OIDC issuers and groups endpoints, SAML
//! metadata URLs and sign-on locations, back-channel logout URIs. With the deployment default
//! (`outbound.allow_private = false`) each is refused before any connection: the loopback
//! listeners named in the URLs must never see one.

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::*;

async fn locked_down() -> TestApp {
    spawn_app_with(|s| s.outbound.allow_private = false).await
}

#[tokio::test]
async fn a_tenant_admin_cannot_point_an_oidc_connection_at_loopback_private_or_metadata_addresses()
{
    let app = locked_down().await;
    let platform = app.register_admin().await;
    let attacker = app.org_admin(&platform, "evilcorp").await;
    let sink = Sink::start().await;
    let p = sink.port;
    for issuer in [
        format!("http://127.0.0.1:{p}"),
        format!("https://127.0.0.1:{p}"),
        format!("https://[::1]:{p}"),
        format!("https://[::ffff:127.0.0.1]:{p}"),
        format!("https://0x7f.0.0.1:{p}"),
        format!("https://2130706433:{p}"),
        "https://169.254.169.254/latest/meta-data".to_string(),
        "https://10.0.0.1".to_string(),
        // A name that resolves to loopback: refused by the resolver guard, not the URL check.
        format!("https://localhost:{p}"),
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
        assert_eq!(e["field"], "issuer", "{issuer}: {e}");
    }
    let r = app
        .post(
            "/api/sso/connections",
            &attacker,
            json!({"kind": "oidc", "name": "x", "issuer": "https://idp.example.com", "client_id": "c",
                   "groups_endpoint": format!("https://127.0.0.1:{p}/groups")}),
        )
        .send()
        .await
        .unwrap();
    let e = expect_error(r, StatusCode::BAD_REQUEST, "url_refused").await;
    assert_eq!(e["field"], "groups_endpoint");
    // The old per-connection escape hatch is a deployment setting now.
    let r = app
        .post(
            "/api/sso/connections",
            &attacker,
            json!({"kind": "oidc", "name": "x", "issuer": format!("http://127.0.0.1:{p}"),
                   "client_id": "c", "allow_insecure_http": true}),
        )
        .send()
        .await
        .unwrap();
    expect_error(r, StatusCode::BAD_REQUEST, "deployment_setting").await;
    assert_eq!(
        sink.connections(),
        0,
        "no request reached the loopback listener"
    );
    let list = expect(
        app.get("/api/sso/connections", &attacker)
            .send()
            .await
            .unwrap(),
        StatusCode::OK,
    )
    .await;
    assert_eq!(list, json!([]), "nothing was saved");
}

#[tokio::test]
async fn a_tenant_admin_cannot_point_saml_metadata_or_backchannel_logout_at_loopback() {
    let app = locked_down().await;
    let platform = app.register_admin().await;
    let attacker = app.org_admin(&platform, "evilcorp").await;
    let sink = Sink::start().await;
    let p = sink.port;
    for url in [
        format!("http://127.0.0.1:{p}/metadata"),
        format!("https://127.0.0.1:{p}/metadata"),
        format!("https://localhost:{p}/metadata"),
        "file:///etc/passwd".to_string(),
    ] {
        let r = app
            .post(
                "/api/sso/connections",
                &attacker,
                json!({"kind": "saml", "name": "x", "idp_metadata_url": url}),
            )
            .send()
            .await
            .unwrap();
        let e = expect_error(r, StatusCode::BAD_REQUEST, "url_refused").await;
        assert_eq!(e["field"], "idp_metadata_url", "{url}: {e}");
    }
    let r = app
        .post(
            "/api/oauth-clients",
            &attacker,
            json!({"name": "app", "redirect_uris": ["https://app.example.com/cb"],
                   "backchannel_logout_uri": format!("https://127.0.0.1:{p}/bcl")}),
        )
        .send()
        .await
        .unwrap();
    let e = expect_error(r, StatusCode::BAD_REQUEST, "url_refused").await;
    assert_eq!(e["field"], "backchannel_logout_uri");
    assert_eq!(
        sink.connections(),
        0,
        "no request reached the loopback listener"
    );
}

#[tokio::test]
async fn uploaded_saml_metadata_with_plain_http_locations_is_refused() {
    let app = locked_down().await;
    let admin = app.register_admin().await;
    let idp = crate::saml::saml_idp(json!({})).await;
    let metadata = idp.get_text("/metadata").await;
    assert!(
        metadata.contains("http://127.0.0.1"),
        "the fixture's locations are http"
    );
    let r = app
        .post(
            "/api/sso/connections",
            &admin,
            json!({"kind": "saml", "name": "plain http", "idp_metadata_xml": metadata}),
        )
        .send()
        .await
        .unwrap();
    let e = expect_error(r, StatusCode::BAD_REQUEST, "invalid_metadata").await;
    assert!(e["message"].as_str().unwrap().contains("https"), "{e}");
}

#[tokio::test]
async fn redirects_are_never_followed_even_in_a_lab() {
    // allow_private (the test default) admits loopback; a redirect still goes nowhere.
    let app = spawn_app().await;
    let admin = app.register_admin().await;
    let sink = Sink::start().await;
    let target = format!("http://127.0.0.1:{}/metadata", sink.port);
    let redirector = axum::Router::new().route(
        "/metadata",
        axum::routing::get(move || {
            let target = target.clone();
            async move { axum::response::Redirect::temporary(&target) }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/metadata", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, redirector).await.unwrap() });
    let r = app
        .post(
            "/api/sso/connections",
            &admin,
            json!({"kind": "saml", "name": "redirected", "idp_metadata_url": url}),
        )
        .send()
        .await
        .unwrap();
    let e = expect_error(r, StatusCode::BAD_REQUEST, "metadata_unreachable").await;
    assert!(e["message"].as_str().unwrap().contains("307"), "{e}");
    assert_eq!(
        sink.connections(),
        0,
        "the redirect target was never called"
    );
}
