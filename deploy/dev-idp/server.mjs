// jitgate's development OpenID provider — for `make run` and the end-to-end tests only.
// NOT for production: its login form checks no password (any password is accepted for the
// fixed users below), all state is in memory, and it speaks plain HTTP on loopback.
//
// Configuration (environment):
//   PORT                (9000)                     listens on 127.0.0.1:PORT; issuer http://127.0.0.1:PORT
//   JITGATE_URL         (https://127.0.0.1:8443)   redirect URI ${JITGATE_URL}/auth/callback,
//                                                  post-logout redirect URI ${JITGATE_URL}/
//   AUDIENCE            (= JITGATE_URL)            resource indicator of jitgate's JWT access tokens
//   KEY_FILE            (var/dev-idp/jwks.json)    private JWKS, created at first start (0600)
//   CLIENT_SECRET_FILE  (var/dev-idp/client-secret) secret of the `jitgate` client, created at first start (0600)
//   DEV_IDP_TEST_HOOKS  (unset)                    1 enables POST /__test/rotate-key and
//                                                  POST /__test/set-groups
// Relative KEY_FILE / CLIENT_SECRET_FILE values are taken from the current directory; the defaults
// are under the repository root.
import http from 'node:http';
import crypto from 'node:crypto';
import {
  existsSync, mkdirSync, readFileSync, renameSync, statSync, writeFileSync,
} from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

import * as jose from 'jose';
import Provider, { errors } from 'oidc-provider';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

const PORT = Number(process.env.PORT || 9000);
const ISSUER = `http://127.0.0.1:${PORT}`;
const JITGATE_URL = (process.env.JITGATE_URL || 'https://127.0.0.1:8443').replace(/\/+$/, '');
const AUDIENCE = process.env.AUDIENCE || JITGATE_URL;
const KEY_FILE = process.env.KEY_FILE ? resolve(process.env.KEY_FILE) : join(ROOT, 'var/dev-idp/jwks.json');
const CLIENT_SECRET_FILE = process.env.CLIENT_SECRET_FILE
  ? resolve(process.env.CLIENT_SECRET_FILE) : join(ROOT, 'var/dev-idp/client-secret');
const TEST_HOOKS = process.env.DEV_IDP_TEST_HOOKS === '1';

const SIGNING_ALG = 'RS256';
const ACCESS_TOKEN_TTL = 10 * 60;

// The fixed users.  sub = login name; any password is accepted for them, every other name fails.
const USERS = {
  alice: { groups: ['payments-eng'], name: 'Alice Engineer' },
  bob: { groups: ['payments-leads'], name: 'Bob Lead' },
  carol: { groups: ['payments-leads', 'privacy'], name: 'Carol Lead' },
  grace: { groups: ['privacy'], name: 'Grace Privacy' },
  dave: { groups: ['contractors', 'payments-eng'], name: 'Dave Contractor' },
  erin: { groups: ['auditors'], name: 'Erin Auditor' },
  frank: { groups: ['sre-oncall'], name: 'Frank Oncall' },
  oscar: { groups: ['jitgate-admins'], name: 'Oscar Admin' },
};
for (const [login, u] of Object.entries(USERS)) u.email = `${login}@example.com`;

function userClaims(login) {
  const u = Object.hasOwn(USERS, login) ? USERS[login] : undefined;
  if (!u) return undefined;
  return {
    sub: login, groups: [...u.groups], email: u.email, email_verified: true, name: u.name, preferred_username: login,
  };
}

// ---- files: created once with owner-only permissions, reused afterwards ----

function ensureDir(dir) {
  if (!existsSync(dir)) mkdirSync(dir, { recursive: true, mode: 0o700 });
}

function writePrivate(path, text) {
  ensureDir(dirname(path));
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, text, { mode: 0o600, flag: 'wx' });
  renameSync(tmp, path);
}

