// Test-only SAML 2.0 identity provider (samlify) that idbridge's tests log in through as a service
// provider. Login completes on its own: GET /sso with an AuthnRequest answers with an auto-submitting
// HTML form that POSTs a signed SAMLResponse (and the RelayState) to the SP's ACS URL.
//   PORT=0 IDP_CONFIG='{"sp":{...},"accounts":{...}}' node saml-idp.mjs
// stdout carries exactly one line, "READY <base-url>"; everything else goes to stderr. See README.md.
import v8 from 'node:v8';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as zlib from 'node:zlib';
import forge from 'node-forge';
import samlify from 'samlify';
import xmllint from '@authenio/samlify-node-xmllint';

// Keep stdout for the READY line: node-xmllint (emscripten) writes to process.stdout directly.
const writeStdout = process.stdout.write.bind(process.stdout);
process.stdout.write = (...args) => process.stderr.write(...args);
// (node-xmllint also console.logs a lone " " per call: not worth a line.)
console.log = console.info = (...args) => { if (args.some((a) => typeof a !== 'string' || a.trim())) console.error(...args); };

// node-xmllint is a 4 MB asm.js blob re-instantiated on every call: validated as asm.js, the first
// call costs ~3 s of CPU; run as plain JS it is ~0.4 s, then ~0.15 s per message.
v8.setFlagsFromString('--no-validate-asm');
samlify.setSchemaValidator({
  validate: async (xml) => {
    // Each call leaves an uncaughtException handler on process and a 'drain' handler on stdout
    // that calls process.exit (emscripten's exit()): drop both again.
    const hooks = [[process, 'uncaughtException'], [process.stdout, 'drain']].map(([emitter, event]) => [emitter, event, new Set(emitter.listeners(event))]);
    try {
      return await xmllint.validate(xml);
    } finally {
      for (const [emitter, event, before] of hooks) {
        for (const l of emitter.listeners(event)) if (!before.has(l)) emitter.off(event, l);
      }
    }
  },
});

const { Constants, SamlLib } = samlify;
const BINDING = Constants.namespace.binding; // redirect, post, ...
const NAMEID = {
  email: 'urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress',
  persistent: 'urn:oasis:names:tc:SAML:2.0:nameid-format:persistent',
  unspecified: 'urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified',
  transient: 'urn:oasis:names:tc:SAML:2.0:nameid-format:transient',
};
const SIG_ALGS = {
  'rsa-sha1': Constants.algorithms.signature.RSA_SHA1,
  'rsa-sha256': Constants.algorithms.signature.RSA_SHA256,
  'rsa-sha512': Constants.algorithms.signature.RSA_SHA512,
};
const STATUS_SUCCESS = 'urn:oasis:names:tc:SAML:2.0:status:Success';
const TOP_STATUS = new Set(['Success', 'Requester', 'Responder', 'VersionMismatch'].map((s) => `urn:oasis:names:tc:SAML:2.0:status:${s}`));
const CLAIM = {
  email: 'http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress',
  given_name: 'http://schemas.xmlsoap.org/ws/2005/05/identity/claims/givenname',
  family_name: 'http://schemas.xmlsoap.org/ws/2005/05/identity/claims/surname',
  groups: 'http://schemas.microsoft.com/ws/2008/06/identity/claims/groups',
};
const KNOBS = new Set(['audience', 'destination', 'recipient', 'in_response_to', 'not_before', 'not_on_or_after',
  'subject_not_on_or_after', 'issue_instant_offset', 'unsigned', 'sign_with_rogue', 'sig_alg', 'signing',
  'two_assertions', 'tamper_after_signing', 'doctype', 'omit_conditions', 'omit_audience', 'assertion_id', 'status',
  'status_message', 'encrypt', 'issuer', 'name_id', 'name_id_format', 'attributes']);

const config = JSON.parse(process.env.IDP_CONFIG || '{}');
let accounts = structuredClone(config.accounts ?? {});
const signingMode = config.signing ?? 'both';
if (!['assertion', 'response', 'both'].includes(signingMode)) throw new Error(`signing must be assertion, response or both, not ${signingMode}`);
const defaultSigAlg = sigAlgUri(config.sig_alg ?? 'rsa-sha256');

