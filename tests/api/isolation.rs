//! Tenant isolation, attacked end to end: a tenant admin with an IdP of their own, a subtenant's
//! SCIM client and SSO connection, and accounts pre-created on another organisation's domain
//! (../shared/security-tests.md 63, 118, 138, 139, 144, 148). Each attack is refused and changes
//! nothing: no session cookie, no link, no membership.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::*;
use crate::saml::{saml_connection, saml_idp, saml_login};
use crate::scim::Scim;

fn has_session(app: &TestApp, b: &crate::sso::Browser) -> bool {
    b.cookie(&app.state.cookie_name).is_some()
}

/// The tenants a user is a member of, as the platform admin sees them.
async fn tenants_of(app: &TestApp, platform: &Session, email: &str, password: &str) -> Vec<String> {
    let s = app.login(email, password).await;
    let me = expect(app.get("/api/me", &s).send().await.unwrap(), StatusCode::OK).await;
    let _ = platform;
    let mut t: Vec<String> = me["tenants"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["slug"].as_str().unwrap().to_string())
        .collect();
    t.sort();
    t
}

async fn explain(app: &TestApp, s: &Session, conn: &Value, claims: Value) -> Value {
    expect(
        app.post(
            "/api/sso/explain",
            s,
            json!({"connection": conn["id"], "claims": claims}),
        )
        .send()
        .await
        .unwrap(),
        StatusCode::OK,
    )
    .await
}

/// Hole 1 / catalog 138: a tenant admin configures a SAML IdP whose key they hold, turns email
/// linking on, and asserts the platform admin's and another organisation's emails.
#[tokio::test]
async fn a_tenant_admins_own_saml_idp_cannot_sign_in_as_the_platform_admin_or_another_organisations_user()
 {
    let app = spawn_app().await;
    let platform = app.register_admin().await;
    let _ceo = app.org_admin(&platform, "acme").await;
    let attacker = app.org_admin(&platform, "evilcorp").await;
    let idp = saml_idp(json!({
        "mallory": {"email": "ada@example.com", "first_name": "Ada"},
        "ceo": {"email": "admin@acme.test", "first_name": "Ceo"},
    }))
    .await;
    let conn = saml_connection(
        &app,
        &attacker,
        &idp,
        json!({"kind": "saml", "name": "Evil IdP", "idp_metadata_url": format!("{}/metadata", idp.base),
               "allow_email_linking": true}),
    )
    .await;
    for account in ["mallory", "ceo"] {
        idp.next_login(json!({"account": account})).await;
        let (b, hop) = saml_login(&app, &conn).await;
        assert_eq!(hop.status, StatusCode::CONFLICT, "{account}: {}", hop.body);
        assert!(!has_session(&app, &b), "{account}: no session cookie");
        assert!(!hop.body.contains("example.com") && !hop.body.contains("acme"));
    }
    // Nothing changed: the victims belong where they did, and evilcorp gained no member.
    assert_eq!(
        tenants_of(&app, &platform, "ada@example.com", PASSWORD).await,
        ["default"]
    );
    assert_eq!(
        tenants_of(&app, &platform, "admin@acme.test", PASSWORD).await,
        ["acme"]
    );
    let members = expect(
        app.get("/api/tenants/evilcorp/members", &attacker)
            .send()
            .await
            .unwrap(),
        StatusCode::OK,
    )
    .await;
    assert_eq!(members["items"].as_array().unwrap().len(), 1, "{members}");
    // The dry run agrees with the refusal and reveals no account outside evilcorp.
    for email in ["ada@example.com", "admin@acme.test", "nobody@nowhere.test"] {
        let e = explain(
            &app,
            &attacker,
            &conn,
            json!({"name_id": "x", "email": email}),
        )
        .await;
        assert_eq!(e["user"]["match"], "create_or_refused", "{email}: {e}");
        assert!(e["user"].get("user_id").is_none(), "{e}");
    }
}