function warnIfShared(path) {
  const mode = statSync(path).mode & 0o777;
  if (mode & 0o077) process.stderr.write(`dev-idp: warning: ${path} has mode ${mode.toString(8)}, expected 600\n`);
}

async function newSigningKey() {
  const { privateKey } = await jose.generateKeyPair(SIGNING_ALG, { modulusLength: 2048, extractable: true });
  const jwk = await jose.exportJWK(privateKey);
  jwk.kid = await jose.calculateJwkThumbprint(jwk, 'sha256');
  jwk.alg = SIGNING_ALG;
  jwk.use = 'sig';
  return jwk;
}

async function loadOrCreateKeys() {
  if (existsSync(KEY_FILE)) {
    warnIfShared(KEY_FILE);
    const jwks = JSON.parse(readFileSync(KEY_FILE, 'utf8'));
    if (!Array.isArray(jwks.keys) || jwks.keys.length === 0) throw new Error(`${KEY_FILE}: no keys`);
    return jwks;
  }
  const jwks = { keys: [await newSigningKey()] };
  writePrivate(KEY_FILE, `${JSON.stringify(jwks, null, 2)}\n`);
  return jwks;
}

function loadOrCreateClientSecret() {
  if (existsSync(CLIENT_SECRET_FILE)) {
    warnIfShared(CLIENT_SECRET_FILE);
    const s = readFileSync(CLIENT_SECRET_FILE, 'utf8').trim();
    if (s.length < 16) throw new Error(`${CLIENT_SECRET_FILE}: secret too short`);
    return s;
  }
  const s = crypto.randomBytes(32).toString('base64url');
  writePrivate(CLIENT_SECRET_FILE, `${s}\n`);
  return s;
}

// ---- provider ----

const CLIENT_SECRET = loadOrCreateClientSecret();
// Session and interaction cookies stay valid when the provider is rebuilt for a key rotation.
const COOKIE_KEYS = [crypto.randomBytes(32).toString('base64url')];

function configuration(jwks) {
  return {
    jwks,
    cookies: { keys: COOKIE_KEYS },
    clients: [
      {
        client_id: 'jitgate',
        client_name: 'jitgate',
        client_secret: CLIENT_SECRET,
        token_endpoint_auth_method: 'client_secret_basic',
        grant_types: ['authorization_code', 'refresh_token'],
        response_types: ['code'],
        redirect_uris: [`${JITGATE_URL}/auth/callback`],
        post_logout_redirect_uris: [`${JITGATE_URL}/`],
      },
      {
        client_id: 'jitgate-cli',
        client_name: 'jitgate CLI',
        token_endpoint_auth_method: 'none',
        grant_types: ['urn:ietf:params:oauth:grant-type:device_code', 'authorization_code'],
        response_types: ['code'],
        redirect_uris: ['http://127.0.0.1/callback'],
      },
    ],
    async findAccount(ctx, sub) {
      if (!userClaims(sub)) return undefined; // unknown login: no session, no token
      return { accountId: sub, async claims() { return userClaims(sub); } };
    },
    claims: {
      openid: ['sub', 'groups'], // groups always goes into the ID token
      email: ['email', 'email_verified'],
      profile: ['name', 'preferred_username'],
    },
    conformIdTokenClaims: false, // email/profile claims in the ID token too, not only at userinfo
    async extraTokenClaims(ctx, token) {
      const c = token.accountId ? userClaims(token.accountId) : undefined;
      if (!c) return undefined;
      return { groups: c.groups, email: c.email, name: c.name };
    },
    responseTypes: ['code'],
    pkce: { required: () => true },
    features: {
      devInteractions: { enabled: true },
      deviceFlow: { enabled: true },
      revocation: { enabled: true },
      rpInitiatedLogout: { enabled: true },
      userinfo: { enabled: true },
      resourceIndicators: {
        enabled: true,
        // No resource asked for (e.g. a device-flow login without --audience): jitgate.
        defaultResource: async (ctx, client, oneOf) => oneOf ?? AUDIENCE,
        // A token request without `resource` still gets the JWT for the resource granted at /auth.
        useGrantedResource: async () => true,
        getResourceServerInfo: async (ctx, resourceIndicator) => {
          if (resourceIndicator !== AUDIENCE) throw new errors.InvalidTarget(`unknown resource; this provider serves ${AUDIENCE}`);
          return {
            scope: 'openid email profile',
            audience: AUDIENCE,
            accessTokenTTL: ACCESS_TOKEN_TTL,
            accessTokenFormat: 'jwt',
            jwt: { sign: { alg: SIGNING_ALG } },
          };
        },
      },
    },
    ttl: {
      AccessToken: ACCESS_TOKEN_TTL,
      AuthorizationCode: 60,
      DeviceCode: 10 * 60,
      IdToken: 60 * 60,
      Interaction: 60 * 60,
      Session: 8 * 60 * 60,
      Grant: 8 * 60 * 60,
      RefreshToken: 24 * 60 * 60,
    },
  };
}

