// The capability tokens the debugging pages keep per (session, grant), and the way into a page,
// in Debian's Chromium against the real jitgate and the real development identity provider
// (docs/web.md, "Debugging pages"; review findings of issue 20):
//   - signed out, a bookmarked /debug/... link with ?grant= and a search: after signing in (whose
//     way back comes through the provider's site, so Sec-Fetch-Site is cross-site) the refused
//     page offers a same-origin Continue link to the same URL, query and all, which reads;
//   - one who left the group (the newest groups seen shrink) loses the kept token at the next
//     load: the page answers as POST /v1/grants/{id}/token would (403), and the row is dropped;
//   - a kept token the guard refuses (its signing key retired) is dropped and replaced by one new
//     token in the same load: the page reads, and the address is not throttled (429) for it.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, rmSync } from 'node:fs';

import { startJitgate, cleanup } from './lib/harness.mjs';
import { launchChromium, closeBrowser, runCli, newContext as newContextIn, loginAtProvider, auditEntries, ofType } from './lib/debug-browser.mjs';

const SVC = 'payment-service';

describe('kept tokens of the debugging pages', () => {
  let jg;
  let browser;
  let grant;
  const contexts = [];

  const cli = (...args) => runCli(jg, ...args);
  const post = (user, path, body) => jg.as(user, 'POST', path, { body: JSON.stringify(body ?? {}), headers: { 'content-type': 'application/json' } });
  const logsUrl = (query = '') => `${jg.url}/debug/${SVC}/logs${query}`;
  const rowsKept = () => jg.db.count('session_grant_tokens', 'grant_id = ?', [grant]);

  const issued = async () => ofType(await auditEntries(jg), 'token.issued', grant).length;
  const newContext = () => newContextIn(browser, contexts);

  // At the provider: log in and consent; back at jitgate.
  async function atProvider(page) {
    await loginAtProvider(jg, page, 'alice');
    await page.waitForURL((u) => u.origin === jg.url);
    await page.waitForLoadState();
  }

  async function signIn() {
    const page = await (await newContext()).newPage();
    await page.goto(`${jg.url}/`);
    await page.getByRole('link', { name: 'Sign in with single sign-on' }).click();
    await atProvider(page);
    return page;
  }

  // alice authenticates with a new bearer token: the groups it carries become the newest seen.
  async function bearerWithGroups(groups) {
    await jg.idp.setGroups('alice', groups);
    delete jg.tokens.alice;
    const r = await jg.as('alice', 'GET', '/v1/requests');
    assert.equal(r.status, 200, r.body);
  }

  before(async () => {
    jg = await startJitgate({
      extraConfig: ['limits:', '  auth_failures_per_minute: 10', '  auth_failures_burst: 2', '  requests_burst: 100000',
        '  requests_address_burst: 100000', '  max_connections_per_address: 256', ''].join('\n'),
    });
    assert.equal(cli('service', 'add', SVC, '--owners', 'payments-eng').status, 0);
    const r = await post('alice', '/v1/requests', { service: SVC, capabilities: ['read-logs'], duration: '30m', justification: 'INC-4711 card payments failing since the deploy' });
    assert.equal(r.status, 201, r.body);
    grant = r.json.id;
    browser = await launchChromium();
  });

  after(async () => {
    await closeBrowser(browser, contexts);
    await cleanup(jg);
  });

  test('signed out, a bookmarked page with its search: back from signing in, Continue opens it with the query', async () => {
    const page = await (await newContext()).newPage();
    const query = `?grant=${grant}&q=payment+%26+refund`;
    await page.goto(logsUrl(query));
    await atProvider(page);
    // the way back came through the provider: refused, nothing read, but the same URL is offered
    assert.match(await page.locator('main').textContent(), /Nothing was read/);
    const link = page.locator('a#continue');
    assert.equal(await link.getAttribute('href'), `/debug/${SVC}/logs?grant=${grant}&q=payment%20%26%20refund`);
    const [res] = await Promise.all([page.waitForNavigation(), link.click()]);
    assert.equal(res.status(), 200);
    assert.equal(await page.locator('#grant-id').textContent(), grant);
    assert.equal(await page.locator('input[name=q]').inputValue(), 'payment & refund');
    // the sign-in is sent the whole local URL, encoded; never another site
    const raw = await jg.request('GET', `/debug/${SVC}/logs${query}`, { headers: { 'sec-fetch-site': 'none' } });
    assert.equal(raw.status, 303);
    assert.equal(raw.headers.location, `/auth/login?return_to=${encodeURIComponent(`/debug/${SVC}/logs?grant=${grant}&q=payment%20%26%20refund`)}`);
    const bad = await jg.request('GET', `/auth/login?return_to=${encodeURIComponent('//evil.example/x')}`);
    assert.equal(bad.status, 400);
  });

  test('one who left the group loses the kept token at the next load, as the API would refuse a new one', async () => {
    const page = await signIn();
    let res = await page.goto(logsUrl(`?grant=${grant}`));
    assert.equal(res.status(), 200);
    const kept = rowsKept();
    assert.ok(kept >= 1, 'no token kept');
    const minted = await issued();
    await bearerWithGroups([]); // alice's newest login no longer carries payments-eng
    try {
      const api = await post('alice', `/v1/grants/${grant}/token`);
      assert.equal(api.status, 403, api.body);
      res = await page.goto(logsUrl(`?grant=${grant}`));
      assert.equal(res.status(), 403, 'the kept token still reads after the holder left the group');
      assert.match(await page.locator('main').textContent(), /no longer qualify/);
      assert.equal(rowsKept(), kept - 1, 'the kept token of one who no longer qualifies is still stored');
      assert.equal(await issued(), minted, 'a token was issued to one who no longer qualifies');
    } finally {
      await bearerWithGroups(['payments-eng']);
    }
    res = await page.goto(logsUrl(`?grant=${grant}`));
    assert.equal(res.status(), 200);
  });

  test('a kept token the guard refuses (its key retired) is replaced once, in the same load; no 429', async () => {
    const page = await signIn();
    let res = await page.goto(logsUrl(`?grant=${grant}`));
    assert.equal(res.status(), 200);
    await jg.stop('SIGTERM');
    const rot = cli('keys', 'rotate', '--kind', 'token');
    assert.equal(rot.status, 0, rot.stderr);
    const kd = `${jg.dir}/keys`;
    assert.ok(readdirSync(kd).includes('token-0001.pem'));
    rmSync(`${kd}/token-0001.pem`); // an emergency retirement: the kept tokens no longer verify
    jg.exited = null;
    await jg.start();
    const minted = await issued();
    // more loads than the address's failure budget (burst 2)
    for (let i = 0; i < 4; i++) {
      res = await page.goto(logsUrl(`?grant=${grant}`));
      assert.equal(res.status(), 200, `load ${i}: ${(await page.locator('main').textContent()).replace(/\s+/g, ' ').slice(0, 200)}`);
    }
    assert.equal(await issued(), minted + 1, 'not exactly one new token for the refused kept one');
  });
});
