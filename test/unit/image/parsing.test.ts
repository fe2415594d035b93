import { describe, expect, it } from 'vitest';
import { debFileName, dependencyNames, parseStanzas, wantedLibraries } from '../../../src/image/debian.js';
import { parseLddOutput } from '../../../src/image/elf.js';
import { prunedFromStdlib } from '../../../src/image/python.js';
import { imagePath } from '../../../src/image/rootfs.js';

describe('ldd output', () => {
  it('lists resolved libraries and the loader, skips the vDSO, reports missing sonames', () => {
    const out = [
      '\tlinux-vdso.so.1 (0x00007ffd3c5f2000)',
      '\tlibdl.so.2 => /lib/x86_64-linux-gnu/libdl.so.2 (0x00007f5e4a569000)',
      '\tlibstdc++.so.6 => /lib/x86_64-linux-gnu/libstdc++.so.6 (0x00007f5e4a200000)',
      '\tlibmissing.so.9 => not found',
      '\t/lib64/ld-linux-x86-64.so.2 (0x00007f5e4a581000)',
      '',
    ].join('\n');
    expect(parseLddOutput(out)).toEqual({
      resolved: ['/lib/x86_64-linux-gnu/libdl.so.2', '/lib/x86_64-linux-gnu/libstdc++.so.6', '/lib64/ld-linux-x86-64.so.2'],
      missing: ['libmissing.so.9'],
    });
  });

  it('a static binary has no libraries', () => {
    expect(parseLddOutput('\tstatically linked\n')).toEqual({ resolved: [], missing: [] });
  });
});

describe('apt metadata', () => {
  const show = [
    'Package: libpython3.11-stdlib',
    'Version: 3.11.2-6+deb12u8',
    'Architecture: amd64',
    'Depends: libpython3.11-minimal (= 3.11.2-6+deb12u8), media-types | mime-support, libbz2-1.0, libc6 (>= 2.34),',
    ' libffi8 (>= 3.4), libncursesw6 (>= 6.1), libsqlite3-0 (>= 3.36.0), libssl3t64 (>= 3.0.0)',
    'Description: stdlib',
    '',
    'Package: zlib1g',
    'Version: 1:1.2.13.dfsg-1',
    'Architecture: amd64',
    '',
  ].join('\n');

  it('parses stanzas with continuation lines', () => {
    const stanzas = parseStanzas(show);
    expect(stanzas).toHaveLength(2);
    expect(stanzas[0]?.Package).toBe('libpython3.11-stdlib');
    expect(stanzas[0]?.Depends).toContain('libssl3t64');
    expect(stanzas[1]?.Version).toBe('1:1.2.13.dfsg-1');
  });

  it('takes the first alternative of each dependency, without versions', () => {
    expect(dependencyNames('a (>= 1), b | c, d:any, e')).toEqual(['a', 'b', 'd', 'e']);
  });

  it('keeps only the libraries worth shipping, renamed ones included', () => {
    const deps = dependencyNames(parseStanzas(show)[0]?.Depends ?? '');
    expect(wantedLibraries(deps)).toEqual(['libbz2-1.0', 'libffi8', 'libsqlite3-0', 'libssl3t64']);
  });

  it('names .deb files the way apt-get download does (epoch colon encoded)', () => {
    expect(debFileName('zlib1g', '1:1.2.13.dfsg-1', 'amd64')).toBe('zlib1g_1%3a1.2.13.dfsg-1_amd64.deb');
    expect(debFileName('python3.11-minimal', '3.11.2-6+deb12u8', 'amd64')).toBe('python3.11-minimal_3.11.2-6+deb12u8_amd64.deb');
  });
});

describe('stdlib pruning', () => {
  it.each([
    'test',
    'test/test_os.py',
    'idlelib/idle.py',
    'tkinter/__init__.py',
    'ensurepip/__init__.py',
    'config-3.11-x86_64-linux-gnu/libpython3.11.a',
    'site-packages/pip/__init__.py',
    'lib-dynload/readline.cpython-311-x86_64-linux-gnu.so',
    'json/__pycache__/decoder.cpython-311.opt-1.pyc',
    'ctypes/test',
    'unittest/test',
  ])('%s is left out', (rel) => {
    expect(prunedFromStdlib(rel, !rel.includes('.'))).toBe(true);
  });

  it.each([
    'json/__init__.py',
    'json/__pycache__/decoder.cpython-311.pyc',
    'asyncio/events.py',
    'site-packages',
    'lib-dynload/_ssl.cpython-311-x86_64-linux-gnu.so',
    'lib-dynload/zlib.cpython-311-x86_64-linux-gnu.so',
    'sqlite3/__init__.py',
  ])('%s is kept', (rel) => {
    expect(prunedFromStdlib(rel, !rel.includes('.'))).toBe(false);
  });
});

describe('image paths (merged /usr)', () => {
  it.each([
    ['/lib/x86_64-linux-gnu/libc.so.6', 'usr/lib/x86_64-linux-gnu/libc.so.6'],
    ['/lib64/ld-linux-x86-64.so.2', 'usr/lib64/ld-linux-x86-64.so.2'],
    ['/bin/dash', 'usr/bin/dash'],
    ['/usr/lib/x86_64-linux-gnu/libz.so.1', 'usr/lib/x86_64-linux-gnu/libz.so.1'],
    ['/opt/berth/../berth/bootstrap.sh', 'opt/berth/bootstrap.sh'],
    ['etc/passwd', 'etc/passwd'],
  ])('%s → %s', (host, inImage) => {
    expect(imagePath(host)).toBe(inImage);
  });
});
