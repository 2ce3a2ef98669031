// Test-only OpenID Connect provider (panva/oidc-provider) that idbridge's tests log in through as a
// relying party. Login and consent complete on their own: a client that follows redirects (with a
// cookie jar) goes from the authorization endpoint straight back to its redirect_uri with a code.
//   PORT=0 IDP_CONFIG='{"clients":[...],"accounts":{...}}' node oidc-idp.mjs
// stdout carries exactly one line, "READY <issuer>"; everything else goes to stderr. See README.md.
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as http from 'node:http';
import Provider from 'oidc-provider';

// oidc-provider prints its notices with console.info (stdout): keep stdout for the READY line.
console.log = console.info = (...args) => console.error(...args);

const config = JSON.parse(process.env.IDP_CONFIG || '{}');
let accounts = structuredClone(config.accounts ?? {});
let nextLogin = null; // set by POST /test/next-login

const STANDARD_PROFILE = ['name', 'family_name', 'given_name', 'middle_name', 'nickname', 'preferred_username',
  'profile', 'picture', 'website', 'gender', 'birthdate', 'zoneinfo', 'locale', 'updated_at'];
const NOT_PROFILE = new Set(['sub', 'email', 'email_verified', 'groups']);
// Any other claim the configured accounts carry is released with the profile scope.
const extra = Object.values(accounts).flatMap((a) => Object.keys(a)).filter((k) => !NOT_PROFILE.has(k));
const claims = {
  openid: ['sub'],
  email: ['email', 'email_verified'],
  profile: [...new Set([...STANDARD_PROFILE, ...extra, 'groups'])],
  groups: ['groups'],
};

function sigKey(type, options, alg) {
  const jwk = crypto.generateKeyPairSync(type, options).privateKey.export({ format: 'jwk' });
  return { ...jwk, alg, use: 'sig', kid: `${alg.toLowerCase()}-${crypto.randomUUID().slice(0, 8)}` };
}

// The account a login should produce: login_hint naming an account (id or email), else the last
// POST /test/next-login, else null (the caller then keeps the session's account or takes the first).
function wantedAccount(params) {
  const hint = params?.login_hint;
  if (hint && accounts[hint]) return hint;
  const byEmail = hint && Object.keys(accounts).find((id) => accounts[id].email === hint);
  if (byEmail) return byEmail;
  return nextLogin && accounts[nextLogin] ? nextLogin : null;
}

const server = http.createServer();
await new Promise((resolve) => server.listen(Number(process.env.PORT || 0), '127.0.0.1', resolve));
const issuer = `http://127.0.0.1:${server.address().port}`;

const provider = new Provider(issuer, {
  clients: (config.clients ?? []).map((c) => ({
    grant_types: ['authorization_code', 'refresh_token'],
    response_types: ['code'],
    token_endpoint_auth_method: c.client_secret ? 'client_secret_basic' : 'none',
    ...c, // anything else in the client entry is passed through as client metadata
  })),
  jwks: { keys: [sigKey('rsa', { modulusLength: 2048 }, 'RS256'), sigKey('ec', { namedCurve: 'P-256' }, 'ES256')] },
  claims,
  conformIdTokenClaims: false, // scope claims (email, profile, groups) go in the ID token too
  findAccount: (_ctx, id) => (accounts[id] ? { accountId: id, claims: () => ({ ...accounts[id], sub: id }) } : undefined),
  interactions: { url: (_ctx, interaction) => `/interaction/${interaction.uid}` },
  // Prefixed names: browsers and reqwest share cookies across ports of 127.0.0.1 with idbridge.
  // Not Secure (plain http: oidc-provider only sets Secure when the request is https); lax
  // everywhere, so no extra "<name>.legacy" session cookies for SameSite=None-unaware browsers.
  cookies: {
    keys: ['idp-test-cookie-key'],
    names: { session: 'idp_session', interaction: 'idp_interaction', resume: 'idp_resume' },
    long: { httpOnly: true, sameSite: 'lax' },
    short: { httpOnly: true, sameSite: 'lax' },
  },
  features: { devInteractions: { enabled: false }, revocation: { enabled: true }, registration: { enabled: true } },
  responseTypes: ['code'],
  pkce: { methods: ['S256'], required: () => true },
  clientBasedCORS: () => true,
  ttl: { AccessToken: 3600, AuthorizationCode: 60, ClientCredentials: 600, IdToken: 3600, Interaction: 600, RefreshToken: 86400, Session: 86400, Grant: 86400 },
  renderError: (ctx, out) => { ctx.type = 'json'; ctx.body = out; },
});
provider.on('server_error', (_ctx, err) => console.error('server_error', err));

