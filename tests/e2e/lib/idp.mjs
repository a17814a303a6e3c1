// Helpers for end-to-end tests that need the development OpenID provider (deploy/dev-idp/server.mjs).
//
//   const idp = await startIdp({ jitgateUrl: jg.url });          // own port, own temp keys
//   const loc = await driveLogin(authorizationUrl, 'alice');     // the redirect to the client, not followed
//   const { access_token } = await accessToken(idp, 'alice');    // a real JWT for idp.audience
//   await confirmDevice(idp, userCode, 'alice');                 // the user side of the device flow
//   await driveLogout(idp, { id_token_hint, post_logout_redirect_uri }, jar)
//   decodeJwt(token)                                             // { header, payload, signature }
//
// Everything goes over plain HTTP on 127.0.0.1, with node's fetch and a cookie jar of our own.
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { ROOT, freePort } from './common.mjs';

export const SERVER = join(ROOT, 'deploy', 'dev-idp', 'server.mjs');
export const CLI_CLIENT_ID = 'jitgate-cli';
export const CLI_REDIRECT_URI = 'http://127.0.0.1/callback';
export const DEVICE_CODE_GRANT = 'urn:ietf:params:oauth:grant-type:device_code';

export const USERS = {
  alice: ['payments-eng'],
  bob: ['payments-leads'],
  carol: ['payments-leads', 'privacy'],
  grace: ['privacy'],
  dave: ['contractors', 'payments-eng'],
  erin: ['auditors'],
  frank: ['sre-oncall'],
  oscar: ['jitgate-admins'],
};

const sleep = (ms) => new Promise((ok) => setTimeout(ok, ms));

// ---------------------------------------------------------------- process

class Idp {
  constructor({ port, jitgateUrl, audience, keyFile, clientSecretFile, dir }) {
    this.port = port;
    this.url = `http://127.0.0.1:${port}`; // the issuer
    this.jitgateUrl = jitgateUrl;
    this.audience = audience;
    this.keyFile = keyFile;
    this.clientSecretFile = clientSecretFile;
    this.dir = dir; // temporary directory we own (removed by stop()), or null
    this.out = '';
    this.err = '';
    this.proc = null;
    this.exited = null;
  }

  get clientSecret() {
    return readFileSync(this.clientSecretFile, 'utf8').trim();
  }

  stdout() { return this.out; }

  stderr() { return this.err; }

  // How many times the JWKS was fetched since startIdp() (over restarts too).
  jwksRequests() {
    return this.out.split('\n').filter((l) => l === 'JWKS_REQUEST').length;
  }

  async spawn() {
    const env = {
      ...process.env,
      PORT: String(this.port),
      JITGATE_URL: this.jitgateUrl,
      AUDIENCE: this.audience,
      KEY_FILE: this.keyFile,
      CLIENT_SECRET_FILE: this.clientSecretFile,
      DEV_IDP_TEST_HOOKS: '1',
    };
    const proc = spawn(process.execPath, [SERVER], { env, cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    this.proc = proc;
    this.exited = null;
    proc.stdout.setEncoding('utf8');
    proc.stderr.setEncoding('utf8');
    proc.stdout.on('data', (d) => { this.out += d; });
    proc.stderr.on('data', (d) => { this.err += d; });
    this.exitPromise = new Promise((ok) => proc.on('exit', (code, signal) => {
      if (this.proc === proc) this.exited = { code, signal };
      ok({ code, signal });
    }));
    const until = Date.now() + 15000;
    for (;;) {
      if (this.exited) throw new Error(`dev-idp exited early: ${JSON.stringify(this.exited)}\n${this.err}`);
      try {
        const r = await fetch(`${this.url}/.well-known/openid-configuration`);
        if (r.status === 200) {
          this.discovery = await r.json();
          return this;
        }
      } catch { /* not listening yet */ }
      if (Date.now() > until) throw new Error(`dev-idp did not start:\n${this.err}`);
      await sleep(50);
    }
  }

  async kill(signal = 'SIGTERM') {
    if (this.proc && !this.exited) this.proc.kill(signal);
    if (this.exitPromise) await this.exitPromise;
  }

  // Stops the process (all sessions, grants and codes are lost) and starts it again on the same
  // port, with the same key file unless keyFile is given (a path that does not exist yet gets a
  // fresh key, so a new kid).
  async restart({ keyFile } = {}) {
    await this.kill();
    if (keyFile) this.keyFile = keyFile;
    return this.spawn();
  }

  // Test hook: a new signing key (new kid) without a restart; the old public key stays in the
  // JWKS unless retain is false.  Resolves { kid, previous_kid, kids }.
  async rotateKey({ retain = true } = {}) {
    const r = await fetch(`${this.url}/__test/rotate-key${retain ? '' : '?retain=0'}`, { method: 'POST' });
    if (r.status !== 200) throw new Error(`rotate-key: ${r.status}`);
    return r.json();
  }

  // Test hook: replaces user's groups (tokens issued afterwards carry them).
  async setGroups(user, groups) {
    const r = await fetch(`${this.url}/__test/set-groups`, {
      method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ user, groups }),
    });
    if (r.status !== 200) throw new Error(`set-groups: ${r.status}`);
    return r.json();
  }