let nextLogin = null; // account for the next logins (persists, like oidc-idp.mjs)
let nextKnobs = {}; // negative-test knobs for the next response only
let lastResponse = null; // decoded XML of the last SAMLResponse sent
let lastRequest = null; // decoded XML of the last SAML message received
let lastLogin = null; // who/what the last SAMLResponse asserted

function sigAlgUri(name) {
  const uri = SIG_ALGS[name];
  if (!uri) throw httpError(400, `sig_alg ${name} is not supported (samlify/xml-crypto sign with ${Object.keys(SIG_ALGS).join(', ')})`);
  return uri;
}

function httpError(status, message) {
  return Object.assign(new Error(message), { status });
}

// An RSA-2048 key and a self-signed certificate for it (node:crypto cannot issue certificates).
function keyPair(cn) {
  const { privateKey, publicKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
  const keyPem = privateKey.export({ type: 'pkcs1', format: 'pem' });
  const cert = forge.pki.createCertificate();
  cert.publicKey = forge.pki.publicKeyFromPem(publicKey.export({ type: 'spki', format: 'pem' }));
  cert.serialNumber = `01${crypto.randomBytes(8).toString('hex')}`;
  cert.validity.notBefore = new Date(Date.now() - 86_400_000);
  cert.validity.notAfter = new Date(Date.now() + 10 * 365 * 86_400_000);
  const name = [{ name: 'commonName', value: cn }];
  cert.setSubject(name);
  cert.setIssuer(name);
  cert.setExtensions([{ name: 'basicConstraints', cA: false }, { name: 'keyUsage', digitalSignature: true, keyEncipherment: true }]);
  cert.sign(forge.pki.privateKeyFromPem(keyPem), forge.md.sha256.create());
  return { keyPem, certPem: forge.pki.certificateToPem(cert) };
}

const esc = (s) => String(s).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]);
const iso = (ms) => new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
const newId = () => `_${crypto.randomUUID()}`;

const server = http.createServer();
await new Promise((resolve) => server.listen(Number(process.env.PORT || 0), '127.0.0.1', resolve));
const base = `http://127.0.0.1:${server.address().port}`;
const entityID = `${base}/metadata`;

const realKeys = keyPair('idbridge test SAML IdP');
const rogueKeys = keyPair('idbridge test SAML IdP (rogue)');

// ---- the service provider (one) -------------------------------------------------------------------

let spConfig = {}; // as configured: entity_id, acs_url, slo_url, slo_binding, metadata_xml
let sp = null; // derived: { entityId, acsUrl, sloUrl, sloBinding, signingCert, encryptCert, authnRequestsSigned, entity }

function setSp(cfg) {
  let meta = null;
  if (cfg.metadata_xml) meta = samlify.SPMetadata(cfg.metadata_xml);
  const entityId = cfg.entity_id ?? meta?.getEntityID();
  const acsUrl = cfg.acs_url ?? meta?.getAssertionConsumerService('post');
  const metaSlo = meta?.getSingleLogoutService('redirect');
  const sloUrl = cfg.slo_url ?? (typeof metaSlo === 'string' ? metaSlo : undefined);
  const sloBinding = cfg.slo_binding ?? 'post';
  if (!entityId || typeof acsUrl !== 'string') throw httpError(400, 'sp needs entity_id and acs_url (or metadata_xml declaring them)');
  if (!['redirect', 'post'].includes(sloBinding)) throw httpError(400, 'slo_binding must be redirect or post');
  const first = (c) => (Array.isArray(c) ? c.flat(Infinity)[0] : c) ?? undefined;
  const signingCert = first(meta?.getX509Certificate('signing'));
  const encryptCert = first(meta?.getX509Certificate('encryption'));
  const derived = {
    entityId, acsUrl, sloUrl, sloBinding, signingCert, encryptCert,
    authnRequestsSigned: meta ? meta.isAuthnRequestSigned() : false,
  };
  derived.entity = spEntity(derived, {});
  spConfig = cfg;
  sp = derived;
  rebuildIdp();
}

