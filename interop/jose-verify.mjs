// Verifies an idbridge access token with panva/jose against idbridge's JWKS URL, the way an
// app would. Prints one JSON line: {"ok": true, "sub", "kid", "alg"} or {"ok": false, "code"}.
//   node jose-verify.mjs <jwks_url> <token> <issuer> <audience>
import { createRemoteJWKSet, jwtVerify } from 'jose';

const [jwksUrl, token, issuer, audience] = process.argv.slice(2);
const jwks = createRemoteJWKSet(new URL(jwksUrl), { cooldownDuration: 0 });
try {
  const { payload, protectedHeader } = await jwtVerify(token, jwks, {
    issuer,
    audience,
    typ: 'at+jwt',
    algorithms: ['ES256', 'EdDSA', 'RS256'],
    requiredClaims: ['exp', 'iat', 'nbf', 'sub', 'sid', 'tid'],
  });
  console.log(JSON.stringify({ ok: true, sub: payload.sub, kid: protectedHeader.kid, alg: protectedHeader.alg }));
} catch (e) {
  console.log(JSON.stringify({ ok: false, code: e.code ?? String(e) }));
}