  async stop() {
    await this.kill();
    if (this.dir) rmSync(this.dir, { recursive: true, force: true });
  }
}

// Starts the provider on a free port.  keyFile: a private JWKS to use (created if missing);
// by default a fresh one in a temporary directory.
export async function startIdp({
  jitgateUrl = 'https://127.0.0.1:8443', audience, keyFile, clientSecretFile, port,
} = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'jg-idp-'));
  const idp = new Idp({
    port: port ?? await freePort(),
    jitgateUrl,
    audience: audience ?? jitgateUrl,
    keyFile: keyFile ?? join(dir, 'jwks.json'),
    clientSecretFile: clientSecretFile ?? join(dir, 'client-secret'),
    dir,
  });
  try {
    return await idp.spawn();
  } catch (e) {
    await idp.stop();
    throw e;
  }
}

// ---------------------------------------------------------------- HTTP with cookies

// A minimal cookie jar: enough for the provider's cookies (host-only, path-scoped, no domain).
export class CookieJar {
  constructor() { this.cookies = new Map(); } // `${origin} ${path} ${name}` -> {origin, path, name, value}

  store(url, res) {
    const u = new URL(url);
    for (const line of res.headers.getSetCookie()) {
      const [pair, ...attrs] = line.split(';');
      const eq = pair.indexOf('=');
      if (eq < 1) continue;
      const name = pair.slice(0, eq).trim();
      const value = pair.slice(eq + 1).trim();
      let path = u.pathname.replace(/\/[^/]*$/, '') || '/';
      let expired = value === '';
      for (const a of attrs) {
        const [k, v = ''] = a.split('=');
        const key = k.trim().toLowerCase();
        if (key === 'path') path = v.trim() || '/';
        if (key === 'max-age' && Number(v) <= 0) expired = true;
        if (key === 'expires' && Date.parse(v) <= Date.now()) expired = true;
      }
      const id = `${u.origin} ${path} ${name}`;
      if (expired) this.cookies.delete(id);
      else this.cookies.set(id, { origin: u.origin, path, name, value });
    }
  }

  header(url) {
    const u = new URL(url);
    const out = [];
    for (const c of this.cookies.values()) {
      if (c.origin !== u.origin) continue;
      if (!(u.pathname === c.path || u.pathname.startsWith(c.path.endsWith('/') ? c.path : `${c.path}/`))) continue;
      out.push(`${c.name}=${c.value}`);
    }
    return out.join('; ');
  }
}

// One request, redirects not followed.  body: an object → form-urlencoded.
async function request(jar, url, { method = 'GET', form, headers = {} } = {}) {
  const h = { ...headers };
  const cookie = jar.header(url);
  if (cookie) h.cookie = cookie;
  let body;
  if (form) {
    body = new URLSearchParams(form).toString();
    h['content-type'] = 'application/x-www-form-urlencoded';
  }
  const res = await fetch(url, { method, headers: h, body, redirect: 'manual' });
  jar.store(url, res);
  const text = await res.text();
  return { status: res.status, headers: res.headers, text, location: res.headers.get('location') };
}

const decodeEntities = (s) => s.replace(/&(amp|lt|gt|quot|#39|#x27|#(\d+));/g, (m, n, d) => (
  d ? String.fromCharCode(Number(d)) : { amp: '&', lt: '<', gt: '>', quot: '"', '#39': "'", '#x27': "'" }[n]));

