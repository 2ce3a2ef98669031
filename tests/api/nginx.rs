//! The nginx recipe of docs/forward-auth.md against a real nginx (Debian package; `scripts/test`
//! installs it): nginx `auth_request` -> idbridge `/auth/verify` -> a small upstream that echoes
//! the identity headers it receives.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use axum::Router;
use axum::http::HeaderMap;
use axum::routing::get;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::*;

struct Nginx {
    child: Child,
    port: u16,
    dir: std::path::PathBuf,
}

impl Drop for Nginx {
    /// Stops nginx the way it expects: SIGQUIT to the master, which stops its workers and exits.
    /// (SIGKILL would leave the workers running, re-parented to init, on their ports.) Only
    /// when it has not exited after 10 s: SIGTERM, then SIGKILL.
    fn drop(&mut self) {
        let Ok(pid) = libc::pid_t::try_from(self.child.id()) else {
            return;
        };
        for signal in [libc::SIGQUIT, libc::SIGTERM, libc::SIGKILL] {
            // SAFETY: kill(2) only sends a signal to our own child process.
            unsafe { libc::kill(pid, signal) };
            for _ in 0..100 {
                if matches!(self.child.try_wait(), Ok(Some(_)) | Err(_)) {
                    let _ = std::fs::remove_dir_all(&self.dir);
                    return;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        }
    }
}

/// An upstream that answers with the identity headers it was given.
async fn upstream() -> u16 {
    async fn echo(h: HeaderMap) -> axum::Json<Value> {
        let get = |n: &str| {
            h.get(n)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_string()
        };
        axum::Json(json!({
            "user": get("x-auth-request-user"),
            "email": get("x-auth-request-email"),
            "tenant": get("x-auth-request-tenant"),
            "roles": get("x-auth-request-roles"),
        }))
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let app = Router::new().fallback(get(echo));
    tokio::spawn(async move { axum::serve(listener, app).await.ok() });
    port
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

async fn start_nginx(idbridge_port: u16, upstream_port: u16) -> Nginx {
    let nginx = ["/usr/sbin/nginx", "/usr/bin/nginx"].into_iter().find(|p| std::path::Path::new(p).exists()).expect(
        "nginx is not installed: run scripts/test (it installs the Debian package `nginx`) or apt-get install nginx",
    );
    let dir =
        std::env::temp_dir().join(format!("idbridge-nginx-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(dir.join("logs")).unwrap();
    let port = free_port();
    let user = if std::env::var("USER").as_deref() == Ok("root") || is_root() {
        "user root;"
    } else {
        ""
    };
    let conf = format!(
        r#"{user}
worker_processes 1;
pid {dir}/nginx.pid;
error_log {dir}/logs/error.log warn;
events {{ worker_connections 64; }}
http {{
    access_log off;
    client_body_temp_path {dir}/body;
    proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;
    upstream idbridge {{ server 127.0.0.1:{idbridge_port}; }}
    server {{
        listen 127.0.0.1:{port};
        server_name app.example.com;

        location = /_idbridge_verify {{
            internal;
            proxy_pass http://idbridge/auth/verify?mode=status;
            proxy_pass_request_body off;
            proxy_set_header Content-Length "";
            proxy_set_header X-Forwarded-Host $host;
            proxy_set_header X-Forwarded-Proto $scheme;
            proxy_set_header X-Forwarded-Uri $request_uri;
        }}

        location /api/ {{
            auth_request /_idbridge_verify;
            auth_request_set $idb_user $upstream_http_x_auth_request_user;
            proxy_set_header X-Auth-Request-User $idb_user;
            proxy_pass http://127.0.0.1:{upstream_port};
        }}

        location / {{
            auth_request /_idbridge_verify;
            auth_request_set $idb_user   $upstream_http_x_auth_request_user;
            auth_request_set $idb_email  $upstream_http_x_auth_request_email;
            auth_request_set $idb_tenant $upstream_http_x_auth_request_tenant;
            auth_request_set $idb_roles  $upstream_http_x_auth_request_roles;
            proxy_set_header X-Auth-Request-User   $idb_user;
            proxy_set_header X-Auth-Request-Email  $idb_email;
            proxy_set_header X-Auth-Request-Tenant $idb_tenant;
            proxy_set_header X-Auth-Request-Roles  $idb_roles;
            error_page 401 = @signin;
            proxy_pass http://127.0.0.1:{upstream_port};
        }}

        location @signin {{
            return 302 https://id.example.com/login?rd=$scheme://$host$request_uri;
        }}
    }}
}}
"#,
        dir = dir.display()
    );
    std::fs::write(dir.join("nginx.conf"), conf).unwrap();
    let child = Command::new(nginx)
        .args([
            "-p",
            &dir.display().to_string(),
            "-c",
            &dir.join("nginx.conf").display().to_string(),
            "-g",
            "daemon off;",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("nginx starts");
    let ng = Nginx { child, port, dir };
    for _ in 0..100 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            return ng;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let log = std::fs::read_to_string(ng.dir.join("logs/error.log")).unwrap_or_default();
    panic!("nginx did not start on port {port}: {log}");
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

async fn setup() -> (TestApp, Nginx, Session, Session) {
    let app = spawn_app_with(|s| {
        s.server.trusted_proxies = vec!["127.0.0.1".parse().unwrap()];
        s.forward_auth.revocation_poll_ms = 100;
    })
    .await;
    let admin = app.register_admin().await;
    let bob = app
        .user_with_role(&admin, "bob@example.com", "fulfiller")
        .await;
    let port: u16 = app.base.rsplit(':').next().unwrap().parse().unwrap();
    let nginx = start_nginx(port, upstream().await).await;
    (app, nginx, admin, bob)
}

fn through(app: &TestApp, ng: &Nginx, path: &str) -> reqwest::RequestBuilder {
    app.client
        .get(format!("http://127.0.0.1:{}{path}", ng.port))
        .header("host", "app.example.com")
}

#[tokio::test]
async fn nginx_sends_a_browser_without_a_cookie_to_sign_in() {
    let (app, ng, _, _) = setup().await;
    let r = through(&app, &ng, "/reports?q=1")
        .header("accept", "text/html")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FOUND);
    assert_eq!(
        r.headers()["location"],
        "https://id.example.com/login?rd=http://app.example.com/reports?q=1"
    );
}

#[tokio::test]
async fn nginx_forwards_a_signed_in_user_with_identity_headers_that_the_client_cannot_forge() {
    let (app, ng, _, bob) = setup().await;
    let r = through(&app, &ng, "/reports")
        .header("cookie", &bob.cookie)
        .header("x-auth-request-user", "forged-admin")
        .header("x-auth-request-roles", "admin")
        .send()
        .await
        .unwrap();
    let seen = expect(r, StatusCode::OK).await;
    assert_eq!(seen["user"], bob.user_id.as_str());
    assert_eq!(seen["email"], "bob@example.com");
    assert_eq!(seen["tenant"], "default");
    assert_eq!(seen["roles"], "fulfiller");
}

#[tokio::test]
async fn nginx_refuses_a_deactivated_user_within_a_second() {
    let (app, ng, admin, bob) = setup().await;
    let call = || through(&app, &ng, "/api/tickets").header("cookie", &bob.cookie);
    assert_eq!(call().send().await.unwrap().status(), StatusCode::OK);
    expect(
        app.patch(
            &format!("/api/users/{}", bob.user_id),
            &admin,
            json!({"active": false}),
        )
        .send()
        .await
        .unwrap(),
        StatusCode::OK,
    )
    .await;
    let start = std::time::Instant::now();
    loop {
        let status = call().send().await.unwrap().status();
        if status == StatusCode::UNAUTHORIZED {
            break;
        }
        assert_eq!(status, StatusCode::OK);
        assert!(
            start.elapsed() < Duration::from_secs(1),
            "still let through after 1 s"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
