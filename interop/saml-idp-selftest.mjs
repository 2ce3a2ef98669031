// Self-test for saml-idp.mjs without idbridge: spawns the fixture and logs in through it with samlify
// acting as the service provider (AuthnRequest over HTTP-Redirect, response over HTTP-POST), checks
// that samlify's SP accepts the default responses and rejects the negative-test ones, and runs
// single logout both ways. Every message samlify parses is schema-checked with xmllint.
//   node saml-idp-selftest.mjs        (exit 0 on success; set TRACE=1 to print extracted fields)
import v8 from 'node:v8';
import { spawn } from 'node:child_process';
import * as crypto from 'node:crypto';
import { createInterface } from 'node:readline';
import assert from 'node:assert/strict';
import forge from 'node-forge';
import samlify from 'samlify';
import xmllint from '@authenio/samlify-node-xmllint';

// node-xmllint prints to stdout and is slow as validated asm.js; see saml-idp.mjs.
v8.setFlagsFromString('--no-validate-asm');
async function validateXml(xml) {
  const hooks = [[process, 'uncaughtException'], [process.stdout, 'drain']].map(([emitter, event]) => [emitter, event, new Set(emitter.listeners(event))]);
  const write = process.stdout.write;
  process.stdout.write = (chunk, ...rest) => (String(chunk).trim() ? process.stderr.write(chunk, ...rest) : true);
  try {
    return await xmllint.validate(xml);
  } finally {
    process.stdout.write = write;
    for (const [emitter, event, before] of hooks) {
      for (const l of emitter.listeners(event)) if (!before.has(l)) emitter.off(event, l);
    }
  }
}
samlify.setSchemaValidator({ validate: validateXml });

const SP_ID = 'https://sp.example.test/saml/metadata';
const ACS = 'http://127.0.0.1:9/saml/acs/conn-1'; // never contacted: we read the forms
const SLO = 'http://127.0.0.1:9/saml/slo/conn-1';
const CLAIM = 'http://schemas.xmlsoap.org/ws/2005/05/identity/claims/';
const GROUPS = 'http://schemas.microsoft.com/ws/2008/06/identity/claims/groups';
const IDP_CONFIG = {
  sp: { entity_id: 'https://placeholder.test', acs_url: 'http://127.0.0.1:9/placeholder' }, // replaced below
  accounts: {
    alice: { email: 'alice@example.test', first_name: 'Alice', last_name: 'Example', groups: ['Helpdesk', 'Employees'] },
    bob: { email: 'bob@example.test', attributes: { email: 'bob@example.test', firstName: 'Bob', groups: ['Staff'] } },
  },
};

setTimeout(() => { console.error('saml-idp selftest FAILED: timed out'); process.exit(1); }, 120_000).unref();