// The SP as samlify sees it when the IdP builds a message for it. wantAssertionsSigned and
// wantMessageSigned drive samlify's login response signing; logout messages to the SP are signed.
function spEntity(s, { wantAssertionsSigned = false, wantMessageSigned = false }) {
  const slo = s.sloUrl ? [BINDING.redirect, BINDING.post].map((Binding) => ({ Binding, Location: s.sloUrl })) : [];
  return samlify.ServiceProvider({
    entityID: s.entityId,
    assertionConsumerService: [{ Binding: BINDING.post, Location: s.acsUrl }],
    singleLogoutService: slo,
    signingCert: s.signingCert,
    encryptCert: s.encryptCert,
    authnRequestsSigned: s.authnRequestsSigned,
    wantAssertionsSigned,
    wantMessageSigned,
    wantLogoutRequestSigned: true,
    wantLogoutResponseSigned: true,
  });
}

// ---- the identity provider ------------------------------------------------------------------------

const RESPONSE_TEMPLATE = '<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="{ID}" Version="2.0" IssueInstant="{IssueInstant}" Destination="{Destination}" InResponseTo="{InResponseTo}"><saml:Issuer>{Issuer}</saml:Issuer><samlp:Status>{StatusXml}</samlp:Status>{AssertionsXml}</samlp:Response>';
const ASSERTION_TEMPLATE = '<saml:Assertion xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="{AssertionID}" Version="2.0" IssueInstant="{IssueInstant}"><saml:Issuer>{Issuer}</saml:Issuer><saml:Subject><saml:NameID Format="{NameIDFormat}">{NameID}</saml:NameID><saml:SubjectConfirmation Method="urn:oasis:names:tc:SAML:2.0:cm:bearer"><saml:SubjectConfirmationData InResponseTo="{InResponseTo}" NotOnOrAfter="{SubjectConfirmationDataNotOnOrAfter}" Recipient="{SubjectRecipient}"/></saml:SubjectConfirmation></saml:Subject>{ConditionsXml}<saml:AuthnStatement AuthnInstant="{AuthnInstant}" SessionIndex="{SessionIndex}"><saml:AuthnContext><saml:AuthnContextClassRef>urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport</saml:AuthnContextClassRef></saml:AuthnContext></saml:AuthnStatement>{AttributeStatementXml}</saml:Assertion>';
const CONDITIONS_TEMPLATE = '<saml:Conditions NotBefore="{ConditionsNotBefore}" NotOnOrAfter="{ConditionsNotOnOrAfter}">{AudienceXml}</saml:Conditions>';
const AUDIENCE_TEMPLATE = '<saml:AudienceRestriction><saml:Audience>{Audience}</saml:Audience></saml:AudienceRestriction>';
const LOGOUT_REQUEST_TEMPLATE = '<samlp:LogoutRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="{ID}" Version="2.0" IssueInstant="{IssueInstant}" Destination="{Destination}"><saml:Issuer>{Issuer}</saml:Issuer><saml:NameID Format="{NameIDFormat}">{NameID}</saml:NameID><samlp:SessionIndex>{SessionIndex}</samlp:SessionIndex></samlp:LogoutRequest>';

let idp = null; // samlify IdentityProvider with the real key (its metadata is /metadata)
function idpEntity(keys, { sigAlg = defaultSigAlg, encrypt = false } = {}) {
  const spSigns = !!sp?.signingCert; // logout messages from the SP are verified when it has a signing cert
  return samlify.IdentityProvider({
    entityID,
    signingCert: keys.certPem,
    privateKey: keys.keyPem,
    requestSignatureAlgorithm: sigAlg,
    wantAuthnRequestsSigned: !!sp?.authnRequestsSigned,
    wantLogoutRequestSigned: spSigns,
    wantLogoutResponseSigned: spSigns,
    isAssertionEncrypted: encrypt,
    nameIDFormat: [NAMEID.email, NAMEID.persistent, NAMEID.unspecified],
    singleSignOnService: [BINDING.redirect, BINDING.post].map((Binding) => ({ Binding, Location: `${base}/sso` })),
    singleLogoutService: [BINDING.redirect, BINDING.post].map((Binding) => ({ Binding, Location: `${base}/slo` })),
    loginResponseTemplate: { context: RESPONSE_TEMPLATE, attributes: [] },
    logoutRequestTemplate: { context: LOGOUT_REQUEST_TEMPLATE },
  });
}
function rebuildIdp() {
  idp = idpEntity(realKeys);
}
rebuildIdp();