// The forms of a page: [{ id, action, fields: {name: value} }] (hidden and valued inputs only).
function parseForms(html, base) {
  const forms = [];
  for (const m of html.matchAll(/<form\b([^>]*)>([\s\S]*?)<\/form>/gi)) {
    const attr = (s, name) => {
      const a = s.match(new RegExp(`\\b${name}\\s*=\\s*"([^"]*)"`, 'i'));
      return a ? decodeEntities(a[1]) : undefined;
    };
    const fields = {};
    for (const i of m[2].matchAll(/<input\b([^>]*)>/gi)) {
      const name = attr(i[1], 'name');
      const value = attr(i[1], 'value');
      if (name && value !== undefined) fields[name] = value;
    }
    forms.push({ id: attr(m[1], 'id'), action: new URL(attr(m[1], 'action') ?? base, base).href, fields });
  }
  return forms;
}

// Walks the provider's pages from url: follows redirects within the provider, signs in as user on
// the login form (password "x"), consents, and for the device flow enters and confirms userCode.
// Ends at the first redirect that leaves the provider → { location }, or at a page without a form
// (the device flow's success page) → { page, status }.
async function walk(url, user, jar, { userCode } = {}) {
  const origin = new URL(url).origin;
  let next = { url, method: 'GET' };
  let loggedIn = false;
  let codeEntered = false;
  for (let step = 0; step < 30; step++) {
    const r = await request(jar, next.url, next);
    if (r.status >= 300 && r.status < 400 && r.location) {
      const loc = new URL(r.location, next.url);
      if (loc.origin !== origin) return { location: loc.href };
      next = { url: loc.href, method: 'GET' };
      continue;
    }
    if (r.status !== 200) {
      throw new Error(`dev-idp: ${next.method} ${next.url} answered ${r.status}: ${r.text.replace(/<[^>]*>/g, ' ').replace(/\s+/g, ' ').trim().slice(0, 300)}`);
    }
    const forms = parseForms(r.text, next.url);
    const form = forms.find((f) => f.fields.prompt || f.id === 'op.deviceInputForm' || f.id === 'op.deviceConfirmForm');
    if (!form) return { page: r.text, status: r.status };
    let fields;
    if (form.fields.prompt === 'login') {
      if (loggedIn) throw new Error(`dev-idp: login as ${user} was not accepted`);
      loggedIn = true;
      fields = { prompt: 'login', login: user, password: 'x' };
    } else if (form.fields.prompt === 'consent') {
      fields = { prompt: 'consent' };
    } else if (form.id === 'op.deviceInputForm') {
      if (!userCode) throw new Error('dev-idp: the device page asks for a user code');
      if (codeEntered) throw new Error(`dev-idp: user code ${userCode} was not accepted`);
      codeEntered = true;
      fields = { ...form.fields, user_code: userCode };
    } else {
      fields = { ...form.fields }; // device confirmation: xsrf, user_code, confirm=yes
    }
    next = { url: form.action, method: 'POST', form: fields };
  }
  throw new Error('dev-idp: too many steps');
}

// Given the provider's authorization URL (where jitgate's /auth/login redirects to), signs in as
// user and consents; resolves the final Location (the redirect to the client's redirect_uri with
// code, state and iss — or error) without following it.  Rejects when the login is refused.
export async function driveLogin(authorizationUrl, user, jar = new CookieJar()) {
  const r = await walk(authorizationUrl, user, jar);
  if (!r.location) throw new Error('dev-idp: the authorization flow ended on a page, not a redirect');
  return r.location;
}

// RP-initiated logout: opens the end_session_endpoint with the given parameters (id_token_hint,
// post_logout_redirect_uri, state, client_id), answers "Yes, sign me out" on the provider's page
// and resolves the final Location (the post-logout redirect) without following it.  Use the jar
// of the login so there is a session to end.
export async function driveLogout(idp, params, jar = new CookieJar()) {
  const u = new URL(idp.discovery.end_session_endpoint);
  for (const [k, v] of Object.entries(params)) if (v !== undefined) u.searchParams.set(k, v);
  const page = await request(jar, u.href);
  if (page.status !== 200) throw new Error(`dev-idp: end_session answered ${page.status}: ${page.text.slice(0, 300)}`);
  const form = parseForms(page.text, u.href).find((f) => f.id === 'op.logoutForm');
  if (!form) throw new Error('dev-idp: no logout form');
  const r = await request(jar, form.action, { method: 'POST', form: { ...form.fields, logout: 'yes' } });
  if (!(r.status >= 300 && r.status < 400 && r.location)) throw new Error(`dev-idp: logout answered ${r.status}`);
  return new URL(r.location, form.action).href;
}

