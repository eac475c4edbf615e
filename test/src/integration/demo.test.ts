/**
 * `npm run demo` on small data: it must start its own Redis and agent, restore through the cache
 * with nothing from the remote store, survive a corrupted cached file, and clean up after itself.
 */
import { execFile } from 'node:child_process';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { expect } from 'chai';

const DEMO = path.resolve(__dirname, '..', '..', '..', 'agents', 'demo', 'bin', 'ckc-demo.js');

describe('demo', function () {
  this.timeout(120_000);

  it('restores a checkpoint through the cache with 0 bytes from remote', async function () {
    const env = { ...process.env };
    delete env['CKC_REDIS_URL'];
    const { stdout } = await promisify(execFile)(
      process.execPath,
      [DEMO, '--size', '8MiB', '--files', '4', '--link-mbit', '400'],
      { env, timeout: 110_000 },
    );
    expect(stdout).to.match(/from remote store only\s+8\.4\s/);
    expect(stdout).to.match(/through the node cache\s+8\.4\s+\S+\s+\S+\s+8\.4\s+0\.0\n/);
    expect(stdout).to.match(/through the cache, 1 file corrupt\s+8\.4\s+\S+\s+\S+\s+\S+\s+[1-9]/);
    expect(stdout).to.include('pulled 0 bytes from the remote store');
    expect(stdout).to.include('every restored file matched');
  });
});
