import type { Page } from 'playwright-core';

/**
 * Collects what the page's own scripts get wrong into `errors`: uncaught exceptions and console errors. The browser
 * also logs every refused request as a console error; those with a status in `refused` are what a test provokes.
 */
export function recordScriptErrors(page: Page, errors: string[], refused: readonly number[]): void {
  const provoked = new RegExp(`\\b(${refused.join('|')}) \\(`);
  page.on('pageerror', (error) => errors.push(error.message));
  page.on('console', (message) => {
    if (message.type() === 'error' && !provoked.test(message.text())) errors.push(message.text());
  });
}

/** Signs in on the dashboard's key prompt, as a person types a key and presses the button. */
export async function signIn(page: Page, key: string): Promise<void> {
  await page.getByLabel('API key').fill(key);
  await page.getByRole('button', { name: 'Sign in' }).click();
}
