import { spawn } from 'node:child_process';
import { expect } from 'chai';
import { Deployment, REPO } from '../helpers/deployment.js';
import { reachable } from '../helpers/services.js';

/**
 * `npm start` as a process manager or a container runtime runs it: the signal goes to npm, and the host must stop
 * with it, not linger holding its ports after npm and its shell have exited.
 */
describe('npm start', function () {
  this.timeout(120_000);
  let d: Deployment;
  beforeEach(() => {
    d = new Deployment();
    for (const id of ['store-memory', 'broker-memory', 'memory-buffer', 'planner-scripted', 'transport-rest'])
      d.linkBuiltIn(id);
    d.config(
      `{ plugins: ['@opspawn/store-memory', '@opspawn/broker-memory', '@opspawn/memory-buffer', '@opspawn/planner-scripted', { use: '@opspawn/transport-rest', options: { host: '127.0.0.1', port: 0 } }], log: { level: 'warn' } }`,
    );
  });
  afterEach(() => d.cleanup());

  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    it(`stops the host and frees its port when npm receives ${signal}`, async () => {
      const npm = spawn('npm', ['start', '--silent'], {
        cwd: REPO,
        env: { ...process.env, OPSPAWN_CONFIG: `${d.dir}/opspawn.config.ts` },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let stderr = '';
      npm.stderr.on('data', (b: Buffer) => (stderr += b));
      npm.stdout.resume();
      const exited = new Promise<void>((resolve) => npm.once('exit', () => resolve()));
      const port = await new Promise<number>((resolve, reject) => {
        npm.stderr.on('data', () => {
          const found = /http listening on http:\/\/127\.0\.0\.1:(\d+)/.exec(stderr);
          if (found && stderr.includes('press Ctrl-C to stop')) resolve(Number(found[1]));
        });
        void exited.then(() => reject(new Error(`npm start exited early: ${stderr}`)));
      });
      expect(await reachable(port)).to.equal(true);

      npm.kill(signal);
      await exited;
      // The host is npm's grandchild: give it its stop timeout to let go of the port, then look.
      let open = true;
      for (let i = 0; i < 100 && open; i++) {
        open = await reachable(port);
        if (open) await new Promise((r) => setTimeout(r, 100));
      }
      expect(open, `port ${port} is still served after npm exited on ${signal}:\n${stderr}`).to.equal(false);
    });
  }
});