// The pages of oidc-provider import a web font from the Internet; nothing here may leave loopback.
const FONT_IMPORT = /@import url\(https:\/\/fonts\.googleapis\.com\/[^)]*\);/g;

function readBody(req) {
  return new Promise((ok, fail) => {
    const chunks = [];
    let size = 0;
    req.on('data', (c) => {
      size += c.length;
      if (size > 16384) { fail(new Error('request body too large')); req.destroy(); return; }
      chunks.push(c);
    });
    req.on('end', () => ok(Buffer.concat(chunks).toString('utf8')));
    req.on('error', fail);
  });
}

function escapeHtml(s) {
  return String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

// The dev login form takes any name; refuse names that are not in USERS before oidc-provider sees
// them, with a page that says so (findAccount refusing them as well keeps them out of every token).
async function refuseUnknownLogin(ctx) {
  if (ctx.method !== 'POST' || !/^\/interaction\/[^/]+$/.test(ctx.path) || !ctx.is('application/x-www-form-urlencoded')) {
    return false;
  }
  const raw = await readBody(ctx.req);
  ctx.req.body = raw; // oidc-provider parses it from here (it warns once about an upstream parser)
  const form = new URLSearchParams(raw);
  if (form.get('prompt') !== 'login' || userClaims(form.get('login') ?? '')) return false;
  ctx.status = 403;
  ctx.type = 'html';
  ctx.set('cache-control', 'no-store');
  ctx.body = `<!DOCTYPE html><html><head><meta charset="utf-8"><title>Sign-in refused</title></head><body>
<h1>Sign-in refused</h1><p>Unknown user <code>${escapeHtml(form.get('login') ?? '')}</code>.
This development provider knows only: ${Object.keys(USERS).join(', ')}.</p>
<p><a href="${escapeHtml(ctx.path)}">Try again</a></p></body></html>`;
  return true;
}

function buildProvider(jwks) {
  const provider = new Provider(ISSUER, configuration(jwks));
  const jwksPath = new URL(provider.urlFor('jwks')).pathname;
  provider.use(async (ctx, next) => {
    if (ctx.method === 'GET' && ctx.path === jwksPath) process.stdout.write('JWKS_REQUEST\n');
    if (await refuseUnknownLogin(ctx)) return;
    await next();
    if (typeof ctx.body === 'string' && ctx.body.includes('fonts.googleapis.com')) {
      ctx.body = ctx.body.replace(FONT_IMPORT, '');
    }
  });
  provider.on('server_error', (ctx, err) => process.stderr.write(`dev-idp: server_error: ${err.stack}\n`));
  return { provider, handler: provider.callback() };
}

let keys = await loadOrCreateKeys();
let current = buildProvider(keys);

async function rotateKey(req, res) {
  // ?retain=0 drops the previous key from the JWKS (tokens it signed stop verifying).
  const retain = new URL(req.url, ISSUER).searchParams.get('retain') !== '0';
  const fresh = await newSigningKey();
  const previous = keys.keys[0].kid;
  keys = { keys: retain ? [fresh, ...keys.keys] : [fresh] };
  writePrivate(KEY_FILE, `${JSON.stringify(keys, null, 2)}\n`);
  current = buildProvider(keys);
  process.stderr.write(`dev-idp: signing key rotated: ${previous} -> ${fresh.kid}\n`);
  res.writeHead(200, { 'content-type': 'application/json' });
  res.end(JSON.stringify({ kid: fresh.kid, previous_kid: previous, kids: keys.keys.map((k) => k.kid) }));
}

// Test hook: {"user": "alice", "groups": ["sales"]} replaces a fixed user's groups, as a
// directory change would: tokens issued from now on carry the new groups.
async function setGroups(req, res) {
  const chunks = [];
  for await (const c of req) chunks.push(c);
  let body = null;
  try { body = JSON.parse(Buffer.concat(chunks).toString('utf8')); } catch { /* not JSON */ }
  const ok = body && Object.hasOwn(USERS, body.user) && Array.isArray(body.groups) &&
    body.groups.every((g) => typeof g === 'string');
  if (!ok) { res.writeHead(400).end(); return; }
  USERS[body.user].groups = [...body.groups];
  process.stderr.write(`dev-idp: groups of ${body.user}: ${body.groups.join(', ')}\n`);
  res.writeHead(200, { 'content-type': 'application/json' });
  res.end(JSON.stringify({ user: body.user, groups: USERS[body.user].groups }));
}

const server = http.createServer((req, res) => {
  if (TEST_HOOKS && req.url.split('?')[0] === '/__test/set-groups') {
    if (req.method !== 'POST') { res.writeHead(405).end(); return; }
    setGroups(req, res).catch(() => { if (!res.headersSent) res.writeHead(500); res.end(); });
    return;
  }
  if (TEST_HOOKS && req.url.split('?')[0] === '/__test/rotate-key') {
    if (req.method !== 'POST') { res.writeHead(405).end(); return; }
    rotateKey(req, res).catch((err) => {
      process.stderr.write(`dev-idp: rotate failed: ${err.stack}\n`);
      if (!res.headersSent) res.writeHead(500);
      res.end();
    });
    return;
  }
  current.handler(req, res);
});

// A client may reuse an idle connection just as the server closes it (node's default: after 5 s),
// and its request then fails with a reset.  Clients close their own idle connections sooner
// (undici after 4 s, jitgate's libcurl when it likes), so the server waits longer than any of them.
server.keepAliveTimeout = 65000;
server.headersTimeout = 66000;

server.listen(PORT, '127.0.0.1', () => {
  const lines = [
    'jitgate development identity provider (NOT for production)',
    `issuer:   ${ISSUER}`,
    `audience: ${AUDIENCE} (resource indicator for JWT access tokens, ${SIGNING_ALG}, kid ${keys.keys[0].kid})`,
    `clients:  jitgate (confidential, client_secret_basic, secret in ${CLIENT_SECRET_FILE}, redirect ${JITGATE_URL}/auth/callback)`,
    '          jitgate-cli (public, device flow + code flow with PKCE)',
    'users (any password):',
    ...Object.entries(USERS).map(([login, u]) => `  ${login.padEnd(6)} ${u.groups.join(', ')}`),
  ];
  if (TEST_HOOKS) lines.push('test hooks: POST /__test/rotate-key[?retain=0], POST /__test/set-groups');
  process.stdout.write(`${lines.join('\n')}\n`);
});

for (const sig of ['SIGINT', 'SIGTERM']) {
  process.on(sig, () => { server.close(); server.closeAllConnections(); process.exit(0); });
}
