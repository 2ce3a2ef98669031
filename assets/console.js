// idbridge console: small progressive enhancements over server-rendered pages. Every page works
// without this script; with it, filters apply as you type, dialogs open, table settings save to
// the account, and forms check their fields as you fill them.
(function () {
  "use strict";
  document.documentElement.classList.add("js");
  var csrf = (document.querySelector('meta[name="csrf-token"]') || {}).content || "";

  function api(method, path, body) {
    var init = { method: method, credentials: "same-origin", headers: { "x-csrf-token": csrf } };
    if (body !== undefined) {
      init.headers["content-type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    return fetch(path, init).then(function (r) {
      return r.text().then(function (t) {
        var data = t ? JSON.parse(t) : null;
        if (!r.ok) { throw new Error((data && data.message) || ("HTTP " + r.status)); }
        return data;
      });
    });
  }

  // Column widths kept in the table settings (styles go through the CSSOM: the CSP forbids
  // style attributes in the markup).
  function applyWidths(root) {
    (root || document).querySelectorAll("col[data-width]").forEach(function (c) {
      c.style.width = c.getAttribute("data-width") + "px";
    });
  }

  function enhance(root) {
    applyWidths(root);
    root.querySelectorAll("form[data-confirm]").forEach(function (f) {
      f.addEventListener("submit", function (e) {
        if (!window.confirm(f.getAttribute("data-confirm"))) { e.preventDefault(); }
      });
    });
  }

  // Filters: selects and checkboxes apply at once; a search box reloads the table as you type.
  document.querySelectorAll("[data-autosubmit]").forEach(function (el) {
    el.addEventListener("change", function () { el.form.requestSubmit ? el.form.requestSubmit() : el.form.submit(); });
  });
  document.querySelectorAll("input[data-live-search]").forEach(function (input) {
    var target = document.getElementById(input.getAttribute("data-live-search"));
    var timer = null, seq = 0;
    input.addEventListener("input", function () {
      clearTimeout(timer);
      timer = setTimeout(function () {
        var params = new URLSearchParams(new FormData(input.form));
        var mine = ++seq;
        history.replaceState(null, "", input.form.action + "?" + params.toString());
        params.set("fragment", "table");
        fetch(input.form.action + "?" + params.toString(), { credentials: "same-origin" })
          .then(function (r) { return r.ok ? r.text() : Promise.reject(new Error("HTTP " + r.status)); })
          .then(function (html) {
            if (mine !== seq) { return; }
            target.innerHTML = html;
            enhance(target);
            target.setAttribute("data-loaded", params.get("search") || "");
          })
          .catch(function () { input.form.submit(); });
      }, 200);
    });
  });

  // Dialogs: native <dialog> (modal, Escape closes, focus moves in and comes back).
  document.querySelectorAll("[data-open]").forEach(function (b) {
    var d = document.getElementById(b.getAttribute("data-open"));
    if (!d) { return; }
    b.addEventListener("click", function () { d.showModal(); });
    d.addEventListener("close", function () { b.focus(); });
  });
  document.querySelectorAll("dialog").forEach(function (d) {
    d.querySelectorAll("[data-close]").forEach(function (c) {
      c.addEventListener("click", function () { d.close(); });
    });
    // Keep Tab inside the open dialog.
    d.addEventListener("keydown", function (e) {
      if (e.key !== "Tab") { return; }
      var f = d.querySelectorAll("button, input, select, textarea, a[href]");
      if (!f.length) { return; }
      var first = f[0], last = f[f.length - 1];
      if (e.shiftKey && document.activeElement === first) { last.focus(); e.preventDefault(); }
      else if (!e.shiftKey && document.activeElement === last) { first.focus(); e.preventDefault(); }
    });
  });

  // Table settings: column order, visibility and width, and the page size, saved on the server
  // (PUT /api/me/preferences) so they follow the user to any browser.
  document.querySelectorAll("dialog[data-table]").forEach(function (d) {
    var table = d.getAttribute("data-table");
    var list = d.querySelector(".column-list");
    var error = d.querySelector(".err");
    d.querySelectorAll("[data-move]").forEach(function (b) {
      b.addEventListener("click", function () {
        var li = b.closest("li");
        if (b.getAttribute("data-move") === "up" && li.previousElementSibling) { list.insertBefore(li, li.previousElementSibling); }
        if (b.getAttribute("data-move") === "down" && li.nextElementSibling) { list.insertBefore(li.nextElementSibling, li); }
        b.focus();
      });
    });
    function save(layout) {
      return api("GET", "/api/me/preferences").then(function (prefs) {
        prefs.tables = prefs.tables || {};
        if (layout) { prefs.tables[table] = layout; } else { delete prefs.tables[table]; }
        return api("PUT", "/api/me/preferences", prefs);
      }).then(function () { window.location.reload(); })
        .catch(function (e) { error.textContent = e.message; error.hidden = false; });
    }
    d.querySelector("[data-save-table]").addEventListener("click", function () {
      var columns = [];
      list.querySelectorAll("li").forEach(function (li) {
        var id = li.getAttribute("data-column");
        var col = { id: id, visible: li.querySelector('input[name="visible"]').checked };
        var w = parseInt(li.querySelector('input[type="number"]').value, 10);
        if (w) { col.width = w; }
        columns.push(col);
      });
      save({ columns: columns, page_size: parseInt(d.querySelector('select[name="page_size"]').value, 10) });
    });
    d.querySelector("[data-reset-table]").addEventListener("click", function () { save(null); });
  });

  // Password rules and strength as you type.
  // The rules are the server's (domain::names::validate_password): 8 characters, an uppercase
  // and a lowercase letter, a digit. Strength: Weak until they are met, then Fair, Good with
  // 12 characters or a symbol, Strong with both (or 16 characters).
  function score(pw) {
    var rules = pw.length >= 8 && /[a-z]/.test(pw) && /[A-Z]/.test(pw) && /[0-9]/.test(pw);
    if (!rules) { return 1; }
    var symbol = /[^A-Za-z0-9]/.test(pw), long = pw.length >= 12;
    if ((long && symbol) || pw.length >= 16) { return 4; }
    return long || symbol ? 3 : 2;
  }
  document.querySelectorAll("input[data-password-rules]").forEach(function (input) {
    var rules = document.getElementById(input.getAttribute("data-password-rules"));
    var meter = document.getElementById(input.getAttribute("data-strength"));
    var label = document.getElementById(input.getAttribute("data-strength") + "-label");
    var names = ["Weak", "Weak", "Fair", "Good", "Strong"];
    input.addEventListener("input", function () {
      var pw = input.value;
      rules.querySelectorAll("li[data-rule]").forEach(function (li) {
        var r = li.getAttribute("data-rule"), met = false;
        if (r === "length") { met = pw.length >= 8; }
        if (r === "lower") { met = /[a-z]/.test(pw); }
        if (r === "upper") { met = /[A-Z]/.test(pw); }
        if (r === "digit") { met = /[0-9]/.test(pw); }
        li.classList.toggle("met", met);
      });
      var s = score(pw);
      if (meter) { meter.value = s; }
      if (label) { label.textContent = pw ? names[s] : ""; }
    });
  });

  // Email uniqueness as you type (the same checks the create call makes).
  document.querySelectorAll("input[data-email-check]").forEach(function (input) {
    var out = document.getElementById(input.getAttribute("data-email-check"));
    var timer = null, seq = 0;
    input.addEventListener("input", function () {
      clearTimeout(timer);
      timer = setTimeout(function () {
        var mine = ++seq, email = input.value.trim();
        if (!email) { out.textContent = ""; input.removeAttribute("aria-invalid"); return; }
        var q = new URLSearchParams({ email: email });
        var tenant = input.getAttribute("data-tenant");
        if (tenant) { q.set("tenant", tenant); }
        api("GET", "/api/users/email-check?" + q.toString()).then(function (r) {
          if (mine !== seq) { return; }
          out.textContent = r.available ? "" : r.message;
          if (r.available) { input.removeAttribute("aria-invalid"); } else { input.setAttribute("aria-invalid", "true"); }
          input.setAttribute("data-checked", email);
        }).catch(function () {});
      }, 250);
    });
  });

  enhance(document);
})();

