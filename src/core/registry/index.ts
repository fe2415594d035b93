export { BotRegistry, type BotRegistryOptions, type ApplyOp, type ApplyResult, type UploadResult } from './bot-registry.js';
export type { RemoveResult } from './bot-removal.js';
export type { InspectPackage, PackageInspection, InspectedEntry } from './package-inspection.js';
export type { PackageSidecar } from './package-catalog.js';
