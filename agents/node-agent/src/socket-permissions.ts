/**
 * Who may connect to the agent's Unix socket: its file mode and group. Connecting to a Unix socket
 * needs write permission on it, so mode 0660 with the group of the TaskManager pods admits them
 * and nobody else. The socket is created owner-only (a umask around the bind) and given its mode
 * and group right after, so there is no moment in which others could connect.
 * Owns: group lookup, the umask around the bind, chmod and chown. Never: create or remove the
 * socket itself.
 */
import { execFile } from 'node:child_process';
import { promises as fs } from 'node:fs';
import { CacheError, ErrorCode } from '@checkpoint-cache/errors';
import { optionLabel } from './tls-files';

/** Bits the umask masks while the socket is created: it starts as 0600, owner only. */
const OWNER_ONLY_UMASK = 0o177;

/**
 * Runs `bind` with a umask that makes new files owner-only, and restores the umask after. The
 * umask is process-wide: call this only when nothing else creates files (at start-up, after the
 * cache is open and before anything is served). Created files would only be stricter.
 */
export async function withOwnerOnlyFiles<T>(bind: () => Promise<T>): Promise<T> {
  const previous = process.umask(OWNER_ONLY_UMASK);
  try {
    return await bind();
  } finally {
    process.umask(previous);
  }
}

/** The gid of `group`: a decimal gid as is, a name through `getent group` (or /etc/group). */
export async function resolveGroup(group: string): Promise<number> {
  if (/^\d+$/.test(group)) return Number(group);
  const line = (await getent(group)) ?? (await fromEtcGroup(group));
  const gid = line === undefined ? NaN : Number(line.split(':')[2]);
  if (!Number.isInteger(gid)) {
    throw new CacheError(
      ErrorCode.InvalidArgument,
      `${optionLabel('socketGroup')}=${JSON.stringify(group)}: no such group on this host; ` +
        'give an existing group name or a numeric gid (in Kubernetes usually the gid the ' +
        'TaskManager pods run with, in supplementalGroups or fsGroup)',
    );
  }
  return gid;
}

/** `getent group <name>`'s line (covers NSS: LDAP, sssd); undefined when none or no getent. */
function getent(group: string): Promise<string | undefined> {
  return new Promise((resolve) => {
    execFile('getent', ['group', group], { timeout: 5000 }, (err, stdout) => {
      resolve(err ? undefined : stdout.split('\n')[0]?.trim() || undefined);
    });
  });
}

async function fromEtcGroup(group: string): Promise<string | undefined> {
  const text = await fs.readFile('/etc/group', 'utf8').catch(() => '');
  return text.split('\n').find((line) => line.split(':')[0] === group);
}

/** Gives the socket its mode and (if set) its group; errors name the option to change. */
export async function applySocketPermissions(
  socketPath: string,
  mode: number,
  group: { name: string; gid: number } | undefined,
): Promise<void> {
  if (group) {
    try {
      await fs.chown(socketPath, -1, group.gid);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code ?? String(err);
      throw new CacheError(
        ErrorCode.FailedPrecondition,
        `${optionLabel('socketGroup')}=${JSON.stringify(group.name)}: cannot give ${socketPath} ` +
          `to group ${group.gid} (${code}): the agent (uid ${process.getuid?.() ?? '?'}) must ` +
          'be a member of that group (in Kubernetes: runAsGroup or supplementalGroups of the ' +
          "agent's pod) or have CAP_CHOWN",
        { cause: err },
      );
    }
  }
  try {
    await fs.chmod(socketPath, mode);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? String(err);
    throw new CacheError(
      ErrorCode.FailedPrecondition,
      `${optionLabel('socketMode')}=${mode.toString(8).padStart(4, '0')}: cannot change the ` +
        `mode of ${socketPath} (${code})`,
      { cause: err },
    );
  }
}
