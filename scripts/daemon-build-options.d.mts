import type { BuildOptions } from 'esbuild';

export function daemonBuildOptions(options: { entry: string; outdir: string }): BuildOptions;
