/**
 * Keeps new files and directories owned like their surroundings. The in-container daemon
 * runs as root but writes into directories bind-mounted from the host; files it creates
 * there must stay deletable by the unprivileged user who runs Berth on the host.
 */
import { chown, mkdir, stat } from 'node:fs/promises';
import path from 'node:path';

export interface Owner {
  readonly uid: number;
  readonly gid: number;
}

export class OwnershipPolicy {
  private readonly active: boolean;

  constructor(matchParentOwner: boolean) {
    this.active = matchParentOwner && process.getuid?.() === 0;
  }

  /**
   * `mkdir -p` that gives every directory it creates the owner of the nearest directory
   * that already existed (for a bot's prefix inside a container: the bind-mounted host dir).
   */
  async ensureDir(dir: string): Promise<void> {
    if (!this.active) {
      await mkdir(dir, { recursive: true });
      return;
    }
    const firstCreated = await mkdir(dir, { recursive: true });
    if (firstCreated === undefined) return;
    const owner = await ownerOf(path.dirname(firstCreated));
    if (owner.uid === 0 && owner.gid === 0) return;
    for (let d = dir; ; d = path.dirname(d)) {
      await chown(d, owner.uid, owner.gid);
      if (d === firstCreated || d === path.dirname(d)) break;
    }
  }

  /** Gives a freshly written file the owner of the directory it sits in. */
  async adoptFile(file: string): Promise<void> {
    if (!this.active) return;
    const owner = await ownerOf(path.dirname(file));
    if (owner.uid === 0 && owner.gid === 0) return;
    await chown(file, owner.uid, owner.gid);
  }
}

async function ownerOf(p: string): Promise<Owner> {
  const s = await stat(p);
  return { uid: s.uid, gid: s.gid };
}
