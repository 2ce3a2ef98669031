//! The console in a real browser: Debian's headless Chromium driven over WebDriver
//! (chromedriver, through `fantoccini`), with the page's own script, cookies and CSP in force.
//! Each test asserts what the page shows and the state the API then reports, and runs the
//! accessibility checker axe-core (npm, `interop/node_modules`) on every page it visits.
//!
//! `scripts/test` installs `chromium` and `chromium-driver`; without them these tests fail (they
//! never skip).

use std::process::Stdio;
use std::time::Duration;

use fantoccini::{Client, ClientBuilder, Locator};
use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio::process::{Child, Command};

use crate::helpers::*;

/// One headless Chromium behind its own chromedriver (a fresh profile: a new browser session,
/// no cookies).
pub struct Chrome {
    pub c: Client,
    _driver: Child,
    profile: std::path::PathBuf,
}

impl Chrome {
    pub async fn start() -> Self {
        Self::sized(1280, 900).await
    }

    pub async fn sized(width: u32, height: u32) -> Self {
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let driver = Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            // Its own process group, so that Chromium goes with it even when a test fails.
            .process_group(0)
            .spawn()
            .expect(
                "chromedriver is missing: the browser tests need Debian's chromium and \
                 chromium-driver (scripts/test installs them)",
            );
        let status = format!("http://127.0.0.1:{port}/status");
        let http = reqwest::Client::new();
        let mut ready = false;
        for _ in 0..100 {
            if let Ok(r) = http.get(&status).send().await
                && r.status().is_success()
            {
                ready = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert!(ready, "chromedriver did not answer on port {port}");
        let profile =
            std::env::temp_dir().join(format!("idbridge-chrome-{}", uuid::Uuid::new_v4().simple()));
        let mut args = vec![
            "--headless=new".to_string(),
            "--no-sandbox".into(),
            "--disable-dev-shm-usage".into(),
            "--disable-gpu".into(),
            "--no-first-run".into(),
            "--lang=en-GB".into(),
            format!("--window-size={width},{height}"),
            format!("--user-data-dir={}", profile.display()),
        ];
        args.push("--disable-extensions".into());
        args.push("--disable-breakpad".into());
        args.push("--disable-crash-reporter".into());
        let mut options = json!({"args": args});
        // Chromium's windows are at least 500 px wide: a phone's width is emulated.
        if width < 500 {
            options["mobileEmulation"] =
                json!({"deviceMetrics": {"width": width, "height": height, "pixelRatio": 1.0}});
        }
        if std::path::Path::new("/usr/bin/chromium").exists() {
            options["binary"] = json!("/usr/bin/chromium");
        }
        let mut caps = serde_json::Map::new();
        caps.insert("goog:chromeOptions".into(), options);
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        let c = ClientBuilder::new(connector)
            .capabilities(caps)
            .connect(&format!("http://127.0.0.1:{port}"))
            .await
            .expect("a Chromium session (is the chromium package installed?)");
        Chrome {
            c,
            _driver: driver,
            profile,
        }
    }

    pub async fn goto(&self, url: &str) {
        self.c.goto(url).await.unwrap();
    }

    pub async fn path(&self) -> String {
        let u = self.c.current_url().await.unwrap();
        match u.query() {
            Some(q) => format!("{}?{q}", u.path()),
            None => u.path().to_string(),
        }
    }

    pub async fn text(&self, css: &str) -> String {
        self.c
            .find(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("{css}: {e}"))
            .text()
            .await
            .unwrap()
    }

    pub async fn count(&self, css: &str) -> usize {
        self.c.find_all(Locator::Css(css)).await.unwrap().len()
    }

    pub async fn fill(&self, css: &str, value: &str) {
        let e = self
            .c
            .find(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("{css}: {e}"));
        e.clear().await.unwrap();
        e.send_keys(value).await.unwrap();
    }

    pub async fn click(&self, css: &str) {
        self.c
            .find(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("{css}: {e}"))
            .click()
            .await
            .unwrap();
    }

    /// Evaluates `expr` (a JavaScript expression) in the page.
    pub async fn js(&self, expr: &str) -> Value {
        self.c
            .execute(&format!("return ({expr});"), vec![])
            .await
            .unwrap()
    }

    /// Waits (up to ten seconds) until `expr` is truthy in the page.
    pub async fn until(&self, expr: &str) {
        for _ in 0..100 {
            let v = self.c.execute(&format!("return !!({expr});"), vec![]).await;
            if let Ok(Value::Bool(true)) = v {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let path = self.path().await;
        let html = self.c.source().await.unwrap_or_default();
        panic!("timed out waiting for `{expr}` on {path}:\n{html}");
    }

    /// Runs axe-core on the page and fails on any serious or critical violation.
    pub async fn assert_accessible(&self) {
        let found = self.violations().await;
        let path = self.path().await;
        assert_eq!(found, json!([]), "axe-core on {path}");
    }

    /// axe-core's serious and critical violations on the page.
    pub async fn violations(&self) -> Value {
        let axe = std::fs::read_to_string(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("interop/node_modules/axe-core/axe.min.js"),
        )
        .expect(
            "interop/node_modules/axe-core (scripts/test installs it: npm ci --prefix interop)",
        );
        self.c.execute(&axe, vec![]).await.unwrap();
        self.c
            .execute_async(
                "const done = arguments[arguments.length - 1];
                 axe.run(document, {resultTypes: ['violations']}).then(r => done(
                   r.violations
                     .filter(v => v.impact === 'serious' || v.impact === 'critical')
                     .map(v => ({id: v.id, impact: v.impact, help: v.help,
                                 nodes: v.nodes.map(n => n.target.join(' '))}))
                 )).catch(e => done([{id: 'axe-error', help: String(e)}]));",
                vec![],
            )
            .await
            .unwrap()
    }

    /// Signs in through the sign-in page's password form.
    pub async fn sign_in(&self, app: &TestApp, email: &str, password: &str) {
        self.goto(&app.url("/login?rd=/console")).await;
        self.fill("form[action='/login'] input[name=email]", email)
            .await;
        self.fill("form[action='/login'] input[name=password]", password)
            .await;
        self.click("form[action='/login'] button[type=submit]")
            .await;
        self.until("location.pathname.startsWith('/console/')")
            .await;
    }

    pub async fn close(self) {
        let _ = self.c.clone().close().await;
    }
}

impl Drop for Chrome {
    fn drop(&mut self) {
        // The driver leads its own process group (see `sized`): signal that group, never a
        // pid below 2 (which `kill` would read as "every process").
        if let Some(pid) = self._driver.id().and_then(|p| i32::try_from(p).ok())
            && pid > 1
        {
            // SAFETY: kill(2) with a negative pid signals that process group; no memory involved.
            unsafe {
                libc::kill(-pid, libc::SIGKILL);
            }
        }
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}

/// The users table's column headers, in order.
async fn headers(b: &Chrome) -> Vec<String> {
    let v = b
        .js("[...document.querySelectorAll('#users-table th')].map(h => h.textContent.replace(/[\\u25b2\\u25bc]/g, '').trim()).filter(t => t && t !== 'Actions')")
        .await;
    serde_json::from_value(v).unwrap()
}

/// The emails of the users table's rows, in order.
async fn table_emails(b: &Chrome) -> Vec<String> {
    let v = b
        .js("[...document.querySelectorAll('#users-table tr[data-email]')].map(r => r.dataset.email)")
        .await;
    serde_json::from_value(v).unwrap()
}

#[tokio::test]
async fn the_accessibility_check_reports_a_violation_when_a_page_has_one() {
    let app = spawn_app().await;
    app.register_admin().await;
    let b = Chrome::start().await;
    b.sign_in(&app, "ada@example.com", PASSWORD).await;
    b.assert_accessible().await;
    // An unlabelled field and an image without a text alternative: what axe must catch.
    b.js(
        "(() => { const i = document.createElement('input'); i.type = 'text'; \
          document.querySelector('main').append(i); \
          const m = document.createElement('img'); m.src = '/assets/none.png'; \
          document.querySelector('main').append(m); return true; })()",
    )
    .await;
    let found = b.violations().await;
    let ids: Vec<&str> = found
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|v| v["id"].as_str())
        .collect();
    assert!(
        ids.contains(&"label") && ids.contains(&"image-alt"),
        "{found}"
    );
    b.close().await;
}

#[tokio::test]
async fn the_first_admin_sets_up_signs_in_and_creates_a_user_through_the_forms_checks() {
    let app = spawn_app().await;
    let b = Chrome::start().await;
    // A fresh deployment: the front door leads to the first-run page.
    b.goto(&app.url("/")).await;
    assert_eq!(b.path().await, "/setup");
    b.assert_accessible().await;
    b.fill("#bootstrap_token", "wrong-token").await;
    b.fill("#tenant_name", "Acme").await;
    b.fill("#email", "ada@example.com").await;
    b.fill("#first_name", "Ada").await;
    b.fill("#last_name", "Lovelace").await;
    b.fill("#password", PASSWORD).await;
    b.click("button[type=submit]").await;
    b.until("document.querySelector('[role=alert]')").await;
    assert!(b.text("[role=alert]").await.contains("bootstrap token"));
    b.fill("#bootstrap_token", &app.bootstrap_token()).await;
    b.fill("#password", PASSWORD).await;
    b.click("button[type=submit]").await;
    b.until("location.pathname === '/console/users'").await;
    assert_eq!(b.text("h1").await, "Users");
    assert_eq!(b.text("[data-stat=total]").await, "1");
    assert_eq!(b.text("[data-stat=admins]").await, "1");
    b.assert_accessible().await;
    let admin = app.login("ada@example.com", PASSWORD).await;
    app.create_user(&admin, "taken@example.com", "Taken").await;

    // New User: the rules and the strength show as you type, the email is checked as you type.
    b.click("a[href='/console/users/new']").await;
    b.until("location.pathname === '/console/users/new'").await;
    b.assert_accessible().await;
    b.fill("#password", "short").await;
    b.until("document.getElementById('strength-label').textContent === 'Weak'")
        .await;
    assert_eq!(b.count("#password-rules li.met").await, 1, "lowercase only");
    b.fill("#password", "Longer-Passw0rd!").await;
    b.until("document.getElementById('strength-label').textContent === 'Strong'")
        .await;
    assert_eq!(b.count("#password-rules li.met").await, 4);
    b.fill("#email", "taken@example.com").await;
    b.until(
        "document.getElementById('email').getAttribute('data-checked') === 'taken@example.com'",
    )
    .await;
    assert!(b.text("#email-error").await.contains("already exists"));
    assert_eq!(
        b.js("document.getElementById('email').getAttribute('aria-invalid')")
            .await,
        "true"
    );
    b.fill("#email", "newt@example.com").await;
    b.until("document.getElementById('email').getAttribute('data-checked') === 'newt@example.com'")
        .await;
    assert_eq!(b.text("#email-error").await, "");
    // The server's own answer to a bad password: the form comes back with the input kept.
    b.fill("#first_name", "Newt").await;
    b.fill("#password", "short").await;
    b.click("form[action='/console/users/new'] button[type=submit]")
        .await;
    b.until("document.getElementById('form-error')").await;
    assert!(b.text("#form-error").await.contains("password"));
    assert_eq!(
        b.js("document.getElementById('email').value").await,
        "newt@example.com"
    );
    b.assert_accessible().await;
    b.fill("#password", PASSWORD).await;
    b.click("form[action='/console/users/new'] button[type=submit]")
        .await;
    b.until("location.pathname === '/console/users'").await;
    assert!(b.text("[role=status]").await.contains("created"));
    assert_eq!(b.text("[data-stat=total]").await, "3");
    let newt = app.login("newt@example.com", PASSWORD).await;
    assert_eq!(newt.email, "newt@example.com");

    // Search as you type replaces the table without leaving the page.
    b.fill("input[name=search]", "newt").await;
    b.until("document.getElementById('users-table').getAttribute('data-loaded') === 'newt'")
        .await;
    assert_eq!(table_emails(&b).await, ["newt@example.com"]);
    assert!(b.path().await.contains("search=newt"));
    b.close().await;
}

#[tokio::test]
async fn table_settings_saved_in_one_browser_follow_the_user_to_a_new_browser_session() {
    let app = spawn_app().await;
    let admin = app.register_admin().await;
    for (email, first) in [("bea@example.com", "Bea"), ("cyd@example.com", "Cyd")] {
        app.create_user(&admin, email, first).await;
    }
    let b = Chrome::start().await;
    b.sign_in(&app, "ada@example.com", PASSWORD).await;
    assert!(
        b.count("th a[href*='sort=created']").await == 1,
        "Created is shown"
    );
    b.click("[data-open=table-settings]").await;
    b.until("document.getElementById('table-settings').open")
        .await;
    b.assert_accessible().await;
    // Hide Created, show Email and move it first, set a width and the page size.
    b.click("#table-settings li[data-column=created] input[name=visible]")
        .await;
    b.click("#table-settings li[data-column=email] input[name=visible]")
        .await;
    b.click("#table-settings li[data-column=email] [data-move=up]")
        .await;
    b.fill("#table-settings input[name=width-user]", "320")
        .await;
    b.c.find(Locator::Css("#table-settings select[name=page_size]"))
        .await
        .unwrap()
        .select_by_value("50")
        .await
        .unwrap();
    b.click("[data-save-table]").await;
    b.until("document.readyState === 'complete' && !document.getElementById('table-settings').open && document.querySelectorAll('th a[href*=\"sort=created\"]').length === 0")
        .await;
    let shown = headers(&b).await;
    assert_eq!(shown, ["Email", "User", "Roles", "Status", "Last login"]);
    let prefs = expect(
        app.get("/api/me/preferences", &admin).send().await.unwrap(),
        StatusCode::OK,
    )
    .await;
    let users = &prefs["tables"]["users"];
    assert_eq!(users["page_size"], 50, "{prefs}");
    let columns = users["columns"].as_array().unwrap();
    let user_col = columns.iter().find(|c| c["id"] == "user").unwrap();
    assert_eq!(user_col["width"], 320, "{prefs}");
    b.close().await;

    // Another browser, a new sign-in: the same table.
    let other = Chrome::start().await;
    other.sign_in(&app, "ada@example.com", PASSWORD).await;
    assert_eq!(headers(&other).await, shown);
    assert_eq!(
        other
            .js("document.querySelector('col[data-column=user]').style.width")
            .await,
        "320px"
    );
    assert_eq!(
        other
            .js("document.querySelector('#table-settings select[name=page_size]').value")
            .await,
        "50"
    );
    other.close().await;
}

#[tokio::test]
async fn deactivating_from_the_table_ends_that_users_session_at_once_and_restore_brings_them_back()
{
    let app = spawn_app().await;
    let admin = app.register_admin().await;
    let grace = app
        .user_with_role(&admin, "grace@example.com", "requester")
        .await;
    let b = Chrome::start().await;
    b.sign_in(&app, "ada@example.com", PASSWORD).await;
    // No deactivate or delete on one's own row.
    let own = format!("tr[data-user='{}']", admin.user_id);
    assert_eq!(
        b.count(&format!("{own} form[action$='/deactivate']")).await,
        0
    );
    assert_eq!(b.count(&format!("{own} form[action$='/delete']")).await, 0);
    let row = format!("tr[data-user='{}']", grace.user_id);
    b.click(&format!("{row} form[action$='/deactivate'] button"))
        .await;
    b.until("location.search.includes('done=deactivated')")
        .await;
    assert_eq!(b.text(&format!("{row} .status")).await, "Inactive");
    assert_eq!(
        app.get("/api/me", &grace).send().await.unwrap().status(),
        StatusCode::UNAUTHORIZED,
        "the deactivated user's token is refused at once"
    );
    b.assert_accessible().await;
    // Delete asks first; dismissing keeps the user.
    b.click(&format!("{row} form[action$='/delete'] button"))
        .await;
    b.c.dismiss_alert().await.unwrap();
    assert_eq!(b.count(&format!("{row} form[action$='/delete']")).await, 1);
    b.click(&format!("{row} form[action$='/delete'] button"))
        .await;
    b.c.accept_alert().await.unwrap();
    b.until("location.search.includes('done=deleted')").await;
    assert_eq!(b.count(&row).await, 0, "deleted rows are hidden");
    b.click("input[name=include_deleted]").await;
    b.until("location.search.includes('include_deleted=true')")
        .await;
    b.click(&format!("{row} form[action$='/restore'] button"))
        .await;
    b.until("location.search.includes('done=restored')").await;
    assert_eq!(b.text(&format!("{row} .status")).await, "Active");
    let again = app.login("grace@example.com", PASSWORD).await;
    assert_eq!(
        app.get("/api/me", &again).send().await.unwrap().status(),
        StatusCode::OK
    );
    b.close().await;
}

#[tokio::test]
async fn manage_roles_from_the_table_adds_and_removes_a_role_with_its_source_shown() {
    let app = spawn_app().await;
    let admin = app.register_admin().await;
    let id = app.create_user(&admin, "grace@example.com", "Grace").await;
    let b = Chrome::start().await;
    b.sign_in(&app, "ada@example.com", PASSWORD).await;
    b.click(&format!("tr[data-user='{id}'] a[href$='#roles']"))
        .await;
    b.until(&format!("location.pathname === '/console/users/{id}'"))
        .await;
    b.assert_accessible().await;
    assert_eq!(b.text("h1").await, "Grace");
    b.c.find(Locator::Css("#add-role"))
        .await
        .unwrap()
        .select_by_value("fulfiller")
        .await
        .unwrap();
    b.click("form[action$='/roles'] button[type=submit]").await;
    b.until("location.search.includes('done=role_added')").await;
    let row = "tr[data-role=fulfiller]";
    assert_eq!(b.text(&format!("{row} td:nth-child(2)")).await, "Manual");
    assert_eq!(
        b.text(&format!("{row} td:nth-child(3)")).await,
        "ada@example.com"
    );
    let held = expect(
        app.get(&format!("/api/users/{id}/roles"), &admin)
            .send()
            .await
            .unwrap(),
        StatusCode::OK,
    )
    .await;
    assert_eq!(held["items"][0]["role"], "fulfiller");
    // Grace's next request carries the role.
    let grace = app.login("grace@example.com", PASSWORD).await;
    let me = expect(
        app.get("/api/me", &grace).send().await.unwrap(),
        StatusCode::OK,
    )
    .await;
    assert_eq!(me["roles"], json!(["fulfiller"]));
    b.click(&format!("{row} button[type=submit]")).await;
    b.until("location.search.includes('done=role_removed')")
        .await;
    assert_eq!(b.count(row).await, 0);
    b.assert_accessible().await;
    b.close().await;
}

#[tokio::test]
async fn csv_import_from_a_chosen_file_previews_the_bad_row_then_imports_the_rest() {
    let app = spawn_app().await;
    let admin = app.register_admin().await;
    let file = std::env::temp_dir().join(format!("idbridge-{}.csv", uuid::Uuid::new_v4().simple()));
    std::fs::write(
        &file,
        "email,name,initial_roles\nbea@example.com,Bea Smith,requester\nbroken,Bad Row,requester\n",
    )
    .unwrap();
    let b = Chrome::start().await;
    b.sign_in(&app, "ada@example.com", PASSWORD).await;
    b.click("a[href='/console/users/import']").await;
    b.until("location.pathname === '/console/users/import'")
        .await;
    b.assert_accessible().await;
    b.c.find(Locator::Css("#csv-file"))
        .await
        .unwrap()
        .send_keys(file.to_str().unwrap())
        .await
        .unwrap();
    b.until("document.getElementById('csv').value.includes('bea@example.com')")
        .await;
    b.click("button[value=preview]").await;
    b.until("document.querySelector('[data-summary]')").await;
    assert!(
        b.text("[data-summary]")
            .await
            .contains("1 new, 0 added, 0 unchanged, 1 failed")
    );
    let lines = b.js("[...document.querySelectorAll('tr[data-line]')].map(r => r.dataset.line + ' ' + r.dataset.outcome)").await;
    assert_eq!(lines, json!(["2 created", "3 failed"]));
    b.assert_accessible().await;
    let stats = expect(
        app.get("/api/users/stats", &admin).send().await.unwrap(),
        StatusCode::OK,
    )
    .await;
    assert_eq!(stats["total"], 1, "the preview wrote nothing");
    b.click("button[value=import]").await;
    b.until("document.getElementById('report-title') && document.getElementById('report-title').textContent === 'Imported'")
        .await;
    let stats = expect(
        app.get("/api/users/stats", &admin).send().await.unwrap(),
        StatusCode::OK,
    )
    .await;
    assert_eq!(stats["total"], 2);
    let _ = std::fs::remove_file(&file);
    b.close().await;
}

#[tokio::test]
async fn bulk_assign_ticks_users_reviews_the_count_and_confirms() {
    let app = spawn_app().await;
    let admin = app.register_admin().await;
    let bea = app.create_user(&admin, "bea@example.com", "Bea").await;
    let cyd = app.create_user(&admin, "cyd@example.com", "Cyd").await;
    let b = Chrome::start().await;
    b.sign_in(&app, "ada@example.com", PASSWORD).await;
    for id in [&bea, &cyd] {
        b.click(&format!("input[name=user][value='{id}']")).await;
    }
    b.click("#bulk-form input[name=role][value=fulfiller]")
        .await;
    b.click("#bulk-form button[type=submit]").await;
    b.until("document.getElementById('confirm-title')").await;
    assert_eq!(b.text("#confirm-title").await, "This changes 2 users");
    b.assert_accessible().await;
    let held = |id: String| {
        let app = &app;
        let admin = &admin;
        async move {
            expect(
                app.get(&format!("/api/users/{id}/roles"), admin)
                    .send()
                    .await
                    .unwrap(),
                StatusCode::OK,
            )
            .await["items"]
                .as_array()
                .unwrap()
                .len()
        }
    };
    assert_eq!(
        held(bea.clone()).await,
        0,
        "nothing before the confirmation"
    );
    b.click("button.primary[type=submit]").await;
    b.until("location.search.includes('done=bulk_done')").await;
    assert_eq!(held(bea.clone()).await, 1);
    assert_eq!(held(cyd.clone()).await, 1);
    // "Select every user on this page", then Remove.
    b.click("input[data-select-all]").await;
    assert_eq!(
        b.js("[...document.querySelectorAll('input[name=user]')].every(c => c.checked)")
            .await,
        true
    );
    b.c.find(Locator::Css("#bulk-mode"))
        .await
        .unwrap()
        .select_by_value("remove")
        .await
        .unwrap();
    b.click("#bulk-form input[name=role][value=fulfiller]")
        .await;
    b.click("#bulk-form button[type=submit]").await;
    b.until("document.getElementById('confirm-title')").await;
    assert_eq!(b.text("#confirm-title").await, "This changes 2 users");
    b.click("button.primary[type=submit]").await;
    b.until("location.search.includes('done=bulk_done')").await;
    assert_eq!(held(bea).await, 0);
    assert_eq!(held(cyd).await, 0);
    b.close().await;
}

/// Screenshots of the main pages at 1280 px and 390 px, each page also checked for no sideways
/// scrolling on the phone width and by axe-core. They are written to `SCREENSHOT_DIR` when it is
/// set (`SCREENSHOT_DIR=docs/screenshots scripts/test screenshots` regenerates the docs' images),
/// else to a temporary directory.
#[tokio::test]
async fn screenshots_of_the_main_pages_at_desktop_and_phone_widths() {
    let out = std::env::var_os("SCREENSHOT_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| {
            std::env::temp_dir().join(format!("idbridge-shots-{}", uuid::Uuid::new_v4().simple()))
        });
    std::fs::create_dir_all(&out).unwrap();
    let app = spawn_app().await;
    let admin = app.register_admin().await;
    let r = app
        .client
        .post(app.url("/api/users/import"))
        .bearer_auth(&admin.token)
        .header("content-type", "text/csv")
        .body(
            "email,name,initial_roles\n\
             grace.hopper@example.com,Grace Hopper,fulfiller\n\
             alan.turing@example.com,Alan Turing,\"fulfiller,operator\"\n\
             katherine.johnson@example.com,Katherine Johnson,requester\n\
             edsger.dijkstra@example.com,Edsger Dijkstra,requester\n\
             barbara.liskov@example.com,Barbara Liskov,operator\n",
        )
        .send()
        .await
        .unwrap();
    expect(r, StatusCode::OK).await;
    let grace = expect(
        app.get("/api/users?search=grace", &admin)
            .send()
            .await
            .unwrap(),
        StatusCode::OK,
    )
    .await["items"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let pages = [
        ("users", "/console/users".to_string()),
        ("user", format!("/console/users/{grace}")),
        ("new-user", "/console/users/new".to_string()),
        ("import", "/console/users/import".to_string()),
        ("roles", "/console/roles".to_string()),
    ];
    for (width, height, label) in [(1280u32, 900u32, "desktop"), (390, 844, "phone")] {
        let b = Chrome::sized(width, height).await;
        b.sign_in(&app, "ada@example.com", PASSWORD).await;
        for (name, path) in &pages {
            b.goto(&app.url(path)).await;
            b.until("document.readyState === 'complete'").await;
            let wide = b
                .js("[...document.querySelectorAll('body *')].filter(e => e.getBoundingClientRect().right > window.innerWidth + 1 && !e.closest('.table-wrap')).map(e => e.tagName + '.' + e.className + '#' + e.id).slice(0, 8)")
                .await;
            assert_eq!(
                b.js("document.documentElement.scrollWidth <= window.innerWidth")
                    .await,
                true,
                "{path} scrolls sideways at {width} px: {wide}"
            );
            b.assert_accessible().await;
            let png = b.c.screenshot().await.unwrap();
            assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n", "a PNG");
            let shot_width = u32::from_be_bytes(png[16..20].try_into().unwrap());
            assert!(
                shot_width > width / 2 && shot_width <= width,
                "{name}: {shot_width} px wide for a {width} px window"
            );
            std::fs::write(out.join(format!("{name}-{label}.png")), &png).unwrap();
        }
        b.close().await;
    }
    if std::env::var_os("SCREENSHOT_DIR").is_none() {
        let _ = std::fs::remove_dir_all(&out);
    }
}
