import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'chai';
import type { Page } from 'playwright-core';
import { extensionPoints } from '@opspawn/plugin-sdk';
import { startTestKernel, type TestKernel } from '@opspawn/testing';
import { type Chromium, launchChromium } from '../../helpers/chromium.js';
import { recordScriptErrors, signIn } from '../../helpers/dashboard-page.js';
import { REPO, runCli } from '../../helpers/deployment.js';
import { EMBEDDED_MEMORY_PLUGINS } from '../../helpers/inline-plugins.js';

const KEY = 'approvals-admin-key';
const READ_KEY = 'approvals-read-key';
/** Set OPSPAWN_SCREENSHOTS=1 to write the approval view to docs/images/ (npm run screenshots). */
const SCREENSHOTS = process.env.OPSPAWN_SCREENSHOTS === '1' ? join(REPO, 'docs/images') : undefined;

/**
 * Approving and rejecting tool calls from the dashboard, in a real Chromium: an agent whose every `js__calculate` call
 * waits for approval, tasks submitted from the CLI in a child process, decisions taken by clicking in the page.
 */
describe('dashboard approvals in a real Chromium', function () {
  this.timeout(60_000);
  let dir: string;
  let browser: Chromium | undefined;
  let kernel: TestKernel;
  let base: string;
  let page: Page;
  const scriptErrors: string[] = [];

  before(async function () {
    browser = await launchChromium(this);
    dir = mkdtempSync(join(tmpdir(), 'opspawn-dashboard-approvals-'));
    kernel = await startTestKernel({
      plugins: [
        ...EMBEDDED_MEMORY_PLUGINS,
        { use: '@opspawn/tools-quickjs', options: { dirs: [join(REPO, 'config/tools')], watch: false } },
        {
          use: '@opspawn/transport-rest',
          options: {
            port: 0,
            apiKeys: [
              { key: KEY, name: 'operator', scopes: ['admin'] },
              { key: READ_KEY, name: 'viewer', scopes: ['read'] },
            ],
          },
        },
        '@opspawn/dashboard',
      ],
      planner: 'planner-scripted',
      agents: {
        careful: {
          description: 'Calculates, once a person agrees',
          tools: ['js__calculate'],
          approval: { js__calculate: 'always' },
        },
      },
    });
    base = kernel.get(extensionPoints.transport)[0]!.value.addresses()[0]!;
    if (SCREENSHOTS) mkdirSync(SCREENSHOTS, { recursive: true });
    page = await browser.context.newPage();
    // The 401 of signing in and the 403 these tests provoke are expected.
    recordScriptErrors(page, scriptErrors, [401, 403]);
    await page.setViewportSize({ width: 1100, height: 900 });
  });
  after(async () => {
    if (!browser) return; // skipped: nothing was started
    await browser.close();
    await kernel?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  /** `opspawn tasks submit <file> --json` in a child process; then waits, as a user would, for the task to wait. */
  const submitWaiting = async (expression: string): Promise<string> => {
    const file = join(dir, `task-${Math.random().toString(36).slice(2)}.json`);
    writeFileSync(
      file,
      JSON.stringify({
        goal: `calculate ${expression}`,
        agent: 'careful',
        maxAttempts: 1,
        input: { plan: [{ tool: 'js__calculate', arguments: { expression } }] },
      }),
    );
    const r = await runCli(['tasks', 'submit', file, '--url', base, '--token', KEY, '--json'], { cwd: dir });
    expect(r.code, r.stderr).to.equal(0);
    return (JSON.parse(r.stdout) as { id: string }).id;
  };
  const summaryStatus = (p: Page) => p.locator('section[aria-label="Summary"] .badge').first();
  const task = async (id: string) =>
    (await (await fetch(`${base}/v1/tasks/${id}`, { headers: { authorization: `Bearer ${KEY}` } })).json()) as {
      status: string;
      output?: unknown;
      error?: { code: string; message: string };
    };

  it('lists a waiting task under its own status and badge, and approves it with edited arguments', async () => {
    const id = await submitWaiting('2 + 3');
    await page.goto(`${base}/ui#/tasks?status=waiting_approval`);
    await signIn(page, KEY);
    const row = page.locator(`tr[data-task-id="${id}"]`);
    await row.locator('.badge.status-waiting_approval').waitFor();
    expect(await page.getByLabel('Status').inputValue()).to.equal('waiting_approval');

    await row.getByRole('link', { name: id }).click();
    const form = page.getByRole('form', { name: 'Approve or reject js__calculate' });
    await form.waitFor();
    expect(await summaryStatus(page).textContent()).to.equal('waiting_approval');
    expect(await form.locator('.approval-tool').textContent()).to.equal('js__calculate');
    expect(await form.locator('.expires time').getAttribute('datetime')).to.match(/^\d{4}-\d\d-\d\dT/);
    const requested = page.locator('li[data-type="approval_requested"]');
    await requested.filter({ hasText: 'js__calculate waits for approval' }).waitFor();
    expect(await requested.locator('pre').textContent()).to.contain('"expression": "2 + 3"');

    // Broken JSON is caught in the page: nothing is sent, the task still waits.
    const args = form.getByLabel('Arguments');
    expect(JSON.parse(await args.inputValue())).to.deep.equal({ expression: '2 + 3' });
    await args.fill('{"expression": "6 * 7"');
    await form.getByRole('button', { name: 'Approve' }).click();
    await form.getByRole('alert').filter({ hasText: 'The arguments are not valid JSON' }).waitFor();
    expect(await args.getAttribute('aria-invalid')).to.equal('true');
    await args.fill('[1, 2]');
    await form.getByRole('button', { name: 'Approve' }).click();
    await form.getByRole('alert').filter({ hasText: 'must be a JSON object' }).waitFor();
    expect((await task(id)).status).to.equal('waiting_approval');

    await args.fill('{ "expression": "6 * 7" }');
    expect(await args.getAttribute('aria-invalid'), 'an edit clears the complaint').to.equal(null);
    expect(await form.getByRole('alert').count()).to.equal(0);
    await form.getByLabel('Note').fill('seven sixes');
    if (SCREENSHOTS) await page.screenshot({ path: join(SCREENSHOTS, 'dashboard-approval.png'), fullPage: true });
    // From the keyboard: focus the button and press Enter.
    await form.getByRole('button', { name: 'Approve' }).focus();
    await page.keyboard.press('Enter');

    const decided = page.locator('li[data-type="approval_decided"]');
    await decided.waitFor();
    expect(await decided.locator('.what').textContent()).to.contain('approved by operator');
    expect(await decided.locator('.decision-note').textContent()).to.equal('Note: seven sixes');
    expect(await decided.locator('pre').textContent()).to.contain('"expression": "6 * 7"');
    await page.locator('li[data-type="tool_result"]', { hasText: 'returned' }).waitFor();
    await summaryStatus(page).filter({ hasText: 'succeeded' }).waitFor();
    expect(await page.locator('pre.output').textContent()).to.contain('42');
    expect(await form.count(), 'no buttons once decided').to.equal(0);
    expect((await task(id)).output).to.deep.equal({ value: 42 });
  });

  it('rejects a call with a note: the planner gets the tool error and the task fails with it', async () => {
    const id = await submitWaiting('1 / 0');
    await page.goto(`${base}/ui#/tasks/${id}`);
    const form = page.getByRole('form', { name: 'Approve or reject js__calculate' });
    await form.getByLabel('Note').fill('not today');
    await form.getByRole('button', { name: 'Reject' }).click();

    const decided = page.locator('li[data-type="approval_decided"]');
    await decided.filter({ hasText: 'rejected by operator' }).waitFor();
    expect(await decided.locator('.decision-note').textContent()).to.equal('Note: not today');
    await page.locator('li[data-type="tool_result"]', { hasText: 'OPSPAWN_TOOL_CALL_REJECTED' }).waitFor();
    await summaryStatus(page).filter({ hasText: 'failed' }).waitFor();
    const error = page.getByRole('alert', { name: 'Error' });
    expect(await error.locator('.error-code').textContent()).to.equal('OPSPAWN_PLANNER_FAILED');
    expect(await error.locator('.error-message').textContent()).to.contain('not today');
    expect((await task(id)).error?.code).to.equal('OPSPAWN_PLANNER_FAILED');
  });

  it('shows a key with the read scope only why it cannot decide, and leaves the call waiting', async () => {
    const id = await submitWaiting('1 + 1');
    const viewer = await browser!.context.newPage();
    try {
      await viewer.goto(`${base}/ui#/tasks/${id}`);
      await signIn(viewer, READ_KEY);
      const form = viewer.getByRole('form', { name: 'Approve or reject js__calculate' });
      await form.getByRole('button', { name: 'Approve' }).click();
      const refusal = form.getByRole('alert');
      await refusal.waitFor();
      expect(await refusal.textContent())
        .to.contain('OPSPAWN_FORBIDDEN')
        .and.contain("lacks the 'submit' scope");
      expect(await form.getByRole('button', { name: 'Approve' }).isEnabled(), 'another key may still decide').to.equal(
        true,
      );
      expect((await task(id)).status).to.equal('waiting_approval');
    } finally {
      await viewer.close();
    }
  });

  it('ran without a script error or a refused resource', () => {
    expect(scriptErrors).to.deep.equal([]);
  });
});