// CSV import: a chosen file fills the textarea; a submitted form shows that it is working.
(function () {
  "use strict";
  document.querySelectorAll("input[data-file-into]").forEach(function (input) {
    var target = document.getElementById(input.getAttribute("data-file-into"));
    input.addEventListener("change", function () {
      var f = input.files && input.files[0];
      if (!f) { return; }
      f.text().then(function (t) { target.value = t; });
    });
  });
  document.querySelectorAll("form[data-progress]").forEach(function (form) {
    var bar = document.getElementById(form.getAttribute("data-progress"));
    form.addEventListener("submit", function () { if (bar) { bar.hidden = false; } });
  });
})();

// "Select all on this page" (the table may be replaced by a search: delegate).
document.addEventListener("change", function (e) {
  var all = e.target.closest && e.target.closest("input[data-select-all]");
  if (!all) { return; }
  var table = all.closest("table");
  table.querySelectorAll('input[type=checkbox][name="' + all.getAttribute("data-select-all") + '"]').forEach(function (c) {
    c.checked = all.checked;
  });
});

// The bulk form's "all matching" follows the search box as it is typed.
document.addEventListener("input", function (e) {
  if (!e.target.matches || !e.target.matches("input[data-live-search]")) { return; }
  var bulk = document.getElementById("bulk-form");
  var field = bulk && bulk.querySelector('input[name="search"]');
  if (field) { field.value = e.target.value; }
});