/// Hole 1 with OIDC (catalog 63, nOAuth): the attacker's OIDC IdP asserts a verified email of
/// the platform admin.
#[tokio::test]
async fn a_tenant_admins_own_oidc_idp_cannot_sign_in_as_the_platform_admin() {
    let app = spawn_app().await;
    let platform = app.register_admin().await;
    let attacker = app.org_admin(&platform, "evilcorp").await;
    let idp = crate::sso::idp(json!({
        "mallory": {"email": "ada@example.com", "email_verified": true, "given_name": "Ada"},
    }))
    .await;
    let conn = expect(
        app.post(
            "/api/sso/connections",
            &attacker,
            json!({"kind": "oidc", "name": "Evil", "issuer": idp.issuer, "client_id": "pending",
                   "allow_email_linking": true}),
        )
        .send()
        .await
        .unwrap(),
        StatusCode::CREATED,
    )
    .await;
    let (client_id, secret) = idp
        .register(
            conn["redirect_uri"].as_str().unwrap(),
            conn["post_logout_redirect_uri"].as_str().unwrap(),
        )
        .await;
    let conn = expect(
        app.patch(
            &format!("/api/sso/connections/{}", conn["id"].as_str().unwrap()),
            &attacker,
            json!({"client_id": client_id, "client_secret": secret}),
        )
        .send()
        .await
        .unwrap(),
        StatusCode::OK,
    )
    .await;
    idp.next_login("mallory").await;
    let (b, hops) = crate::sso::sso_login(&app, &conn).await;
    let cb = crate::sso::callback_hop(&hops);
    assert_eq!(cb.status, StatusCode::CONFLICT, "{}", cb.body);
    assert!(!has_session(&app, &b));
    assert_eq!(
        tenants_of(&app, &platform, "ada@example.com", PASSWORD).await,
        ["default"]
    );
}

/// Catalog 139: an account created by password in one organisation for an email of a domain
/// that another organisation later verifies. The owner's SSO does not land in it; the conflict
/// is listed to platform admins; and nobody but the owner creates such accounts any more.
#[tokio::test]
async fn a_pre_created_account_on_a_domain_verified_later_is_never_linked_and_becomes_a_listed_conflict()
 {
    let app = spawn_app().await;
    let platform = app.register_admin().await;
    let attacker = app.org_admin(&platform, "evilcorp").await;
    // Before b.example is anyone's: evilcorp pre-creates the CEO's account with a password.
    app.member_with_role(&attacker, "evilcorp", "ceo@b.example", "")
        .await;
    let owner = app.org_admin(&platform, "bcorp").await;
    app.verify_domain(&platform, "bcorp", "b.example").await;
    let idp = saml_idp(json!({
        "ceo": {"email": "ceo@b.example", "first_name": "Ceo"},
        "dev": {"email": "dev@b.example", "first_name": "Dev"},
    }))
    .await;
    let conn = saml_connection(
        &app,
        &owner,
        &idp,
        json!({"kind": "saml", "name": "B IdP", "idp_metadata_url": format!("{}/metadata", idp.base),
               "allow_email_linking": true, "email_domains": ["b.example"]}),
    )
    .await;
    idp.next_login(json!({"account": "ceo"})).await;
    let (b, hop) = saml_login(&app, &conn).await;
    assert_eq!(hop.status, StatusCode::CONFLICT, "{}", hop.body);
    assert!(!has_session(&app, &b));
    // Platform admins see the conflict; tenant admins may not list accounts across orgs.
    let c = expect(
        app.get("/api/domains/conflicts", &platform)
            .send()
            .await
            .unwrap(),
        StatusCode::OK,
    )
    .await;
    assert_eq!(c["items"][0]["email"], "ceo@b.example", "{c}");
    assert_eq!(c["items"][0]["tenant"], "bcorp");
    assert_eq!(c["items"][0]["member_of"], json!(["evilcorp"]));
    expect_error(
        app.get("/api/domains/conflicts", &owner)
            .send()
            .await
            .unwrap(),
        StatusCode::FORBIDDEN,
        "platform_admin_required",
    )
    .await;
    // From now on only bcorp creates or invites b.example accounts.
    for (path, body) in [
        (
            "/api/users",
            json!({"email": "cfo@b.example", "password": PASSWORD, "first_name": "Cfo", "tenant": "evilcorp"}),
        ),
        (
            "/api/auth/invite",
            json!({"email": "cfo@b.example", "tenant": "evilcorp"}),
        ),
    ] {
        expect_error(
            app.post(path, &attacker, body).send().await.unwrap(),
            StatusCode::CONFLICT,
            "domain_owned",
        )
        .await;
    }
    // bcorp's own: a new account through its SSO.
    idp.next_login(json!({"account": "dev"})).await;
    let (b, hop) = saml_login(&app, &conn).await;
    assert_eq!(hop.status, StatusCode::SEE_OTHER, "{}", hop.body);
    assert!(has_session(&app, &b));
}

