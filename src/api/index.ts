export { createApi, API_DEFAULTS, type ApiOptions } from './create-api.js';
export { PACKAGE_MEDIA_TYPES } from './routes/package.js';
export type { ErrorBody } from './http-errors.js';
export type { Registry } from './context.js';
