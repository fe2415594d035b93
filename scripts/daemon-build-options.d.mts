import type { BuildOptions } from 'esbuild';

export const DAEMON_BUNDLE: string;
export function daemonBuilds(options: { entry: string; outdir: string }): BuildOptions[];