// ---------------------------------------------------------------- tokens

export function pkcePair() {
  const verifier = randomBytes(32).toString('base64url');
  const challenge = createHash('sha256').update(verifier).digest('base64url');
  return { verifier, challenge };
}

async function postForm(url, form, headers = {}) {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
    body: new URLSearchParams(form).toString(),
  });
  const text = await res.text();
  let json = null;
  try { json = JSON.parse(text); } catch { /* not JSON */ }
  return { status: res.status, json, text };
}

// A real access token (JWT for audience) and ID token for user, through the authorization code
// flow of the public jitgate-cli client with PKCE and the resource indicator at /auth and /token.
// Resolves the token endpoint's reply ({ access_token, id_token, token_type, expires_in, scope }).
export async function accessToken(idp, user, {
  audience = idp.audience, scope = 'openid email profile', nonce, jar = new CookieJar(),
} = {}) {
  const { verifier, challenge } = pkcePair();
  const state = randomBytes(16).toString('base64url');
  const auth = new URL(idp.discovery.authorization_endpoint);
  const params = {
    client_id: CLI_CLIENT_ID,
    response_type: 'code',
    redirect_uri: CLI_REDIRECT_URI,
    scope,
    state,
    code_challenge: challenge,
    code_challenge_method: 'S256',
  };
  if (audience) params.resource = audience;
  if (nonce) params.nonce = nonce;
  for (const [k, v] of Object.entries(params)) auth.searchParams.set(k, v);
  const loc = new URL(await driveLogin(auth.href, user, jar));
  if (loc.searchParams.get('error')) throw new Error(`dev-idp: ${loc.searchParams.get('error')}: ${loc.searchParams.get('error_description')}`);
  if (loc.searchParams.get('state') !== state) throw new Error('dev-idp: state mismatch');
  if (loc.searchParams.get('iss') !== idp.url) throw new Error('dev-idp: iss mismatch');
  const form = {
    grant_type: 'authorization_code',
    code: loc.searchParams.get('code'),
    redirect_uri: CLI_REDIRECT_URI,
    client_id: CLI_CLIENT_ID,
    code_verifier: verifier,
  };
  if (audience) form.resource = audience;
  const r = await postForm(idp.discovery.token_endpoint, form);
  if (r.status !== 200) throw new Error(`dev-idp: token endpoint answered ${r.status}: ${r.text}`);
  return r.json;
}

// Starts a device authorization for jitgate-cli: { device_code, user_code, verification_uri,
// verification_uri_complete, expires_in }.  (The reply has no `interval`: poll every 5 s.)
export async function deviceAuthorization(idp, { audience = idp.audience, scope = 'openid' } = {}) {
  const form = { client_id: CLI_CLIENT_ID, scope };
  if (audience) form.resource = audience;
  const r = await postForm(idp.discovery.device_authorization_endpoint, form);
  if (r.status !== 200) throw new Error(`dev-idp: device authorization answered ${r.status}: ${r.text}`);
  return r.json;
}

// The user side of the device flow for userCode: the /device page (with its xsrf field), the
// confirmation, the login form as user, the consent.  Resolves the final page's HTML.
export async function confirmDevice(idp, userCode, user, jar = new CookieJar()) {
  const r = await walk(new URL('/device', idp.url).href, user, jar, { userCode });
  if (r.location) throw new Error(`dev-idp: device flow left the provider for ${r.location}`);
  if (!/success/i.test(r.page)) throw new Error(`dev-idp: device flow did not succeed: ${r.page.replace(/<[^>]*>/g, ' ').replace(/\s+/g, ' ').trim().slice(0, 300)}`);
  return r.page;
}

// One poll of the token endpoint with the device code: { status, json }.
export function pollDeviceToken(idp, deviceCode) {
  return postForm(idp.discovery.token_endpoint, {
    grant_type: DEVICE_CODE_GRANT, device_code: deviceCode, client_id: CLI_CLIENT_ID,
  });
}

// ---------------------------------------------------------------- JWT

// Decodes without verifying: { header, payload, signature (base64url) }.
export function decodeJwt(token) {
  const parts = String(token).split('.');
  if (parts.length !== 3) throw new Error('not a compact JWS');
  const part = (s) => JSON.parse(Buffer.from(s, 'base64url').toString('utf8'));
  return { header: part(parts[0]), payload: part(parts[1]), signature: parts[2] };
}
