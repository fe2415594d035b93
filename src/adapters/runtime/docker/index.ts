export { DockerRuntime, type DockerRuntimeOptions } from './docker-runtime.js';
export { CAPABILITIES, LOG_CONFIG } from './create-options.js';
