import type { ApprovalPolicy } from '@opspawn/plugin-sdk';
import type { ValidateFunction } from 'ajv';
import { createAjv } from '../config/ajv.js';
import { globToRegExp } from './tool-scope.js';

/** How long an approval request waits for a decision when its rule names no `expiresInMs`: 24 hours. */
export const DEFAULT_APPROVAL_EXPIRY_MS = 24 * 60 * 60 * 1000;

interface CompiledRule {
  pattern: string;
  matches(tool: string): boolean;
  needed: 'always' | 'never' | ValidateFunction;
  expiresInMs: number;
}

/**
 * An agent's `approval` config, compiled: which calls wait for a person. An exact tool name wins over globs;
 * among globs, the first listed that matches. A rule's `when` is a JSON Schema over the call's arguments
 * (declarative, so it reads the same in a JSON config, a TS config and the docs): approval is needed when they match.
 */
export class ApprovalPolicies {
  private readonly rules: CompiledRule[];

  constructor(policy: Record<string, ApprovalPolicy> | undefined) {
    const ajv = createAjv({ useDefaults: false });
    const entries = Object.entries(policy ?? {});
    // Exact names first, then the globs in the order written.
    entries.sort(([a], [b]) => Number(a.includes('*')) - Number(b.includes('*')));
    this.rules = entries.map(([pattern, rule]) => {
      const regexp = globToRegExp(pattern);
      const needed = typeof rule === 'string' ? rule : rule.when ? ajv.compile(rule.when) : 'always';
      const expiresInMs = (typeof rule === 'object' ? rule.expiresInMs : undefined) ?? DEFAULT_APPROVAL_EXPIRY_MS;
      return { pattern, matches: (tool: string) => regexp.test(tool), needed, expiresInMs };
    });
  }

  /** Whether a call of `tool` with `args` waits for approval, and for how long at most; undefined when it does not. */
  required(tool: string, args: unknown): { expiresInMs: number } | undefined {
    const rule = this.rules.find((r) => r.matches(tool));
    if (!rule || rule.needed === 'never') return undefined;
    if (rule.needed !== 'always' && !rule.needed(args)) return undefined;
    return { expiresInMs: rule.expiresInMs };
  }
}