// Attribute name -> values of an account (Entra-style claim URIs unless the account lists its own).
function accountAttributes(acct) {
  if (acct.attributes) return acct.attributes;
  return {
    [CLAIM.email]: acct.email,
    [CLAIM.given_name]: acct.first_name,
    [CLAIM.family_name]: acct.last_name,
    [CLAIM.groups]: acct.groups,
  };
}

function attributeStatementXml(attrs) {
  const xml = Object.entries(attrs).filter(([, v]) => v != null).map(([name, v]) => {
    const format = /^[a-z][a-z0-9+.-]*:/i.test(name) ? 'urn:oasis:names:tc:SAML:2.0:attrname-format:uri' : 'urn:oasis:names:tc:SAML:2.0:attrname-format:basic';
    const values = (Array.isArray(v) ? v : [v]).map((x) => `<saml:AttributeValue xmlns:xs="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:type="xs:string">${esc(x)}</saml:AttributeValue>`);
    return `<saml:Attribute Name="${esc(name)}" NameFormat="${format}">${values.join('')}</saml:Attribute>`;
  }).join('');
  return xml && `<saml:AttributeStatement>${xml}</saml:AttributeStatement>`;
}

function statusXml(status, message) {
  const msg = message != null ? `<samlp:StatusMessage>${esc(message)}</samlp:StatusMessage>` : '';
  if (TOP_STATUS.has(status)) return `<samlp:StatusCode Value="${esc(status)}"/>${msg}`;
  // A second-level code (AuthnFailed, RequestDenied, ...) goes under Responder, as IdPs send it.
  return `<samlp:StatusCode Value="urn:oasis:names:tc:SAML:2.0:status:Responder"><samlp:StatusCode Value="${esc(status)}"/></samlp:StatusCode>${msg}`;
}

function takeLogin() {
  const accountId = nextLogin && accounts[nextLogin] ? nextLogin : Object.keys(accounts)[0];
  if (!accountId) throw httpError(400, 'no accounts configured');
  const knobs = nextKnobs;
  nextKnobs = {};
  return { accountId, knobs };
}

