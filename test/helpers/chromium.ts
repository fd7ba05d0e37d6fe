import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type BrowserContext, chromium } from 'playwright-core';

/** Debian's chromium package: playwright's own browser download does not work here, so tests drive this one. */
export const CHROMIUM = process.env.OPSPAWN_TEST_CHROMIUM ?? '/usr/bin/chromium';

export interface Chromium {
  context: BrowserContext;
  close(): Promise<void>;
}

/**
 * A headless Chromium with a fresh profile. Outside CI a missing browser skips the suite loudly; in CI it fails it
 * (.ci/run installs the chromium package first).
 */
export async function launchChromium(ctx: Mocha.Context): Promise<Chromium | undefined> {
  if (!existsSync(CHROMIUM)) {
    if (process.env.CI === 'true') throw new Error(`${CHROMIUM} is missing; CI installs it (apt-get install chromium)`);
    console.warn(
      `\n  !!! SKIPPING "${ctx.test?.parent?.fullTitle()}": no browser at ${CHROMIUM} (apt-get install chromium). !!!\n`,
    );
    ctx.skip();
  }
  const profile = mkdtempSync(join(tmpdir(), 'opspawn-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
  return {
    context,
    close: async () => {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}