/// The linking rule's positive side: the organisation's own account, on its verified domain,
/// through a connection that opts in, links; the same without a verified domain does not.
#[tokio::test]
async fn an_organisations_own_account_links_only_on_its_verified_domain() {
    let app = spawn_app().await;
    let platform = app.register_admin().await;
    let owner = app.org_admin(&platform, "bcorp").await;
    app.member_with_role(&owner, "bcorp", "dev@b.example", "")
        .await;
    let idp = saml_idp(json!({"dev": {"email": "dev@b.example", "first_name": "Dev"}})).await;
    let conn = saml_connection(
        &app,
        &owner,
        &idp,
        json!({"kind": "saml", "name": "B IdP", "idp_metadata_url": format!("{}/metadata", idp.base),
               "allow_email_linking": true}),
    )
    .await;
    let e = explain(
        &app,
        &owner,
        &conn,
        json!({"name_id": "dev", "email": "dev@b.example"}),
    )
    .await;
    assert_eq!(e["user"]["match"], "refused", "{e}");
    assert!(
        e["user"]["reason"]
            .as_str()
            .unwrap()
            .starts_with("link.domain_unverified"),
        "{e}"
    );
    idp.next_login(json!({"account": "dev"})).await;
    let (_, hop) = saml_login(&app, &conn).await;
    assert_eq!(hop.status, StatusCode::CONFLICT, "{}", hop.body);
    app.verify_domain(&platform, "bcorp", "b.example").await;
    let e = explain(
        &app,
        &owner,
        &conn,
        json!({"name_id": "dev", "email": "dev@b.example"}),
    )
    .await;
    assert_eq!(e["user"]["match"], "email_link", "{e}");
    idp.next_login(json!({"account": "dev"})).await;
    let (b, hop) = saml_login(&app, &conn).await;
    assert_eq!(hop.status, StatusCode::SEE_OTHER, "{}", hop.body);
    assert!(has_session(&app, &b), "explain and the sign-in agree");
}

/// Hole 5 / catalog 144: a subtenant's SCIM token and SSO connection reach only the subtenant.
#[tokio::test]
async fn a_subtenants_scim_and_sso_cannot_adopt_or_deactivate_the_parents_or_a_siblings_users() {
    let app = spawn_app().await;
    let platform = app.register_admin().await;
    let org_admin = app.org_admin(&platform, "acme").await;
    app.verify_domain(&platform, "acme", "acme.test").await;
    for sub in ["acme-eu", "acme-us"] {
        expect(
            app.post(
                "/api/tenants",
                &org_admin,
                json!({"slug": sub, "name": sub, "parent": "acme"}),
            )
            .send()
            .await
            .unwrap(),
            StatusCode::CREATED,
        )
        .await;
    }
    app.member_with_role(&org_admin, "acme-us", "sam@acme.test", "")
        .await;
    // The subtenant even links by email on the organisation's verified domain.
    expect(
        app.patch(
            "/api/tenants/acme-eu",
            &org_admin,
            json!({"settings": {"scim_email_linking": true}}),
        )
        .send()
        .await
        .unwrap(),
        StatusCode::OK,
    )
    .await;
    let scim = Scim::new(&app, &org_admin, Some("acme-eu")).await;
    for (email, password) in [("admin@acme.test", PASSWORD), ("sam@acme.test", PASSWORD)] {
        let rec = scim.create_user(email, json!({})).await;
        let id = rec["id"].as_str().unwrap();
        let (s, _) = scim
            .patch(
                &format!("/Users/{id}"),
                json!([{"op": "replace", "path": "active", "value": false}]),
            )
            .await;
        assert_eq!(s, StatusCode::OK);
        assert_eq!(
            scim.delete(&format!("/Users/{id}")).await,
            StatusCode::NO_CONTENT
        );
        // Not adopted, not deactivated, not moved: the account signs in as before.
        let r = app.try_login(email, password, None).await;
        assert_eq!(r.status(), StatusCode::OK, "{email} still signs in");
    }
    assert_eq!(
        tenants_of(&app, &platform, "admin@acme.test", PASSWORD).await,
        ["acme", "acme-eu", "acme-us"],
        "the org admin's tenants (the organisation and its subtenants), unchanged"
    );
    // The subtenant's IdP cannot sign in as them either.
    let idp = saml_idp(json!({"boss": {"email": "admin@acme.test", "first_name": "Boss"}})).await;
    let conn = saml_connection(
        &app,
        &org_admin,
        &idp,
        json!({"kind": "saml", "name": "EU IdP", "tenant": "acme-eu",
               "idp_metadata_url": format!("{}/metadata", idp.base), "allow_email_linking": true}),
    )
    .await;
    idp.next_login(json!({"account": "boss"})).await;
    let (b, hop) = saml_login(&app, &conn).await;
    assert_eq!(hop.status, StatusCode::CONFLICT, "{}", hop.body);
    assert!(!has_session(&app, &b));
}