async function readJson(ctx) {
  const chunks = [];
  for await (const chunk of ctx.req) chunks.push(chunk);
  return chunks.length ? JSON.parse(Buffer.concat(chunks).toString()) : {};
}

// A browser whose session belongs to another account than the test asked for starts over: its
// session is dropped before the provider sees the request (switching accounts inside an existing
// session would make oidc-provider answer with an auto-submitting logout form).
async function switchAccount(ctx) {
  const want = wantedAccount(ctx.query);
  if (!want) return;
  const session = await provider.Session.get(ctx);
  if (session.accountId && session.accountId !== want) await session.destroy();
}

async function interaction(ctx) {
  const details = await provider.interactionDetails(ctx.req, ctx.res);
  const { prompt, params, session, grantId } = details;
  let result;
  if (prompt.name === 'login') {
    const accountId = wantedAccount(params) ?? Object.keys(accounts)[0];
    if (!accountId) throw new Error('no accounts configured');
    result = { login: { accountId } };
  } else if (prompt.name === 'consent') {
    const grant = (grantId && await provider.Grant.find(grantId))
      || new provider.Grant({ accountId: session.accountId, clientId: params.client_id });
    const d = prompt.details;
    if (d.missingOIDCScope) grant.addOIDCScope(d.missingOIDCScope.join(' '));
    if (d.missingOIDCClaims) grant.addOIDCClaims(d.missingOIDCClaims);
    for (const [indicator, scopes] of Object.entries(d.missingResourceScopes ?? {})) {
      grant.addResourceScope(indicator, scopes.join(' '));
    }
    result = { consent: { grantId: await grant.save() } };
  } else {
    throw new Error(`unexpected prompt ${prompt.name}`);
  }
  const to = await provider.interactionResult(ctx.req, ctx.res, result, { mergeWithLastSubmission: true });
  ctx.redirect(to);
  ctx.status = 303;
}

provider.use(async (ctx, next) => {
  const { method, path } = ctx;
  try {
    if (method === 'GET' && path === '/auth') await switchAccount(ctx);
    if (method === 'GET' && path.startsWith('/interaction/')) return await interaction(ctx);
    if (method === 'GET' && path === '/test/health') {
      ctx.body = { ok: true, issuer };
      return undefined;
    }
    if (method === 'POST' && path === '/test/next-login') {
      const { account } = await readJson(ctx);
      if (account != null && !accounts[account]) ctx.throw(400, `unknown account ${account}`);
      nextLogin = account ?? null;
      ctx.body = { next_login: nextLogin };
      return undefined;
    }
    if (method === 'POST' && path === '/test/accounts') {
      const body = await readJson(ctx);
      if (ctx.query.replace === 'true') accounts = {};
      for (const [id, c] of Object.entries(body)) {
        if (c === null) delete accounts[id];
        else accounts[id] = { ...accounts[id], ...c };
      }
      ctx.body = accounts;
      return undefined;
    }
  } catch (err) {
    console.error(`${method} ${path}:`, err);
    ctx.status = err.status ?? 400;
    ctx.body = { error: err.name, error_description: err.message };
    return undefined;
  }
  return next();
});

server.on('request', provider.callback());
process.stdout.write(`READY ${issuer}\n`);

const stop = () => process.exit(0);
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
// The test harness holds our stdin pipe; when it drops the child (or dies), the pipe closes.
const stdin = fs.fstatSync(0);
if (stdin.isFIFO() || stdin.isSocket()) {
  process.stdin.on('end', stop).on('close', stop).resume();
}
