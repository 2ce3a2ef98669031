// Drives idbridge as an OpenID provider with panva/openid-client, as an app would: discovery,
// authorization code + PKCE (the browser is simulated by a fetch that carries the user's session
// cookie), ID token checks, userinfo, refresh (rotation), refresh-token reuse, RP-initiated logout.
//   node oidc-flow.mjs <issuer> <client_id> <client_secret> <redirect_uri> <cookie> <post_logout_uri>
// Prints one JSON line with what happened.
import * as client from 'openid-client';

const [issuer, clientId, clientSecret, redirectUri, cookie, postLogout] = process.argv.slice(2);
const out = {};
try {
  const config = await client.discovery(new URL(issuer), clientId, { client_secret: clientSecret, id_token_signed_response_alg: 'ES256' }, undefined, {
    execute: [client.allowInsecureRequests], // the test server is plain http on loopback
  });
  const verifier = client.randomPKCECodeVerifier();
  const challenge = await client.calculatePKCECodeChallenge(verifier);
  const state = client.randomState();
  const nonce = client.randomNonce();
  const url = client.buildAuthorizationUrl(config, {
    redirect_uri: redirectUri, scope: 'openid email profile roles', code_challenge: challenge, code_challenge_method: 'S256', state, nonce,
  });
  const res = await fetch(url, { headers: { cookie }, redirect: 'manual' });
  const location = res.headers.get('location');
  out.authorize_status = res.status;
  const tokens = await client.authorizationCodeGrant(config, new URL(location), { pkceCodeVerifier: verifier, expectedState: state, expectedNonce: nonce });
  const claims = tokens.claims();
  out.sub = claims.sub;
  out.id_email = claims.email;
  out.id_roles = claims.roles;
  out.id_aud = claims.aud;
  const info = await client.fetchUserInfo(config, tokens.access_token, claims.sub);
  out.userinfo_email = info.email;
  out.userinfo_name = info.name;
  const refreshed = await client.refreshTokenGrant(config, tokens.refresh_token);
  out.refreshed = typeof refreshed.access_token === 'string';
  out.rotated = refreshed.refresh_token !== tokens.refresh_token;
  try {
    await client.refreshTokenGrant(config, tokens.refresh_token);
    out.reuse_error = null;
  } catch (e) {
    out.reuse_error = e.error ?? e.code ?? String(e);
  }
  try {
    await client.refreshTokenGrant(config, refreshed.refresh_token);
    out.family_after_reuse = 'still valid';
  } catch (e) {
    out.family_after_reuse = e.error ?? e.code ?? String(e);
  }
  const end = client.buildEndSessionUrl(config, { id_token_hint: tokens.id_token, post_logout_redirect_uri: postLogout, state: 'bye' });
  const lo = await fetch(end, { headers: { cookie }, redirect: 'manual' });
  out.logout_status = lo.status;
  out.logout_location = lo.headers.get('location');
  out.ok = true;
} catch (e) {
  out.ok = false;
  out.error = `${e.name}: ${e.message} ${e.code ?? ''} ${e.error ?? ''} ${e.error_description ?? ''}`;
}
console.log(JSON.stringify(out));