function keyPair(cn) {
  const { privateKey, publicKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
  const keyPem = privateKey.export({ type: 'pkcs1', format: 'pem' });
  const cert = forge.pki.createCertificate();
  cert.publicKey = forge.pki.publicKeyFromPem(publicKey.export({ type: 'spki', format: 'pem' }));
  cert.serialNumber = '01';
  cert.validity.notBefore = new Date(Date.now() - 86_400_000);
  cert.validity.notAfter = new Date(Date.now() + 365 * 86_400_000);
  cert.setSubject([{ name: 'commonName', value: cn }]);
  cert.setIssuer([{ name: 'commonName', value: cn }]);
  cert.sign(forge.pki.privateKeyFromPem(keyPem), forge.md.sha256.create());
  return { keyPem, certPem: forge.pki.certificateToPem(cert) };
}

const idpProc = spawn(process.execPath, [new URL('saml-idp.mjs', import.meta.url).pathname], {
  env: { ...process.env, PORT: '0', IDP_CONFIG: JSON.stringify(IDP_CONFIG) },
  stdio: ['pipe', 'pipe', process.env.TRACE ? 'inherit' : 'pipe'],
});
let idpStderr = '';
idpProc.stderr?.on('data', (d) => { idpStderr += d; });
const stdoutLines = [];
const base = await new Promise((resolve, reject) => {
  idpProc.on('exit', (code) => reject(new Error(`saml-idp.mjs exited early (${code}): ${idpStderr}`)));
  createInterface({ input: idpProc.stdout }).on('line', (line) => {
    stdoutLines.push(line);
    if (stdoutLines.length === 1) {
      if (!line.startsWith('READY ')) reject(new Error(`unexpected stdout: ${line}`));
      resolve(line.slice('READY '.length));
    }
  });
});

async function post(path, body, expect = 200) {
  const res = await fetch(`${base}${path}`, { method: 'POST', body: JSON.stringify(body), headers: { 'content-type': 'application/json' }, redirect: 'manual' });
  const text = await res.text();
  assert.equal(res.status, expect, `${path}: ${text}`);
  return { res, text };
}
const get = async (path) => (await fetch(`${base}${path}`)).text();

const unescape = (s) => s.replace(/&(amp|lt|gt|quot|#39);/g, (_m, e) => ({ amp: '&', lt: '<', gt: '>', quot: '"', '#39': "'" })[e]);
// The auto-submit page as a client without JavaScript reads it.
function readForm(html) {
  const forms = html.match(/<form\b/g) ?? [];
  assert.equal(forms.length, 1, `one form expected:\n${html}`);
  const [, method, action] = html.match(/<form method="(post)" action="([^"]*)">/);
  const fields = Object.fromEntries([...html.matchAll(/<input type="hidden" name="([^"]+)" value="([^"]*)"\/>/g)].map(([, n, v]) => [n, unescape(v)]));
  return { method, action: unescape(action), fields };
}

// samlify's HTTP-Redirect input: decoded query plus the signed octet string as sent.
function redirectInput(url) {
  const raw = new Map(new URL(url).search.slice(1).split('&').map((p) => [p.slice(0, p.indexOf('=')), p.slice(p.indexOf('=') + 1)]));
  const message = raw.has('SAMLRequest') ? 'SAMLRequest' : 'SAMLResponse';
  const octetString = [message, 'RelayState', 'SigAlg'].filter((n) => raw.has(n)).map((n) => `${n}=${raw.get(n)}`).join('&');
  return { query: Object.fromEntries(new URL(url).searchParams), octetString };
}

const spKeys = keyPair('selftest SP signing');
const spEncKeys = keyPair('selftest SP encryption');
const BINDING = samlify.Constants.namespace.binding;
function makeSp(overrides = {}) {
  return samlify.ServiceProvider({
    entityID: SP_ID,
    assertionConsumerService: [{ Binding: BINDING.post, Location: ACS }],
    singleLogoutService: [BINDING.redirect, BINDING.post].map((Binding) => ({ Binding, Location: SLO })),
    signingCert: spKeys.certPem,
    privateKey: spKeys.keyPem,
    encryptCert: spEncKeys.certPem,
    encPrivateKey: spEncKeys.keyPem,
    wantAssertionsSigned: true,
    wantLogoutRequestSigned: true,
    wantLogoutResponseSigned: true,
    ...overrides,
  });
}
const sp = makeSp();
const idpFor = async (extra = {}) => samlify.IdentityProvider({
  metadata: await get('/metadata'), wantLogoutRequestSigned: true, wantLogoutResponseSigned: true, ...extra,
});

const results = [];
function ok(name, detail = '') {
  results.push(name);
  console.log(`ok - ${name}${detail ? `: ${detail}` : ''}`);
}

// SP-initiated login: AuthnRequest over HTTP-Redirect, the fixture's form, samlify's parse.
async function login(idp, knobs, { spEntity = sp, relayState = 'rs-1&next=/app' } = {}) {
  if (knobs) await post('/test/next-login', knobs);
  const { id, context: url } = spEntity.createLoginRequest(idp, 'redirect', { relayState });
  const res = await fetch(url);
  const html = await res.text();
  assert.equal(res.status, 200, html);
  const form = readForm(html);
  assert.equal(form.action, ACS);
  assert.equal(form.fields.RelayState, relayState);
  const xml = Buffer.from(form.fields.SAMLResponse, 'base64').toString();
  assert.equal(xml, await get('/test/last-response'));
  return { requestId: id, xml, parse: () => spEntity.parseLoginResponse(idp, 'post', { body: { SAMLResponse: form.fields.SAMLResponse } }) };
}

async function rejected(name, idp, knobs, pattern, check) {
  const r = await login(idp, knobs);
  if (check) check(r.xml);
  const err = await r.parse().then(() => null, (e) => e);
  assert.ok(err, `${name}: samlify's SP accepted it`);
  const msg = String(err?.message ?? err);
  if (pattern) assert.match(msg, pattern, `${name}: ${msg}`);
  ok(`${name} rejected`, msg);
}

const count = (xml, re) => (xml.match(re) ?? []).length;
const attr = (xml, el, a) => xml.match(new RegExp(`<saml:${el}\\b[^>]*\\s${a}="([^"]*)"`))?.[1];

try {
  // Metadata, and the SP set at runtime (its metadata carries signing + encryption certificates).
  let meta = await get('/metadata');
  assert.match(meta, new RegExp(`entityID="${base}/metadata"`));
  assert.match(meta, new RegExp(`<SingleSignOnService Binding="${BINDING.redirect}" Location="${base}/sso"`));
  assert.match(meta, new RegExp(`<SingleSignOnService Binding="${BINDING.post}" Location="${base}/sso"`));
  assert.match(meta, new RegExp(`<SingleLogoutService Binding="${BINDING.redirect}" Location="${base}/slo"`));
  const certB64 = (pem) => pem.replace(/-----[A-Z ]+-----|\s/g, '');
  const idpCert = certB64(await get('/test/cert'));
  const rogueCert = certB64(await get('/test/rogue-cert'));
  assert.match(meta, new RegExp(`<KeyDescriptor use="signing">.*${idpCert.replace(/[+/]/g, '\\$&')}`));
  assert.ok(!meta.includes(rogueCert));
  await post('/test/sp', { metadata_xml: sp.getMetadata(), entity_id: null, acs_url: null });
  ok('metadata', 'entityID, SSO redirect+post, SLO, signing certificate; SP set at runtime');

  const idp = await idpFor();
  // Default: both signatures, Entra-style attributes, every check a SP makes by hand.
  let r = await login(idp);
  let { extract } = await r.parse();
  assert.equal(await validateXml(r.xml), 'SUCCESS_VALIDATE_XML');
  assert.equal(count(r.xml, /<ds:Signature /g), 2);
  assert.equal(extract.issuer, `${base}/metadata`);
  assert.equal(extract.nameID, 'alice@example.test');
  assert.equal(attr(r.xml, 'NameID', 'Format'), 'urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress');
  assert.equal(extract.audience, SP_ID);
  assert.equal(extract.response.inResponseTo, r.requestId);
  assert.equal(extract.response.destination, ACS);
  assert.equal(attr(r.xml, 'SubjectConfirmationData', 'InResponseTo'), r.requestId);
  assert.equal(attr(r.xml, 'SubjectConfirmationData', 'Recipient'), ACS);
  const { notBefore, notOnOrAfter } = extract.conditions;
  assert.ok(Math.abs(Date.parse(notBefore) - (Date.now() - 60_000)) < 10_000, notBefore);
  assert.ok(Math.abs(Date.parse(notOnOrAfter) - (Date.now() + 300_000)) < 10_000, notOnOrAfter);
  assert.equal(attr(r.xml, 'SubjectConfirmationData', 'NotOnOrAfter'), notOnOrAfter);
  assert.ok(extract.sessionIndex.sessionIndex && extract.sessionIndex.authnInstant);
  assert.deepEqual(extract.attributes, {
    [`${CLAIM}emailaddress`]: 'alice@example.test', [`${CLAIM}givenname`]: 'Alice', [`${CLAIM}surname`]: 'Example',
    [GROUPS]: ['Helpdesk', 'Employees'],
  });
  const lastLogin = JSON.parse(await get('/test/last-login'));
  assert.equal(lastLogin.session_index, extract.sessionIndex.sessionIndex);
  ok('default response accepted (schema-valid, response + assertion signed)', JSON.stringify(extract.attributes));
  if (process.env.TRACE) console.error(JSON.stringify(extract, null, 2));

  r = await login(idp, { signing: 'assertion' });
  await r.parse();
  assert.equal(count(r.xml, /<ds:Signature /g), 1);
  assert.match(r.xml, /<saml:Assertion [^>]*><saml:Issuer>[^<]*<\/saml:Issuer><ds:Signature /);
  r = await login(idp, { signing: 'response', sig_alg: 'rsa-sha1' });
  await r.parse();
  assert.equal(count(r.xml, /<ds:Signature /g), 1);
  assert.match(r.xml, /<samlp:Response [^>]*><saml:Issuer>[^<]*<\/saml:Issuer><ds:Signature /);
  assert.match(r.xml, /SignatureMethod Algorithm="http:\/\/www.w3.org\/2000\/09\/xmldsig#rsa-sha1"/);
  ok('signing=assertion and signing=response (rsa-sha1) accepted');

  // Account switch, custom attribute names, persistent NameID.
  r = await login(idp, { account: 'bob', name_id_format: 'persistent' });
  ({ extract } = await r.parse());
  assert.equal(extract.nameID, 'bob');
  assert.equal(attr(r.xml, 'NameID', 'Format'), 'urn:oasis:names:tc:SAML:2.0:nameid-format:persistent');
  assert.deepEqual(extract.attributes, { email: 'bob@example.test', firstName: 'Bob', groups: 'Staff' });
  await post('/test/next-login', { account: 'alice' });
  ok('next-login account, per-account attributes, persistent NameID');

  // Negative tests samlify's SP itself catches.
  await rejected('unsigned', idp, { unsigned: true }, /FAILED_TO_VERIFY_SIGNATURE/, (xml) => assert.ok(!xml.includes('Signature')));
  await rejected('sign_with_rogue', idp, { sign_with_rogue: true }, /UNMATCH_CERTIFICATE/, (xml) => assert.ok(xml.includes(rogueCert)));
  await rejected('tamper_after_signing', idp, { tamper_after_signing: true }, /FAILED_TO_VERIFY_SIGNATURE/, (xml) => assert.ok(xml.includes('>mallory@example.test</saml:NameID>')));
  await rejected('tamper_after_signing (signing=assertion)', idp, { tamper_after_signing: true, signing: 'assertion' }, /FAILED_TO_VERIFY_SIGNATURE/);
  await rejected('two_assertions', idp, { two_assertions: true }, /ERR_EMPTY_ASSERTION/, (xml) => assert.equal(count(xml, /<saml:Assertion /g), 2));
  await rejected('status', idp, { status: 'urn:oasis:names:tc:SAML:2.0:status:AuthnFailed', status_message: 'no' }, /ERR_FAILED_STATUS.*Responder.*AuthnFailed/, (xml) => assert.ok(!xml.includes('Assertion')));
  await rejected('not_on_or_after=-30 (expired)', idp, { not_on_or_after: -30 }, /ERR_SUBJECT_UNCONFIRMED/);
  await rejected('not_before=+600', idp, { not_before: 600 }, /ERR_SUBJECT_UNCONFIRMED/);
  await rejected('issuer', idp, { issuer: 'https://evil.test/metadata' }, /ERR_UNMATCH_ISSUER/);

  // Knobs samlify does not check (the SP must): the XML carries them, still validly signed.
  r = await login(idp, { audience: 'https://other.test', destination: 'https://other.test/acs', recipient: 'https://other.test/acs2', issue_instant_offset: -3600, assertion_id: '_replay-1' });
  ({ extract } = await r.parse());
  assert.equal(extract.audience, 'https://other.test');
  assert.equal(extract.response.destination, 'https://other.test/acs');
  assert.equal(attr(r.xml, 'SubjectConfirmationData', 'Recipient'), 'https://other.test/acs2');
  assert.equal(attr(r.xml, 'Assertion', 'ID'), '_replay-1');
  assert.ok(Math.abs(Date.parse(extract.response.issueInstant) - (Date.now() - 3_600_000)) < 10_000);
  r = await login(idp, { in_response_to: null, omit_audience: true });
  ({ extract } = await r.parse());
  assert.ok(!r.xml.includes('InResponseTo') && !r.xml.includes('Audience') && r.xml.includes('<saml:Conditions '));
  r = await login(idp, { in_response_to: '_other', omit_conditions: true, subject_not_on_or_after: -5 });
  await r.parse();
  assert.ok(!r.xml.includes('Conditions'));
  assert.equal(attr(r.xml, 'SubjectConfirmationData', 'InResponseTo'), '_other');
  r = await login(idp, { doctype: true });
  assert.match(r.xml, /^<!DOCTYPE samlp:Response \[/);
  ok('audience, destination, recipient, issue_instant_offset, assertion_id, in_response_to, omit_audience, omit_conditions, subject_not_on_or_after, doctype present in the signed XML');
  await post('/test/next-login', { nope: 1 }, 400);

  // Encrypted assertion for the SP's encryption certificate.
  r = await login(await idpFor({ isAssertionEncrypted: true }), { encrypt: true });
  ({ extract } = await r.parse());
  assert.ok(r.xml.includes('<saml:EncryptedAssertion') && !r.xml.includes('<saml:Assertion '));
  assert.equal(extract.nameID, 'alice@example.test');
  assert.deepEqual(extract.attributes[GROUPS], ['Helpdesk', 'Employees']);
  await rejected('unsigned + encrypt', await idpFor({ isAssertionEncrypted: true }), { unsigned: true, encrypt: true }, /FAILED_TO_VERIFY_SIGNATURE/, (xml) => assert.ok(xml.includes('<saml:EncryptedAssertion') && !xml.includes('Signature')));
  ok('encrypt accepted and decrypted by the SP');

  // IdP-initiated (unsolicited) response.
  const form = readForm(await get('/test/idp-initiated?relay_state=%2Fapp%3Fa%3D1%26b%3D2'));
  assert.equal(form.fields.RelayState, '/app?a=1&b=2');
  ({ extract } = await sp.parseLoginResponse(idp, 'post', { body: { SAMLResponse: form.fields.SAMLResponse } }));
  assert.equal(extract.response.inResponseTo, undefined);
  assert.ok(!(await get('/test/last-response')).includes('InResponseTo'));
  ok('idp-initiated response accepted, no InResponseTo');

  // Requests the fixture refuses: another issuer, another ACS URL.
  const other = makeSp({ entityID: 'https://intruder.test' });
  let res = await fetch(other.createLoginRequest(idp, 'redirect').context);
  assert.equal(res.status, 400);
  assert.match(await res.text(), /issuer/);
  const otherAcs = makeSp({ assertionConsumerService: [{ Binding: BINDING.post, Location: 'https://evil.test/acs' }] });
  res = await fetch(otherAcs.createLoginRequest(idp, 'redirect').context);
  assert.equal(res.status, 400);
  ok('AuthnRequest from another issuer / for another ACS URL refused');

  // Single logout, both directions, POST binding (default) then HTTP-Redirect.
  for (const binding of ['post', 'redirect']) {
    await post('/test/sp', { slo_binding: binding });
    await login(idp);
    const who = JSON.parse(await get('/test/last-login'));
    // SP-initiated: signed LogoutRequest (redirect) -> LogoutResponse to the SP's SLO URL.
    const { context: url } = sp.createLogoutRequest(idp, 'redirect', { logoutNameID: who.name_id, sessionIndex: who.session_index }, { relayState: 'bye' });
    res = await fetch(url, { redirect: 'manual' });
    let parsed;
    if (binding === 'redirect') {
      assert.equal(res.status, 303);
      const location = res.headers.get('location');
      assert.ok(location.startsWith(`${SLO}?SAMLResponse=`) && location.includes('&Signature='), location);
      assert.equal(new URL(location).searchParams.get('RelayState'), 'bye');
      parsed = await sp.parseLogoutResponse(idp, 'redirect', redirectInput(location));
    } else {
      const f = readForm(await res.text());
      assert.equal(f.action, SLO);
      assert.equal(f.fields.RelayState, 'bye');
      parsed = await sp.parseLogoutResponse(idp, 'post', { body: f.fields });
    }
    assert.match(await get('/test/last-request'), /<samlp:LogoutRequest /);
    assert.ok(parsed.extract.response.inResponseTo);
    // An unsigned LogoutRequest is refused (the SP's metadata has a signing certificate).
    const unsignedIdp = await idpFor({ wantLogoutRequestSigned: false });
    res = await fetch(sp.createLogoutRequest(unsignedIdp, 'redirect', { logoutNameID: who.name_id }).context, { redirect: 'manual' });
    assert.equal(res.status, 400);
    // IdP-initiated: signed LogoutRequest for the last login -> the SP answers to /slo.
    const out = await post('/test/logout-request', { relay_state: 'idp-bye' }, binding === 'redirect' ? 303 : 200);
    let request;
    if (binding === 'redirect') {
      const location = out.res.headers.get('location');
      assert.ok(location.includes('&Signature='));
      request = await sp.parseLogoutRequest(idp, 'redirect', redirectInput(location));
    } else {
      const f = readForm(out.text);
      assert.equal(f.action, SLO);
      assert.equal(f.fields.RelayState, 'idp-bye');
      assert.match(Buffer.from(f.fields.SAMLRequest, 'base64').toString(), /<ds:Signature /);
      request = await sp.parseLogoutRequest(idp, 'post', { body: f.fields });
    }
    assert.equal(request.extract.nameID, who.name_id);
    assert.equal(request.extract.sessionIndex, who.session_index);
    const answer = sp.createLogoutResponse(idp, request, 'redirect', { relayState: 'idp-bye' });
    res = await fetch(answer.context);
    assert.equal(res.status, 200, await res.text());
    ok(`single logout over ${binding}`, 'SP-initiated and IdP-initiated, signed both ways');
  }

  // An SP whose metadata says AuthnRequestsSigned: the fixture then wants (and checks) signatures.
  const signingSp = makeSp({ authnRequestsSigned: true });
  await post('/test/sp', { metadata_xml: signingSp.getMetadata() });
  meta = await get('/metadata');
  assert.match(meta, /WantAuthnRequestsSigned="true"/);
  const strictIdp = await idpFor();
  r = await login(strictIdp, null, { spEntity: signingSp });
  await r.parse();
  const signedUrl = signingSp.createLoginRequest(strictIdp, 'redirect', { relayState: 'x' }).context;
  res = await fetch(signedUrl.replace(/&SigAlg=[^&]*/, '').replace(/&Signature=[^&]*/, ''));
  assert.equal(res.status, 400);
  assert.match(await res.text(), /ERR_MISSING_SIG_ALG/);
  const postReq = signingSp.createLoginRequest(strictIdp, 'post', { relayState: 'p' });
  res = await fetch(`${base}/sso`, { method: 'POST', body: new URLSearchParams({ SAMLRequest: postReq.context, RelayState: 'p' }) });
  assert.equal(res.status, 200);
  assert.equal(readForm(await res.text()).fields.RelayState, 'p');
  ok('signed AuthnRequests (redirect + POST) required and verified when the SP metadata says so');

  assert.deepEqual(stdoutLines, [`READY ${base}`], 'stdout carries only the READY line');
  console.log(`saml-idp selftest: ok (${results.length} checks)`);
} catch (e) {
  console.error(`saml-idp selftest FAILED: ${e.stack ?? e}`);
  if (!process.env.TRACE) console.error(`--- saml-idp.mjs stderr ---\n${idpStderr}`);
  process.exitCode = 1;
} finally {
  idpProc.stdin.end(); // the fixture exits when its stdin closes
}