// Builds the SAMLResponse (base64) for the next login. `request` is samlify's parsed AuthnRequest
// (null for IdP-initiated).
async function loginResponse(request) {
  if (!sp) throw httpError(400, 'no SP configured: set IDP_CONFIG.sp or POST /test/sp');
  const { accountId, knobs: k } = takeLogin();
  const acct = accounts[accountId];
  const now = Date.now();
  const at = (seconds) => iso(now + seconds * 1000);
  const has = (name) => Object.hasOwn(k, name);

  const status = k.status ?? STATUS_SUCCESS;
  const success = status === STATUS_SUCCESS;
  const requestedFormat = request?.extract?.nameIDPolicy?.format;
  const formatName = k.name_id_format ?? acct.name_id_format
    ?? (requestedFormat === NAMEID.persistent ? 'persistent' : 'email');
  if (!NAMEID[formatName]) throw httpError(400, `name_id_format must be one of ${Object.keys(NAMEID).join(', ')}`);
  const nameId = k.name_id ?? (formatName === 'email' ? acct.email : formatName === 'transient' ? newId() : accountId);
  if (!nameId) throw httpError(400, `account ${accountId} has no email for an emailAddress NameID`);
  const inResponseTo = has('in_response_to') ? k.in_response_to : (request?.extract?.request?.id ?? null);
  const issuer = k.issuer ?? entityID;
  const issueInstant = at(k.issue_instant_offset ?? 0);
  const notOnOrAfter = k.not_on_or_after ?? 300;
  const sessionIndex = newId();
  const responseId = newId();
  const assertionIds = [k.assertion_id ?? newId()];
  if (k.two_assertions) assertionIds.push(newId());

  const fill = (template, tags) => SamlLib.replaceTagsByValue(template, tags);
  const conditions = k.omit_conditions ? '' : fill(CONDITIONS_TEMPLATE, {
    ConditionsNotBefore: at(k.not_before ?? -60),
    ConditionsNotOnOrAfter: at(notOnOrAfter),
  }).replace('{AudienceXml}', () => (k.omit_audience ? '' : fill(AUDIENCE_TEMPLATE, { Audience: k.audience ?? sp.entityId })));
  const assertions = !success ? '' : assertionIds.map((AssertionID) => fill(ASSERTION_TEMPLATE, {
    AssertionID,
    IssueInstant: issueInstant,
    Issuer: issuer,
    NameIDFormat: NAMEID[formatName],
    NameID: nameId,
    InResponseTo: inResponseTo,
    SubjectConfirmationDataNotOnOrAfter: at(k.subject_not_on_or_after ?? notOnOrAfter),
    SubjectRecipient: k.recipient ?? sp.acsUrl,
    AuthnInstant: iso(now),
    SessionIndex: sessionIndex,
  }).replace('{ConditionsXml}', () => conditions)
    .replace('{AttributeStatementXml}', () => attributeStatementXml(k.attributes ?? accountAttributes(acct)))).join('');
  // samlify's customTagReplacement: fills the IdP's loginResponseTemplate.
  const customTagReplacement = (template) => ({
    id: responseId,
    context: fill(template, {
      ID: responseId,
      IssueInstant: issueInstant,
      Destination: k.destination ?? sp.acsUrl,
      InResponseTo: inResponseTo,
      Issuer: issuer,
    }).replace('{StatusXml}', () => statusXml(status, k.status_message)).replace('{AssertionsXml}', () => assertions),
  });

  if (k.encrypt && !sp.encryptCert) throw httpError(400, 'encrypt needs an SP encryption certificate (KeyDescriptor use="encryption" in sp.metadata_xml)');
  if (k.encrypt && k.two_assertions) throw httpError(400, 'encrypt and two_assertions cannot be combined (samlify encrypts one assertion)');
  if (k.tamper_after_signing && k.encrypt) throw httpError(400, 'tamper_after_signing and encrypt cannot be combined');
  let xml;
  const mode = k.signing ?? signingMode;
  if (!['assertion', 'response', 'both'].includes(mode)) throw httpError(400, 'signing must be assertion, response or both');
  if (k.unsigned) {
    const built = customTagReplacement(idp.entitySetting.loginResponseTemplate.context);
    xml = k.encrypt ? Buffer.from(await SamlLib.encryptAssertion(idpEntity(realKeys, { encrypt: true }), sp.entity, built.context), 'base64').toString() : built.context;
  } else {
    // samlify signs the assertion(s) when the SP "wants assertions signed", then encrypts (if the IdP
    // encrypts), then signs the response when the SP "wants messages signed" (or not assertions).
    const signer = idpEntity(k.sign_with_rogue ? rogueKeys : realKeys, {
      sigAlg: k.sig_alg ? sigAlgUri(k.sig_alg) : defaultSigAlg,
      encrypt: !!k.encrypt,
    });
    const target = spEntity(sp, {
      wantAssertionsSigned: success && mode !== 'response',
      wantMessageSigned: !success || mode !== 'assertion',
    });
    const out = await signer.createLoginResponse(target, request, 'post', { email: nameId }, { customTagReplacement, encryptThenSign: true });
    xml = Buffer.from(out.context, 'base64').toString();
  }
  if (k.tamper_after_signing) {
    const to = typeof k.tamper_after_signing === 'string' ? k.tamper_after_signing : (nameId.includes('@') ? 'mallory@example.test' : 'mallory');
    const before = xml;
    xml = xml.replace(/(<saml:NameID [^>]*>)[^<]*(<\/saml:NameID>)/g, (_m, open, close) => `${open}${esc(to)}${close}`);
    if (acct.email) xml = xml.split(`>${esc(acct.email)}<`).join(`>${esc(to)}<`);
    if (xml === before) throw httpError(400, 'tamper_after_signing: nothing to change (error status?)');
  }
  if (k.doctype) xml = `<!DOCTYPE samlp:Response [<!ENTITY idp "${esc(entityID)}">]>${xml}`;
  lastResponse = xml;
  lastLogin = {
    account: accountId, name_id: nameId, name_id_format: NAMEID[formatName], session_index: sessionIndex,
    response_id: responseId, assertion_ids: success ? assertionIds : [], in_response_to: inResponseTo, knobs: k,
  };
  console.error(`SAMLResponse for ${accountId} (${nameId}) in response to ${inResponseTo ?? '(unsolicited)'}${Object.keys(k).length ? ` knobs ${JSON.stringify(k)}` : ''}`);
  return Buffer.from(xml).toString('base64');
}

