-- How a session signed in: `password`, `invite` (the password set by accepting an invite) or
-- `sso` (with the connection). A tenant with `password_login: false` refuses password-class
-- sessions by every path (switch-tenant, `?tenant=`, the OIDC provider, forward auth).
ALTER TABLE sessions ADD COLUMN method TEXT NOT NULL DEFAULT 'password';
ALTER TABLE sessions ADD COLUMN connection_id TEXT;
