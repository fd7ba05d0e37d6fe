import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { status as GrpcStatus } from '@grpc/grpc-js';
import { expect } from 'chai';
import { exitCodeForCategory } from '@opspawn/core';
import { ERROR_CATEGORIES, ErrorCodes, OpspawnError, errorDefinitions, type ErrorCategory } from '@opspawn/plugin-sdk';
import { grpcStatusFor } from '@opspawn/transport-grpc';
import { httpStatusFor } from '@opspawn/transport-rest';
import { REPO } from '../helpers/deployment.js';

const DOC = 'docs/reference/errors.md';
const doc = readFileSync(join(REPO, DOC), 'utf8');

const grpcName = (code: number): string =>
  Object.entries(GrpcStatus).find(([name, value]) => value === code && Number.isNaN(Number(name)))?.[0] ?? '?';

/** Each `### OPSPAWN_...` section of the doc: its code and its text up to the next heading. */
function documentedCodes(): Map<string, string> {
  const sections = new Map<string, string>();
  for (const match of doc.matchAll(/^### (\S+)\n([\s\S]*?)(?=^#{2,3} |(?![\s\S]))/gm))
    sections.set(match[1]!, match[2]!);
  return sections;
}

/** The line under a code's heading, as the registry and the three mappings say it must read. */
function statusLine(category: ErrorCategory, retryable: boolean): string {
  return `\`${category}\` · HTTP ${httpStatusFor(category)} · gRPC \`${grpcName(grpcStatusFor(category))}\` · exit ${exitCodeForCategory(category)} · ${retryable ? 'retryable' : 'permanent'}`;
}

describe('the errors reference (docs/reference/errors.md)', () => {
  it('documents every code of the registry, under an anchor named after it, with what it means and its fix', () => {
    const sections = documentedCodes();
    const missing = errorDefinitions().filter((d) => !sections.has(d.code));
    expect(
      missing.map((d) => d.code),
      `add these to ${DOC}, e.g.\n${missing.map((d) => `### ${d.code}\n\n${statusLine(d.category, d.retryable)}\n\n${d.description}\n\n**Fix:** ${d.hint}`).join('\n\n')}\n`,
    ).to.deep.equal([]);
    for (const [code, text] of sections) {
      // The status line, then what it means, then how to fix it.
      const [, meaning, fix] = text.trim().split(/\n\n+/);
      expect(meaning, `${code}: what it means`).to.match(/^(?!\*\*Fix)\S/);
      expect(fix, `${code}: how to fix it`).to.match(/^\*\*Fix:\*\* \S/);
    }
  });

  it('names no code the registry does not declare', () => {
    const declared = new Set<string>(errorDefinitions().map((d) => d.code));
    const stale = [...documentedCodes().keys()].filter((code) => !declared.has(code));
    expect(stale, `remove these from ${DOC}, or declare them in plugin-sdk/src/errors/error-registry.ts`).to.deep.equal(
      [],
    );
  });

  it("states each code's category, HTTP status, gRPC status, exit code and retryability as the code maps them", () => {
    const sections = documentedCodes();
    for (const d of errorDefinitions()) {
      const line = sections.get(d.code)?.trim().split('\n')[0];
      expect(line, `${d.code} in ${DOC}`).to.equal(statusLine(d.category, d.retryable));
    }
  });

  it('lists every category with its statuses, and every transport maps every category', () => {
    for (const category of ERROR_CATEGORIES) {
      const http = httpStatusFor(category);
      const grpc = grpcStatusFor(category);
      const exit = exitCodeForCategory(category);
      expect(http, category).to.be.within(400, 599);
      expect(grpcName(grpc), category).to.not.equal('?');
      expect(grpc, category).to.not.equal(GrpcStatus.OK);
      expect(exit, category).to.be.above(0);
      const row = new RegExp(
        `^\\| \`${category}\` \\| [^|]+ \\| ${http} \\| \`${grpcName(grpc)}\` \\| ${exit} \\|$`,
        'm',
      );
      expect(doc, `the categories table of ${DOC}: ${category}`).to.match(row);
    }
  });

  it('is linked from the docs index', () => {
    expect(readFileSync(join(REPO, 'docs/README.md'), 'utf8')).to.contain('(reference/errors.md)');
  });
});

describe('error codes', () => {
  it('keep their names: ErrorCodes.X is the code OPSPAWN_X', () => {
    expect(ErrorCodes.TASK_NOT_FOUND).to.equal('OPSPAWN_TASK_NOT_FOUND');
    expect(ErrorCodes.STORE_UNAVAILABLE).to.equal('OPSPAWN_STORE_UNAVAILABLE');
    expect(Object.values(ErrorCodes)).to.have.lengthOf(errorDefinitions().length);
  });

  it("give an error raised without a fix its code's default fix, so no error leaves without one", () => {
    const error = new OpspawnError(ErrorCodes.TASK_NOT_FOUND, 'no task task_1');
    expect(error.hint).to.equal(errorDefinitions().find((d) => d.code === 'OPSPAWN_TASK_NOT_FOUND')!.hint);
    expect(error.toString()).to.equal(`OPSPAWN_TASK_NOT_FOUND: no task task_1 (fix: ${error.hint})`);
    expect(new OpspawnError(ErrorCodes.TASK_NOT_FOUND, 'x', { hint: 'look again' }).hint).to.equal('look again');
  });

  it('say which failures another attempt can survive', () => {
    const retryable = (code: string) => errorDefinitions().find((d) => d.code === code)!.retryable;
    for (const permanent of [
      ErrorCodes.TOOL_NOT_FOUND,
      ErrorCodes.TOOL_INVALID_ARGUMENTS,
      ErrorCodes.PLANNER_UNKNOWN,
      ErrorCodes.MEMORY_UNKNOWN,
      ErrorCodes.TASK_INVALID,
      ErrorCodes.TASK_MAX_STEPS,
    ])
      expect(retryable(permanent), permanent).to.equal(false);
    for (const transient of [
      ErrorCodes.TOOL_TIMEOUT,
      ErrorCodes.BROKER_UNAVAILABLE,
      ErrorCodes.STORE_UNAVAILABLE,
      ErrorCodes.TASK_TIMEOUT,
    ])
      expect(retryable(transient), transient).to.equal(true);
  });
});
