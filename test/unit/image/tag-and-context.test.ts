import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import tar from 'tar-stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CONTAINER_PATHS } from '../../../src/domain/daemon-contract.js';
import { NotFoundError } from '../../../src/domain/errors.js';
import { IMAGE_CMD, IMAGE_ENV, IMAGE_WORKDIR, importChanges } from '../../../src/image/constants.js';
import { contextTar, dockerfileContextEntries } from '../../../src/image/dockerfile.js';
import { DOCKERFILE_PATH } from '../../../src/image/paths.js';
import { botImageTag, computeTag, readDaemonFiles } from '../../../src/image/tag.js';

const files = { bundle: Buffer.from('daemon v1'), bootstrap: Buffer.from('#!/bin/sh\n'), chunks: new Map([['s3-AB12.mjs', Buffer.from('chunk v1')]]) };

describe('image tag', () => {
  it('is berth-bot:<12 hex> and stable for the same inputs', () => {
    const tag = computeTag(files, 'v20.20.2-x64', 'debian:3.11.2');
    expect(tag).toMatch(/^berth-bot:[0-9a-f]{12}$/);
    expect(computeTag({ ...files }, 'v20.20.2-x64', 'debian:3.11.2')).toBe(tag);
  });

  it('changes with the daemon, its chunks, bootstrap.sh, Node and Python', () => {
    const base = computeTag(files, 'n', 'p');
    const variants = [
      computeTag({ ...files, bundle: Buffer.from('daemon v2') }, 'n', 'p'),
      computeTag({ ...files, bootstrap: Buffer.from('#!/bin/sh\n#') }, 'n', 'p'),
      computeTag({ ...files, chunks: new Map([['s3-AB12.mjs', Buffer.from('chunk v2')]]) }, 'n', 'p'),
      computeTag({ ...files, chunks: new Map([['s3-CD34.mjs', Buffer.from('chunk v1')]]) }, 'n', 'p'),
      computeTag(files, 'n2', 'p'),
      computeTag(files, 'n', 'p2'),
    ];
    expect(new Set([base, ...variants]).size).toBe(7);
  });

  describe('from a daemon directory', () => {
    let dir = '';
    beforeAll(async () => {
      dir = await mkdtemp(join(tmpdir(), 'berth-tag-'));
    });
    afterAll(() => rm(dir, { recursive: true, force: true }));

    it('a missing daemon bundle is a NotFoundError that says how to build it', async () => {
      await expect(botImageTag(dir)).rejects.toSatisfy((e) => e instanceof NotFoundError && /npm run build/.test(e.message));
    });

    it('a changed bundle gives a new tag', async () => {
      await writeFile(join(dir, 'berth-daemon.cjs'), 'one');
      await writeFile(join(dir, 'bootstrap.sh'), '#!/bin/sh\n');
      const first = await botImageTag(dir);
      expect(await botImageTag(dir)).toBe(first);
      await writeFile(join(dir, 'berth-daemon.cjs'), 'two');
      expect(await botImageTag(dir)).not.toBe(first);
      expect((await readDaemonFiles(dir)).bundle.toString()).toBe('two');
    });

    it('reads the chunks the entry imports, and a changed chunk gives a new tag', async () => {
      await mkdir(join(dir, 'chunks'), { recursive: true });
      await writeFile(join(dir, 'chunks/minio-X1.mjs'), 'chunk one');
      const first = await botImageTag(dir);
      expect([...(await readDaemonFiles(dir)).chunks.keys()]).toEqual(['minio-X1.mjs']);
      await writeFile(join(dir, 'chunks/minio-X1.mjs'), 'chunk two');
      expect(await botImageTag(dir)).not.toBe(first);
    });
  });
});

describe('image configuration', () => {
  it('import changes set CMD, WORKDIR and ENV', () => {
    const changes = importChanges();
    expect(changes).toContain(`CMD ["${CONTAINER_PATHS.bootstrap}"]`);
    expect(changes).toContain('WORKDIR /bot');
    expect(changes).toContain('ENV LANG=C.UTF-8');
    expect(changes).toContain('ENV PYTHONDONTWRITEBYTECODE=1');
    expect(changes).toContain('ENV PYTHONUNBUFFERED=1');
    expect(changes.some((c) => c.startsWith('ENV PATH=/usr/local/bin:'))).toBe(true);
  });
});

describe('Dockerfile build context (the Dockerfile itself needs a registry to build)', () => {
  it('holds the Dockerfile, the daemon bundle, its chunks and an executable bootstrap.sh', async () => {
    const entries = await dockerfileContextEntries(files);
    const pack = contextTar(entries);
    const seen: { name: string; mode: number; content: string }[] = [];
    const ex = tar.extract();
    pack.pipe(ex as unknown as NodeJS.WritableStream);
    for await (const entry of ex) {
      const chunks: Buffer[] = [];
      for await (const c of entry) chunks.push(c as Buffer);
      seen.push({ name: entry.header.name, mode: entry.header.mode, content: Buffer.concat(chunks).toString() });
    }
    expect(seen.map((e) => e.name)).toEqual(['Dockerfile', 'berth-daemon.cjs', 'bootstrap.sh', 'chunks/s3-AB12.mjs']);
    expect(seen[0]?.content).toBe(await readFile(DOCKERFILE_PATH, 'utf8'));
    expect(seen[1]).toMatchObject({ content: 'daemon v1', mode: 0o644 });
    expect(seen[2]).toMatchObject({ content: '#!/bin/sh\n', mode: 0o755 });
    expect(seen[3]).toMatchObject({ content: 'chunk v1', mode: 0o644 });
  });

  it('the Dockerfile builds the same layout as the offline builder', async () => {
    const dockerfile = await readFile(DOCKERFILE_PATH, 'utf8');
    expect(dockerfile).toMatch(/^ARG NODE_IMAGE=node:20-bookworm-slim$/m);
    expect(dockerfile).toMatch(/^FROM \$\{NODE_IMAGE\}$/m);
    expect(dockerfile).toContain('python3.11-minimal');
    expect(dockerfile).toContain(`ln -sf /usr/bin/python3.11 ${CONTAINER_PATHS.python}`);
    expect(dockerfile).toContain(`--uid ${CONTAINER_PATHS.botUid}`);
    expect(dockerfile).toContain(`--gid ${CONTAINER_PATHS.botGid}`);
    expect(dockerfile).toMatch(/^COPY \. \/opt\/berth\/$/m);
    expect(dockerfile).toContain('rm /opt/berth/Dockerfile');
    expect(dockerfile).toContain(`CMD ${JSON.stringify(IMAGE_CMD)}`);
    expect(dockerfile).toContain(`WORKDIR ${IMAGE_WORKDIR}`);
    for (const [k, v] of Object.entries(IMAGE_ENV)) expect(dockerfile).toContain(`${k}=${v}`);
  });
});
