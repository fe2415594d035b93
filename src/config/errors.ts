/** A bad setting, named with where it came from and what would have been accepted. */
import { BerthError } from '../domain/errors.js';

export type SettingSource =
  | { readonly kind: 'default' }
  | { readonly kind: 'file'; readonly path: string; readonly key: string }
  | { readonly kind: 'env'; readonly name: string }
  | { readonly kind: 'flag'; readonly flag: string };

export interface ConfigIssue {
  /** The setting's name (the config-file key), e.g. `interval`. */
  readonly setting: string;
  readonly source: SettingSource;
  /** The value as given, already masked for secrets; absent when there was none. */
  readonly value?: string;
  readonly problem: string;
  readonly accepted: string;
}

export function describeSource(source: SettingSource): string {
  switch (source.kind) {
    case 'default':
      return 'the default';
    case 'file':
      return `config file ${source.path} (key "${source.key}")`;
    case 'env':
      return `environment variable ${source.name}`;
    case 'flag':
      return `flag ${source.flag}`;
  }
}

export function formatConfigIssue(issue: ConfigIssue): string {
  const value = issue.value === undefined ? '' : ` ${issue.value}`;
  return `setting "${issue.setting}" from ${describeSource(issue.source)}:${value} ${issue.problem}. Accepted: ${issue.accepted}`;
}

export class ConfigError extends BerthError {
  override readonly code = 'config';
  readonly issues: readonly ConfigIssue[];
  constructor(issues: readonly ConfigIssue[], options?: { cause?: unknown }) {
    super(issues.map(formatConfigIssue).join('\n'), options);
    this.issues = issues;
  }
}
