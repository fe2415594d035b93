/** Files and directories of the daemon's work dir (WORK_FILES plus the daemon's own). */
import path from 'node:path';
import { WORK_FILES } from '../domain/daemon-contract.js';
import type { DaemonRuntime } from './settings.js';

export const botLogFile = (workDir: string): string => path.join(workDir, WORK_FILES.log);
export const doneFile = (workDir: string): string => path.join(workDir, WORK_FILES.done);
export const botHomeDir = (workDir: string): string => path.join(workDir, 'home');
export const entrypointFile = (workDir: string, runtime: DaemonRuntime): string =>
  path.join(workDir, runtime === 'python3.11' ? WORK_FILES.pythonEntrypoint : WORK_FILES.nodeEntrypoint);
/** Downloads are staged here before they are checked. */
export const stagingFile = (workDir: string, name: string): string => path.join(workDir, `.${name}.download`);
