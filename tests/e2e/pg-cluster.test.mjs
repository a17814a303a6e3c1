// The throwaway PostgreSQL clusters the tests run on (tests/lib/pg-cluster.sh, tests/e2e/lib/pg.mjs):
// a private primary on loopback, outside the checkout; a standby that is synchronous; a promotion
// that leaves the new primary able to commit (the synchronous_standby_names trap); nothing left
// behind after stop, after `run`, or when the owning process is SIGKILLed; and the script working
// from a directory the postgres user cannot enter (a clone under `mktemp -d`).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

import { ROOT } from './lib/common.mjs';
import { SCRIPT, startPg } from './lib/pg.mjs';

const run = promisify(execFile);
const sleep = (ms) => new Promise((ok) => setTimeout(ok, ms));

// The postgres processes whose command line names dir.
async function serversOf(dir) {
  const { stdout } = await run('ps', ['-eo', 'args']);
  return stdout.split('\n').filter((l) => l.includes(dir) && /postgres/.test(l) && !/bash/.test(l));
}

async function gone(dir, ms = 8000) {
  for (const end = Date.now() + ms; Date.now() < end; await sleep(200)) {
    if (!existsSync(dir) && (await serversOf(dir)).length === 0) return true;
  }
  return false;
}

test('a primary on loopback, outside the checkout, then a synchronous standby, failover and stop', async () => {
  const pg = await startPg();
  try {
    assert.ok(!pg.base.startsWith(ROOT), pg.base);
    assert.equal(statSync(pg.base).mode & 0o777, 0o700);
    if (process.getuid() === 0) assert.notEqual(statSync(join(pg.base, 'primary')).uid, 0);
    assert.equal(await pg.sql('SHOW listen_addresses'), '127.0.0.1');
    assert.equal(await pg.sql('SELECT current_database()'), 'jitgate');
    assert.match(pg.url, new RegExp(`^postgres://jitgate@127\\.0\\.0\\.1:${pg.port}/jitgate$`));

    await pg.addStandby();
    assert.ok(pg.standbyPort > 0 && pg.standbyPort !== pg.port);
    assert.equal(await pg.sql("SELECT sync_state FROM pg_stat_replication"), 'sync');
    assert.equal(await pg.sql('SELECT pg_is_in_recovery()', 'standby'), 't');
    await pg.sql('CREATE TABLE t (v int); INSERT INTO t VALUES (1)');

    // the standby's configuration as a copy of the primary's would have it: waiting for a standby
    await pg.sql("ALTER SYSTEM SET synchronous_standby_names = '*'", 'standby');
    await pg.sql('SELECT pg_reload_conf()', 'standby');
    await pg.kill('primary');
    await pg.promote();
    assert.equal(await pg.sql('SELECT pg_is_in_recovery()', 'standby'), 'f');
    assert.equal(await pg.sql('SHOW synchronous_standby_names', 'standby'), '');
    // a commit returns: the promoted server does not wait for a standby of its own
    const { stdout } = await run(SCRIPT, ['sql', pg.base, 'standby',
      'INSERT INTO t VALUES (2); SELECT count(*) FROM t'], { timeout: 15000 });
    assert.equal(stdout.trim(), '2');
  } finally {
    await pg.stop();
  }
  assert.ok(await gone(pg.base), 'the cluster is stopped and removed');
});

test('run: the command sees the cluster, its status is kept, and the cluster is gone after', async () => {
  const child = await run(SCRIPT, ['run', '--', 'sh', '-c',
    'echo "$JG_PG_BASE"; psql -X -At -h "$JG_PG_SOCKET" -p "$JG_PG_PORT" -U jitgate -d jitgate -c "SELECT 40 + 2"; exit 3'])
    .then(() => null, (e) => e);
  assert.ok(child, 'run exits with the command\'s status');
  assert.equal(child.code, 3);
  const [base, answer] = child.stdout.trim().split('\n');
  assert.equal(answer, '42');
  assert.ok(await gone(base));
});

test('a SIGKILLed owner leaves no server behind', async () => {
  const owner = spawn(process.execPath, ['--input-type=module', '-e', `
    import { startPg } from ${JSON.stringify(join(ROOT, 'tests', 'e2e', 'lib', 'pg.mjs'))};
    const pg = await startPg();
    console.log(pg.base);
    setInterval(() => {}, 1000);`], { stdio: ['ignore', 'pipe', 'inherit'] });
  const base = await new Promise((ok, fail) => {
    let out = '';
    owner.stdout.on('data', (d) => { out += d; if (out.includes('\n')) ok(out.trim()); });
    owner.on('exit', () => fail(new Error('the owner exited before starting a cluster')));
  });
  assert.ok(existsSync(base));
  assert.ok((await serversOf(base)).length > 0, 'the server runs');
  owner.kill('SIGKILL');
  assert.ok(await gone(base), 'the watchdog stopped and removed the cluster');
});

test('works from a directory the postgres user cannot enter (a clone under mktemp -d)', async () => {
  const clone = mkdtempSync(join(tmpdir(), 'jg-clone-'));
  try {
    assert.equal(statSync(clone).mode & 0o777, 0o700);
    const script = join(clone, 'pg-cluster.sh');
    copyFileSync(SCRIPT, script);
    const { stdout } = await run('bash', [script, 'run', '--', 'sh', '-c',
      'psql -X -At -h "$JG_PG_SOCKET" -p "$JG_PG_PORT" -U postgres -d jitgate -c "SELECT 1"'],
    { cwd: clone });
    assert.equal(stdout.trim(), '1');
  } finally {
    rmSync(clone, { recursive: true, force: true });
  }
});
