export * from './duration.js';
export * from './errors.js';
export * from './listen.js';
export * from './load.js';
export * from './settings.js';