// ---- HTTP ------------------------------------------------------------------------------------------

// An auto-submitting form (HTTP-POST binding) a client without JavaScript can read: one <form> with
// hidden inputs; values are HTML-escaped; RelayState only when there is one.
function postForm(res, action, fields) {
  const inputs = Object.entries(fields).filter(([, v]) => v != null && v !== '')
    .map(([name, value]) => `<input type="hidden" name="${name}" value="${esc(value)}"/>`).join('');
  const html = `<!DOCTYPE html>\n<html><head><meta charset="utf-8"><title>Continue</title></head><body>\n<form method="post" action="${esc(action)}">${inputs}</form>\n<script>document.forms[0].submit()</script>\n</body></html>\n`;
  res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
  res.end(html);
}

function send(res, status, body, type = 'application/json') {
  const text = type === 'application/json' ? JSON.stringify(body) : body;
  res.writeHead(status, { 'content-type': `${type}; charset=utf-8`, 'cache-control': 'no-store' });
  res.end(text);
}

async function readBody(req) {
  const chunks = [];
  for await (const chunk of req) chunks.push(chunk);
  return Buffer.concat(chunks).toString();
}

async function readJson(req) {
  const text = await readBody(req);
  return text ? JSON.parse(text) : {};
}

// samlify's HTTP-Redirect input: the decoded query, and the signed octet string exactly as sent.
function redirectInput(rawQuery) {
  const raw = new Map(rawQuery.split('&').filter(Boolean).map((p) => {
    const i = p.indexOf('=');
    return i < 0 ? [p, ''] : [p.slice(0, i), p.slice(i + 1)];
  }));
  const message = raw.has('SAMLRequest') ? 'SAMLRequest' : 'SAMLResponse';
  const octetString = [message, 'RelayState', 'SigAlg'].filter((n) => raw.has(n)).map((n) => `${n}=${raw.get(n)}`).join('&');
  return { query: Object.fromEntries(new URLSearchParams(rawQuery)), octetString };
}

// The inbound SAML message of a GET (redirect binding) or form POST: { binding, input, params }.
async function samlInput(req, url) {
  if (req.method === 'GET') {
    const input = redirectInput(url.search.slice(1));
    return { binding: 'redirect', input, params: input.query };
  }
  const params = Object.fromEntries(new URLSearchParams(await readBody(req)));
  return { binding: 'post', input: { body: params }, params };
}

// The XML of an inbound message, for GET /test/last-request (redirect binding: deflated).
function decodeInbound(binding, value) {
  const buf = Buffer.from(value, 'base64');
  try {
    return (binding === 'redirect' ? zlib.inflateRawSync(buf) : buf).toString();
  } catch {
    return value;
  }
}

async function parse(what, fn) {
  try {
    return await fn();
  } catch (err) {
    throw httpError(400, `invalid ${what}: ${err?.message ?? err}`);
  }
}

