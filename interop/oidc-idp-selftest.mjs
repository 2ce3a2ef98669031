// Self-test for oidc-idp.mjs without idbridge: spawns the fixture and logs in through it with
// panva/openid-client (code + PKCE + state + nonce), following redirects with a small cookie jar.
//   node oidc-idp-selftest.mjs        (exit 0 on success; set TRACE=1 to print each hop)
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import assert from 'node:assert/strict';
import * as client from 'openid-client';

const REDIRECT = 'http://127.0.0.1:9/callback'; // never contacted: we stop at the redirect
const IDP_CONFIG = {
  clients: [
    { client_id: 'rp-rs', client_secret: 'rp-rs-secret', redirect_uris: [REDIRECT] },
    { client_id: 'rp-es', client_secret: 'rp-es-secret', redirect_uris: [REDIRECT], id_token_signed_response_alg: 'ES256' },
  ],
  accounts: {
    alice: { email: 'alice@example.test', email_verified: true, name: 'Alice Example', given_name: 'Alice', family_name: 'Example', groups: ['staff', 'admins'], department: 'ops' },
    bob: { email: 'bob@example.test', email_verified: false, name: 'Bob Example', groups: ['staff'] },
  },
};

setTimeout(() => { console.error('oidc-idp selftest FAILED: timed out'); process.exit(1); }, 30_000).unref();

const idp = spawn(process.execPath, [new URL('oidc-idp.mjs', import.meta.url).pathname], {
  env: { ...process.env, PORT: '0', IDP_CONFIG: JSON.stringify(IDP_CONFIG) },
  stdio: ['pipe', 'pipe', 'inherit'],
});
const issuer = await new Promise((resolve, reject) => {
  idp.on('exit', (code) => reject(new Error(`oidc-idp.mjs exited early (${code})`)));
  createInterface({ input: idp.stdout }).once('line', (line) => {
    if (!line.startsWith('READY ')) reject(new Error(`unexpected stdout: ${line}`));
    resolve(line.slice('READY '.length));
  });
});

async function post(path, body) {
  const res = await fetch(`${issuer}${path}`, { method: 'POST', body: JSON.stringify(body), headers: { 'content-type': 'application/json' } });
  assert.equal(res.status, 200, `${path}: ${await res.text()}`);
}

// Follows redirects from the authorization URL until one points at the redirect_uri. `jar` maps
// cookie name to value (one origin; paths ignored, which is fine for this server).
async function browse(url, jar) {
  const hops = [];
  for (let i = 0; i < 10; i += 1) {
    const res = await fetch(url, { redirect: 'manual', headers: { cookie: [...jar].map(([k, v]) => `${k}=${v}`).join('; ') } });
    const set = res.headers.getSetCookie();
    for (const c of set) {
      const [pair] = c.split(';');
      const name = pair.slice(0, pair.indexOf('='));
      if (/expires=Thu, 01 Jan 1970/i.test(c) || /max-age=0\b/i.test(c)) jar.delete(name);
      else jar.set(name, pair.slice(name.length + 1));
    }
    const location = res.headers.get('location');
    hops.push(`${res.status} ${new URL(url).pathname} set[${set.map((c) => c.split('=')[0]).join(',')}] -> ${location && new URL(location, url).pathname}`);
    if (![302, 303].includes(res.status)) throw new Error(`hop ${i}: ${res.status} ${await res.text()}\n${hops.join('\n')}`);
    url = new URL(location, url);
    if (url.href.startsWith(REDIRECT)) {
      if (process.env.TRACE) console.error(hops.join('\n'));
      return { url, hops: hops.length };
    }
  }
  throw new Error(`too many redirects\n${hops.join('\n')}`);
}

async function login(clientId, jar, extra = {}) {
  const { client_secret: secret } = IDP_CONFIG.clients.find((c) => c.client_id === clientId);
  const config = await client.discovery(new URL(issuer), clientId, undefined, client.ClientSecretBasic(secret), {
    execute: [client.allowInsecureRequests],
  });
  const verifier = client.randomPKCECodeVerifier();
  const state = client.randomState();
  const nonce = client.randomNonce();
  const authUrl = client.buildAuthorizationUrl(config, {
    redirect_uri: REDIRECT, scope: 'openid email profile', state, nonce,
    code_challenge: await client.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256', ...extra,
  });
  const { url, hops } = await browse(authUrl, jar);
  assert.equal(url.searchParams.get('iss'), issuer, 'RFC 9207 iss in the authorization response');
  const tokens = await client.authorizationCodeGrant(config, url, { pkceCodeVerifier: verifier, expectedState: state, expectedNonce: nonce });
  const claims = tokens.claims();
  assert.equal(claims.nonce, nonce);
  const alg = JSON.parse(Buffer.from(tokens.id_token.split('.')[0], 'base64url')).alg;
  const userinfo = await client.fetchUserInfo(config, tokens.access_token, claims.sub);
  return { claims, userinfo, alg, hops };
}

try {
  const jar = new Map();
  // No hint, no next-login: the first account. Login and consent are two interactions (5 hops).
  let r = await login('rp-rs', jar);
  assert.equal(r.hops, 5);
  assert.equal(r.alg, 'RS256');
  assert.equal(r.claims.sub, 'alice');
  assert.equal(r.claims.email, 'alice@example.test');
  assert.equal(r.claims.email_verified, true);
  assert.equal(r.claims.name, 'Alice Example');
  assert.equal(r.claims.department, 'ops');
  assert.deepEqual(r.claims.groups, ['staff', 'admins']);
  assert.deepEqual(r.userinfo.groups, ['staff', 'admins']);

  // Change groups at runtime; the same browser (session + grant kept) comes straight back.
  await post('/test/accounts', { alice: { groups: ['staff'] } });
  r = await login('rp-rs', jar);
  assert.equal(r.hops, 1);
  assert.equal(r.claims.sub, 'alice');
  assert.deepEqual(r.claims.groups, ['staff']);

  // next-login switches the account even with alice's session; ES256 client.
  await post('/test/next-login', { account: 'bob' });
  r = await login('rp-es', jar);
  assert.equal(r.alg, 'ES256');
  assert.equal(r.claims.sub, 'bob');
  assert.equal(r.claims.email_verified, false);
  assert.deepEqual(r.claims.groups, ['staff']);

  // login_hint wins over next-login; fresh browser.
  r = await login('rp-es', new Map(), { login_hint: 'alice' });
  assert.equal(r.claims.sub, 'alice');
  assert.equal(r.userinfo.email, 'alice@example.test');

  // Without PKCE the authorization endpoint refuses (error redirect to the client).
  const noPkce = new URL(`${issuer}/auth?client_id=rp-rs&response_type=code&scope=openid&redirect_uri=${encodeURIComponent(REDIRECT)}&state=s&nonce=n`);
  const res = await fetch(noPkce, { redirect: 'manual' });
  assert.equal(new URL(res.headers.get('location')).searchParams.get('error'), 'invalid_request');

  console.log('oidc-idp selftest: ok');
} catch (e) {
  console.error(`oidc-idp selftest FAILED: ${e.stack ?? e}`);
  process.exitCode = 1;
} finally {
  idp.stdin.end(); // the fixture exits when its stdin closes
}
