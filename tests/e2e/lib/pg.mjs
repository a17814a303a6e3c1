// Throwaway PostgreSQL 15 clusters for end-to-end tests: a thin wrapper of tests/lib/pg-cluster.sh
// (the same script `make unit` uses), which says how and where the servers run.
//
//   const pg = await startPg();                 // a primary on a free loopback port
//   pg.url, pg.adminUrl, pg.port, pg.base       // postgres://jitgate@127.0.0.1:PORT/jitgate, ...
//   await pg.addStandby();                      // a synchronous streaming standby; pg.standbyPort
//   await pg.kill('primary');                   // stop one server at once (like a crash)
//   await pg.revive('standby');                 // start a killed server again, on its port
//   await pg.promote();                         // the standby takes over (and stops waiting for one)
//   await pg.sql('SELECT 1', 'standby');        // psql -At as the superuser; the output
//   await pg.role('reader', file);              // a role with a random password, written to file
//   await pg.stop();                            // stop every server, remove the directory
//
// The cluster belongs to this process: the script's watchdog removes it when the process ends, even
// by SIGKILL, and an 'exit' handler here stops it at once on a normal exit.
import { execFile, execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';

import { ROOT } from './common.mjs';

export const SCRIPT = join(ROOT, 'tests', 'lib', 'pg-cluster.sh');
const run = promisify(execFile);

function parse(out) {
  const env = {};
  for (const line of out.split('\n')) {
    const m = /^(JG_PG_[A-Z_]+)=(.*)$/.exec(line);
    if (m) env[m[1]] = m[2];
  }
  return env;
}

class PgCluster {
  constructor(env) {
    this.env = env;
    this.base = env.JG_PG_BASE;
    this.socket = env.JG_PG_SOCKET;
    this.port = Number(env.JG_PG_PORT);
    this.url = env.JG_PG_URL;
    this.adminUrl = env.JG_PG_ADMIN_URL;
    this.standbyPort = null;
    this.stopped = false;
    this.onExit = () => this.stopSync();
    process.on('exit', this.onExit);
  }

  async script(...args) {
    const { stdout } = await run(SCRIPT, args, { encoding: 'utf8' });
    return stdout;
  }

  async addStandby() {
    const env = parse(await this.script('standby', this.base));
    this.standbyPort = Number(env.JG_PG_STANDBY_PORT);
    return this.standbyPort;
  }

  // A URL listing both servers that libpq follows to whichever is read-write.
  haUrl(role = 'jitgate') {
    return `postgres://${role}@127.0.0.1:${this.port},127.0.0.1:${this.standbyPort}/jitgate` +
      '?target_session_attrs=read-write';
  }

  async promote() { await this.script('promote', this.base); }

  async kill(node) { await this.script('kill', this.base, node); }

  async revive(node) { await this.script('revive', this.base, node); }

  async sql(query, node = 'primary') { return (await this.script('sql', this.base, node, query)).trim(); }

  async role(name, passwordFile) { await this.script('role', this.base, name, passwordFile); }

  async stop() {
    if (this.stopped) return;
    this.stopped = true;
    process.off('exit', this.onExit);
    await this.script('stop', this.base);
  }

  stopSync() {
    if (this.stopped) return;
    this.stopped = true;
    try { execFileSync(SCRIPT, ['stop', this.base], { stdio: 'ignore' }); } catch { /* gone already */ }
  }
}

export async function startPg({ standby = false } = {}) {
  const { stdout } = await run(SCRIPT, ['start', '--owner', String(process.pid)], { encoding: 'utf8' });
  const pg = new PgCluster(parse(stdout));
  if (standby) await pg.addStandby();
  return pg;
}