async function sso(req, res, url) {
  if (!sp) throw httpError(400, 'no SP configured: set IDP_CONFIG.sp or POST /test/sp');
  const { binding, input, params } = await samlInput(req, url);
  if (!params.SAMLRequest) throw httpError(400, 'SAMLRequest is missing');
  lastRequest = decodeInbound(binding, params.SAMLRequest);
  const request = await parse('AuthnRequest', () => idp.parseLoginRequest(sp.entity, binding, input));
  const { issuer, request: r } = request.extract;
  if (issuer !== sp.entityId) throw httpError(400, `AuthnRequest issuer ${issuer} is not the configured SP ${sp.entityId}`);
  const acs = r.assertionConsumerServiceUrl; // samlify camel-cases attribute names
  if (acs && acs !== sp.acsUrl) throw httpError(400, `AssertionConsumerServiceURL ${acs} is not the configured acs_url ${sp.acsUrl}`);
  postForm(res, sp.acsUrl, { SAMLResponse: await loginResponse(request), RelayState: params.RelayState });
}

function requireSlo() {
  if (!sp) throw httpError(400, 'no SP configured');
  if (!sp.sloUrl) throw httpError(400, 'the SP has no slo_url');
}

async function slo(req, res, url) {
  requireSlo();
  const { binding, input, params } = await samlInput(req, url);
  if (params.SAMLResponse) {
    // The SP answering an IdP-initiated LogoutRequest.
    lastRequest = decodeInbound(binding, params.SAMLResponse);
    const parsed = await parse('LogoutResponse', () => idp.parseLogoutResponse(sp.entity, binding, input));
    console.error(`LogoutResponse from the SP in response to ${parsed.extract.response?.inResponseTo}`);
    send(res, 200, '<!DOCTYPE html>\n<html><body><p>Signed out.</p></body></html>\n', 'text/html');
    return;
  }
  if (!params.SAMLRequest) throw httpError(400, 'SAMLRequest or SAMLResponse is missing');
  lastRequest = decodeInbound(binding, params.SAMLRequest);
  const parsed = await parse('LogoutRequest', () => idp.parseLogoutRequest(sp.entity, binding, input));
  if (parsed.extract.issuer !== sp.entityId) throw httpError(400, `LogoutRequest issuer ${parsed.extract.issuer} is not the configured SP`);
  console.error(`LogoutRequest from the SP for ${parsed.extract.nameID}`);
  const out = idp.createLogoutResponse(sp.entity, parsed, sp.sloBinding, { relayState: params.RelayState ?? '' });
  if (sp.sloBinding === 'redirect') {
    res.writeHead(303, { location: out.context, 'cache-control': 'no-store' });
    res.end();
  } else {
    postForm(res, sp.sloUrl, { SAMLResponse: out.context, RelayState: params.RelayState });
  }
}

async function logoutRequest(req, res) {
  requireSlo();
  const body = await readJson(req);
  const nameId = body.name_id ?? lastLogin?.name_id;
  if (!nameId) throw httpError(400, 'name_id is missing (and there was no login)');
  const format = body.name_id_format ? NAMEID[body.name_id_format] : (body.name_id ? NAMEID.email : lastLogin.name_id_format);
  if (!format) throw httpError(400, `name_id_format must be one of ${Object.keys(NAMEID).join(', ')}`);
  const sessionIndex = body.session_index === undefined ? (body.name_id ? undefined : lastLogin?.session_index) : body.session_index;
  const id = newId();
  const customTagReplacement = (template) => ({
    id,
    context: SamlLib.replaceTagsByValue(template, {
      ID: id, IssueInstant: iso(Date.now()), Destination: sp.sloUrl, Issuer: entityID,
      NameIDFormat: format, NameID: nameId, SessionIndex: sessionIndex ?? null,
    }),
  });
  const out = idp.createLogoutRequest(sp.entity, sp.sloBinding, { logoutNameID: nameId, sessionIndex }, { relayState: body.relay_state ?? '', customTagReplacement });
  console.error(`LogoutRequest to the SP for ${nameId}`);
  if (sp.sloBinding === 'redirect') {
    res.writeHead(303, { location: out.context, 'cache-control': 'no-store' });
    res.end();
  } else {
    postForm(res, sp.sloUrl, { SAMLRequest: out.context, RelayState: body.relay_state });
  }
}

