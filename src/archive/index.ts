/**
 * Safe bot packages: inspect (no extraction), extract, read the seed platform's manifest,
 * pack a directory. The daemon imports the modules it needs directly (not this index) so
 * that its bundle does not carry the YAML parser.
 */
export { detectFormat, detectFileFormat } from './detect.js';
export { inspectPackage, readManifest, fileSha256 } from './inspect.js';
export { extractPackage, type ExtractResult } from './extract.js';
export { parseManifest, parseManifestWithWarnings, checkEntrypoint, MANIFEST_MAX_BYTES, type ParsedManifest } from './manifest.js';
export { packDirectory, DEPLOY_SKIP_NAMES, type PackedDirectory } from './pack.js';
export {
  DEFAULT_PACKAGE_LIMITS,
  MANIFEST_FILE,
  type ArchiveFormat,
  type Manifest,
  type PackageEntry,
  type PackageEntryType,
  type PackageInspection,
  type PackageLimits,
} from './types.js';