/// Hole 8 / catalog 146: forward auth decides in the rule's tenant, and a suspended tenant's
/// users do not pass.
#[tokio::test]
async fn forward_auth_decides_in_the_rules_tenant_and_refuses_a_suspended_tenant() {
    let app = spawn_app_with(|s| {
        s.forward_auth.revocation_poll_ms = 50;
        s.server.trusted_proxies = vec!["127.0.0.1".parse().unwrap()];
        s.forward_auth.rules = vec![idbridge::config::ForwardAuthRule {
            host: "acme.example.com".into(),
            path_prefix: None,
            tenant: "acme".into(),
            permission: Some("itsm:read".into()),
            audience: None,
        }];
    })
    .await;
    let platform = app.register_admin().await;
    let acme_admin = app.org_admin(&platform, "acme").await;
    let beta_admin = app.org_admin(&platform, "beta").await;
    // Same permission, other tenant: Bea holds itsm:read in beta only.
    let bea = app
        .member_with_role(&beta_admin, "beta", "bea@beta.test", "requester")
        .await;
    let amy = app
        .member_with_role(&acme_admin, "acme", "amy@acme.test", "requester")
        .await;
    let verify = |s: &Session, host: &str| {
        app.client
            .get(app.url("/auth/verify"))
            .header("cookie", &s.cookie)
            .header("x-forwarded-host", host)
            .send()
    };
    let r = verify(&bea, "acme.example.com").await.unwrap();
    expect_error(r, StatusCode::FORBIDDEN, "not_a_member").await;
    let r = verify(&amy, "acme.example.com").await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["x-auth-request-tenant"], "acme");
    // Without a rule, ?permission= must name its tenant.
    let r = app
        .client
        .get(app.url("/auth/verify?permission=itsm:read"))
        .header("cookie", &bea.cookie)
        .send()
        .await
        .unwrap();
    expect_error(r, StatusCode::BAD_REQUEST, "tenant_required").await;
    let r = app
        .client
        .get(app.url("/auth/verify?permission=itsm:read&tenant=acme"))
        .header("cookie", &bea.cookie)
        .send()
        .await
        .unwrap();
    expect_error(r, StatusCode::FORBIDDEN, "not_a_member").await;
    // Suspend acme: its users stop passing, by the rule and without one.
    expect(
        app.patch(
            "/api/tenants/acme",
            &platform,
            json!({"status": "suspended"}),
        )
        .send()
        .await
        .unwrap(),
        StatusCode::OK,
    )
    .await;
    let mut status = StatusCode::OK;
    for _ in 0..40 {
        status = verify(&amy, "acme.example.com").await.unwrap().status();
        if status == StatusCode::FORBIDDEN {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(status, StatusCode::FORBIDDEN);
    let r = verify(&amy, "portal.example.com").await.unwrap();
    expect_error(r, StatusCode::FORBIDDEN, "tenant_suspended").await;
}

/// Hole 9 / catalog 147, 148, 133-135: a tenant admin cannot pull another organisation's user
/// into their tenant; they can only invite, with the same answer as for an unknown email, and
/// the person joins when they accept, signed in as themselves.
#[tokio::test]
async fn adding_another_organisations_user_sends_an_invite_that_only_they_can_accept() {
    let app = spawn_app().await;
    let platform = app.register_admin().await;
    let home = app.org_admin(&platform, "acme").await;
    let bob = app
        .member_with_role(&home, "acme", "bob@acme.test", "requester")
        .await;
    let attacker = app.org_admin(&platform, "evilcorp").await;
    let add = |email: &str| {
        app.post(
            "/api/tenants/evilcorp/members",
            &attacker,
            json!({"email": email, "roles": ["requester"]}),
        )
        .send()
    };
    // Same answer, same shape, whether the email has an account elsewhere or none at all.
    let a = expect(add("bob@acme.test").await.unwrap(), StatusCode::ACCEPTED).await;
    let b = expect(add("nobody@acme.test").await.unwrap(), StatusCode::ACCEPTED).await;
    let keys = |v: &Value| {
        let mut k: Vec<String> = v.as_object().unwrap().keys().cloned().collect();
        k.sort();
        k
    };
    assert_eq!(keys(&a), keys(&b), "{a} / {b}");
    assert!(a.get("user_id").is_none() && a.get("id").is_some());
    // By id, a user outside the organisation does not exist.
    expect_error(
        app.post(
            "/api/tenants/evilcorp/members",
            &attacker,
            json!({"user_id": bob.user_id}),
        )
        .send()
        .await
        .unwrap(),
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    // Bob is not a member, and his home admins still act on him (no user_in_other_tenants).
    assert_eq!(
        tenants_of(&app, &platform, "bob@acme.test", PASSWORD).await,
        ["acme"]
    );
    expect(
        app.patch(
            &format!("/api/users/{}?tenant=acme", bob.user_id),
            &home,
            json!({"first_name": "Robert"}),
        )
        .send()
        .await
        .unwrap(),
        StatusCode::OK,
    )
    .await;
    let token = a["token"].as_str().unwrap();
    // A link scanner's GET does not spend it (135): there is nothing to GET.
    let r = app
        .client
        .get(a["invite_url"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_ne!(r.status(), StatusCode::OK);
    // The token alone makes no account, and someone else cannot accept it (133).
    let r = app
        .client
        .post(app.url("/api/auth/signup-exchange"))
        .json(&json!({"token": token, "password": PASSWORD, "first_name": "Mallory"}))
        .send()
        .await
        .unwrap();
    expect_error(r, StatusCode::CONFLICT, "account_exists").await;
    let accept = |s: &Session| {
        app.post("/api/auth/invites/accept", s, json!({"token": token}))
            .send()
    };
    expect_error(
        accept(&attacker).await.unwrap(),
        StatusCode::FORBIDDEN,
        "invite_for_another_account",
    )
    .await;
    // Bob accepts, signed in as himself: now he belongs to both, with the invited role.
    let t = expect(accept(&bob).await.unwrap(), StatusCode::OK).await;
    assert_eq!(t["slug"], "evilcorp");
    assert_eq!(
        tenants_of(&app, &platform, "bob@acme.test", PASSWORD).await,
        ["acme", "evilcorp"]
    );
    expect_error(accept(&bob).await.unwrap(), StatusCode::GONE, "invite_used").await;
}

/// Catalog 134: a revoked invite, and an older invite replaced by a new one, are 410.
#[tokio::test]
async fn revoked_and_replaced_invites_are_gone() {
    let app = spawn_app().await;
    let admin = app.register_admin().await;
    let invite = || {
        app.post(
            "/api/auth/invite",
            &admin,
            json!({"email": "new@example.com"}),
        )
        .send()
    };
    let first = expect(invite().await.unwrap(), StatusCode::CREATED).await;
    let second = expect(invite().await.unwrap(), StatusCode::CREATED).await;
    let exchange = |token: &str| {
        app.client
            .post(app.url("/api/auth/signup-exchange"))
            .json(&json!({"token": token, "password": PASSWORD, "first_name": "Newbie"}))
            .send()
    };
    expect_error(
        exchange(first["token"].as_str().unwrap()).await.unwrap(),
        StatusCode::GONE,
        "invite_used",
    )
    .await;
    expect(
        app.delete(
            &format!("/api/auth/invites/{}", second["id"].as_str().unwrap()),
            &admin,
        )
        .send()
        .await
        .unwrap(),
        StatusCode::NO_CONTENT,
    )
    .await;
    expect_error(
        exchange(second["token"].as_str().unwrap()).await.unwrap(),
        StatusCode::GONE,
        "invite_used",
    )
    .await;
}