async function setNextLogin(req, res) {
  const body = await readJson(req);
  const { account, ...knobs } = body;
  if (account != null && !accounts[account]) throw httpError(400, `unknown account ${account}`);
  const unknown = Object.keys(knobs).filter((n) => !KNOBS.has(n));
  if (unknown.length) throw httpError(400, `unknown knob(s) ${unknown.join(', ')}`);
  if (knobs.sig_alg) sigAlgUri(knobs.sig_alg);
  if (Object.hasOwn(body, 'account')) nextLogin = account ?? null;
  nextKnobs = knobs;
  send(res, 200, { next_login: nextLogin, knobs: nextKnobs });
}

async function route(req, res) {
  const url = new URL(req.url, base);
  const { pathname: path } = url;
  const { method } = req;
  if (method === 'GET' && path === '/metadata') return send(res, 200, idp.getMetadata(), 'application/samlmetadata+xml');
  if ((method === 'GET' || method === 'POST') && path === '/sso') return sso(req, res, url);
  if ((method === 'GET' || method === 'POST') && path === '/slo') return slo(req, res, url);
  if (method === 'GET' && path === '/test/health') return send(res, 200, { ok: true, entity_id: entityID });
  if (method === 'GET' && path === '/test/cert') return send(res, 200, realKeys.certPem, 'application/x-pem-file');
  if (method === 'GET' && path === '/test/rogue-cert') return send(res, 200, rogueKeys.certPem, 'application/x-pem-file');
  if (method === 'GET' && path === '/test/rogue-metadata') return send(res, 200, idpEntity(rogueKeys).getMetadata(), 'application/samlmetadata+xml');
  if (method === 'GET' && path === '/test/last-response') return lastResponse ? send(res, 200, lastResponse, 'text/xml') : send(res, 404, 'no response yet', 'text/plain');
  if (method === 'GET' && path === '/test/last-request') return lastRequest ? send(res, 200, lastRequest, 'text/xml') : send(res, 404, 'no request yet', 'text/plain');
  if (method === 'GET' && path === '/test/last-login') return lastLogin ? send(res, 200, lastLogin) : send(res, 404, { error: 'no login yet' });
  if (method === 'POST' && path === '/test/next-login') return setNextLogin(req, res);
  if (method === 'POST' && path === '/test/sp') {
    const body = await readJson(req);
    const merged = { ...spConfig };
    for (const [key, v] of Object.entries(body)) if (v === null) delete merged[key]; else merged[key] = v;
    setSp(merged);
    const { entity: _e, ...view } = sp;
    return send(res, 200, view);
  }
  if (method === 'POST' && path === '/test/accounts') {
    const body = await readJson(req);
    if (url.searchParams.get('replace') === 'true') accounts = {};
    for (const [id, a] of Object.entries(body)) {
      if (a === null) delete accounts[id];
      else accounts[id] = { ...accounts[id], ...a };
    }
    return send(res, 200, accounts);
  }
  if (method === 'POST' && path === '/test/logout-request') return logoutRequest(req, res);
  if (method === 'GET' && path === '/test/idp-initiated') {
    const response = await loginResponse(null);
    return postForm(res, sp.acsUrl, { SAMLResponse: response, RelayState: url.searchParams.get('relay_state') });
  }
  return send(res, 404, { error: 'not_found', error_description: `${method} ${path}` });
}

server.on('request', (req, res) => {
  route(req, res).catch((err) => {
    console.error(`${req.method} ${req.url}:`, err.status ? err.message : err);
    if (!res.headersSent) send(res, err.status ?? (err instanceof SyntaxError ? 400 : 500), { error: err.status ? 'invalid_request' : 'server_error', error_description: err.message });
    else res.end();
  });
});

if (config.sp) setSp(config.sp);
writeStdout(`READY ${base}\n`);

const stop = () => process.exit(0);
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
// The test harness holds our stdin pipe; when it drops the child (or dies), the pipe closes.
const stdin = fs.fstatSync(0);
if (stdin.isFIFO() || stdin.isSocket()) {
  process.stdin.on('end', stop).on('close', stop).resume();
}
