import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'chai';
import type { Page } from 'playwright-core';
import { extensionPoints, type ToolCallContext } from '@opspawn/plugin-sdk';
import { startTestKernel, type TestKernel } from '@opspawn/testing';
import { type Chromium, launchChromium } from '../../helpers/chromium.js';
import { recordScriptErrors, signIn } from '../../helpers/dashboard-page.js';
import { REPO, runCli } from '../../helpers/deployment.js';
import { EMBEDDED_MEMORY_PLUGINS as EMBEDDED, toolsPlugin } from '../../helpers/inline-plugins.js';
import { ChatServer, completion } from '../planner-openai/chat-server.js';

const KEY = 'dashboard-admin-key';
const READ_KEY = 'dashboard-read-key';
const ANSWER = 'Otters hold hands while they sleep, so that they do not drift apart.';
/** Set OPSPAWN_SCREENSHOTS=1 to write the views to docs/images/ (npm run screenshots). */
const SCREENSHOTS = process.env.OPSPAWN_SCREENSHOTS === '1' ? join(REPO, 'docs/images') : undefined;

/** A tool that returns only when the test opens its gate (or the task is cancelled): the test sees a task running. */
class Gates {
  private readonly waiting = new Map<string, () => void>();
  private readonly opened = new Set<string>();
  wait(key: string, signal: AbortSignal): Promise<{ released: string }> {
    if (this.opened.has(key)) return Promise.resolve({ released: key });
    return new Promise((resolve, reject) => {
      this.waiting.set(key, () => resolve({ released: key }));
      signal.addEventListener('abort', () => reject(signal.reason), { once: true });
    });
  }
  open(key: string): void {
    this.opened.add(key);
    this.waiting.get(key)?.();
  }
}

/**
 * The dashboard as an operator uses it: a real Chromium (playwright-core driving Debian's chromium) on a host with
 * API keys, tasks submitted from the CLI in a child process, answers streamed by planner-openai from a local
 * OpenAI-compatible server. The tests run in order as one operator's session: the first signs in, the others use
 * that page (a new tab would ask for the key again, as the first test shows).
 */
describe('dashboard in a real Chromium', function () {
  this.timeout(60_000);
  const chat = new ChatServer();
  const gates = new Gates();
  let dir: string;
  let browser: Chromium | undefined;
  let kernel: TestKernel;
  let base: string;
  let page: Page;
  const scriptErrors: string[] = [];

  before(async function () {
    browser = await launchChromium(this);
    dir = mkdtempSync(join(tmpdir(), 'opspawn-dashboard-'));
    await chat.start();
    kernel = await startTestKernel({
      plugins: [
        '@opspawn/store-memory',
        '@opspawn/broker-memory',
        '@opspawn/memory-buffer',
        '@opspawn/planner-scripted',
        { use: '@opspawn/planner-openai', options: { baseURL: chat.url, model: 'test-model', maxRetries: 0 } },
        { use: '@opspawn/tools-quickjs', options: { dirs: [join(REPO, 'config/tools')], watch: false } },
        {
          use: toolsPlugin('gate-tools', 'gate', [
            {
              name: 'wait',
              description: 'waits until the test opens the gate named key',
              inputSchema: { type: 'object', required: ['key'], properties: { key: { type: 'string' } } },
              run: (args: { key: string }, ctx: ToolCallContext) => gates.wait(args.key, ctx.signal),
            },
          ]),
        },
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
        storyteller: { description: 'Answers with a model', planner: 'planner-openai', tools: [] },
        calculator: { description: 'Evaluates arithmetic', tools: ['js__calculate'] },
        coordinator: { description: 'Hands arithmetic to the calculator', tools: ['agents__calculator'] },
      },
    });
    base = kernel.get(extensionPoints.transport)[0]!.value.addresses()[0]!;
    if (SCREENSHOTS) mkdirSync(SCREENSHOTS, { recursive: true });
  });
  after(async () => {
    if (!browser) return; // skipped: nothing was started
    await browser.close();
    await kernel?.stop();
    await chat.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  /** Submits a task the way a user does: `opspawn tasks submit <file> --json` in a child process. */
  const submitFromCli = async (task: Record<string, unknown>): Promise<string> => {
    const file = join(dir, `task-${Math.random().toString(36).slice(2)}.json`);
    writeFileSync(file, JSON.stringify(task));
    const r = await runCli(['tasks', 'submit', file, '--url', base, '--token', KEY, '--json'], { cwd: dir });
    expect(r.code, r.stderr).to.equal(0);
    return (JSON.parse(r.stdout) as { id: string }).id;
  };
  const gated = (key: string, extra: Record<string, unknown> = {}) => ({
    goal: `wait for gate ${key}`,
    input: { plan: [{ tool: 'gate__wait', arguments: { key } }], final: { done: '{{ steps[0].output.released }}' } },
    labels: { suite: 'dashboard' },
    ...extra,
  });
  const shoot = async (name: string) => {
    if (SCREENSHOTS) await page.screenshot({ path: join(SCREENSHOTS, `dashboard-${name}.png`), fullPage: true });
  };
  const summaryStatus = (p: Page) => p.locator('section[aria-label="Summary"] .badge').first();

  it('asks for an API key, refuses a wrong one, and shows the tasks once given the right one', async () => {
    page = await browser!.context.newPage();
    // The 401s this test provokes are expected; anything else is the page's fault.
    recordScriptErrors(page, scriptErrors, [401]);
    await page.setViewportSize({ width: 1100, height: 760 });
    const response = await page.goto(`${base}/ui`);
    expect(response?.status()).to.equal(200);
    await page.getByRole('heading', { name: 'API key needed' }).waitFor();
    // Nothing but the form: the API refused the page's request for tasks.
    expect(await page.locator('table').count()).to.equal(0);

    await signIn(page, 'not-the-key');
    await page.getByText('The API refused the key: the API key is not valid.').waitFor();

    await page.getByLabel('API key').fill(KEY);
    await page.keyboard.press('Enter');
    await page.getByRole('heading', { name: 'Tasks' }).waitFor();
    expect(await page.evaluate(() => sessionStorage.getItem('opspawn.apiKey'))).to.equal(KEY);
    await page.getByRole('button', { name: 'Sign out' }).waitFor();
  });

  it('shows a task submitted from the CLI in the list, running, and fills its timeline live until it succeeds', async () => {
    await page.goto(`${base}/ui#/tasks`);
    const id = await submitFromCli(gated('live'));
    const row = page.locator(`tr[data-task-id="${id}"]`);
    await row.locator('[data-status="running"]').waitFor();
    expect(await row.locator('td').nth(4).textContent()).to.equal('suite=dashboard');

    await row.getByRole('link', { name: id }).click();
    const timeline = page.getByRole('list', { name: 'Timeline' });
    await timeline.locator('li[data-type="tool_call"]', { hasText: 'gate__wait' }).waitFor();
    expect(await summaryStatus(page).textContent()).to.equal('running');
    expect(await timeline.locator('li[data-type="final"]').count()).to.equal(0);
    await shoot('task-running');

    gates.open('live');
    await timeline.locator('li[data-type="tool_result"]', { hasText: 'returned' }).waitFor();
    await timeline.locator('li[data-type="final"]', { hasText: '"done": "live"' }).waitFor();
    await summaryStatus(page).filter({ hasText: 'succeeded' }).waitFor();
    expect(await page.locator('pre.output').textContent()).to.contain('"done": "live"');
    expect(await page.getByRole('button', { name: 'Cancel task' }).count(), 'no cancel once final').to.equal(0);
    await page.getByText(/^Ended: the task succeeded/).waitFor();
  });

  it('streams a model’s answer into the timeline as it is written, then shows it whole with its tokens', async () => {
    let listening!: () => void;
    let seen!: () => void;
    chat.script({
      body: completion({ content: ANSWER }),
      holdFirst: new Promise<void>((resolve) => (listening = resolve)),
      holdLast: new Promise<void>((resolve) => (seen = resolve)),
    });
    const id = await submitFromCli({ goal: 'tell me about otters', agent: 'storyteller' });
    await page.goto(`${base}/ui#/tasks/${id}`);
    // The model starts once the page's stream has shown the attempt running, and holds its last piece until the
    // page shows part of the answer: the text can only have arrived as deltas.
    await page.locator('li[data-type="status"] [data-status="running"]').waitFor();
    listening();
    const liveText = page.locator('pre.live-text');
    await liveText.filter({ hasText: 'Otters hold' }).waitFor();
    expect(ANSWER.startsWith((await liveText.textContent())!)).to.equal(true);
    await shoot('task-streaming');
    seen();
    await page.locator('li[data-type="final"]', { hasText: ANSWER }).waitFor();
    await summaryStatus(page).filter({ hasText: 'succeeded' }).waitFor();
    expect(await liveText.count(), 'the stored answer replaces the live text').to.equal(0);
    await page.getByText('10 in, 5 out, 1 LLM call').waitFor();
  });

  it('cancels a running task from its page', async () => {
    const id = await submitFromCli(gated('never'));
    await page.goto(`${base}/ui#/tasks/${id}`);
    await page.locator('li[data-type="tool_call"]').waitFor();
    await page.getByRole('button', { name: 'Cancel task' }).click();
    await summaryStatus(page).filter({ hasText: 'cancelled' }).waitFor();
    await page.locator('li[data-type="status"] [data-status="cancelled"]').waitFor();
    expect(await page.getByRole('button', { name: 'Cancel task' }).count()).to.equal(0);
    const r = await fetch(`${base}/v1/tasks/${id}`, { headers: { authorization: `Bearer ${KEY}` } });
    expect(((await r.json()) as { status: string }).status).to.equal('cancelled');
  });

  it('shows a key with the read scope only why it cannot cancel, and leaves the task running', async () => {
    const id = await submitFromCli(gated('viewer'));
    const viewer = await browser!.context.newPage();
    try {
      await viewer.goto(`${base}/ui#/tasks/${id}`);
      await signIn(viewer, READ_KEY);
      await viewer.locator('li[data-type="tool_call"]').waitFor();
      await viewer.getByRole('button', { name: 'Cancel task' }).click();
      const refusal = viewer.locator('.actions [role="alert"]');
      await refusal.waitFor();
      expect(await refusal.textContent())
        .to.contain('OPSPAWN_FORBIDDEN')
        .and.contain("lacks the 'submit' scope");
      expect(await summaryStatus(viewer).textContent()).to.equal('running');
    } finally {
      await viewer.close();
      gates.open('viewer');
    }
  });

  it('shows a failing task’s error with its code, message and fix', async () => {
    const id = await submitFromCli({
      goal: 'divide badly',
      agent: 'calculator',
      maxAttempts: 1,
      input: { plan: [{ tool: 'js__calculate', arguments: { expression: '1 +' } }] },
    });
    await page.goto(`${base}/ui#/tasks/${id}`);
    const error = page.getByRole('alert', { name: 'Error' });
    await error.waitFor();
    expect(await error.locator('.error-code').textContent()).to.equal('OPSPAWN_PLANNER_FAILED');
    expect(await error.locator('.error-message').textContent()).to.contain("call 'js__calculate' failed");
    expect(await error.locator('.error-hint').textContent()).to.match(/^Fix: \S/);
    await page.locator('li[data-type="tool_result"]', { hasText: 'failed' }).waitFor();
    await summaryStatus(page).filter({ hasText: 'failed' }).waitFor();
    await shoot('task-failed');

    await page.goto(`${base}/ui#/tasks?status=failed`);
    await page.locator(`tr[data-task-id="${id}"]`).waitFor();
    expect(await page.locator('tbody tr').count(), 'only failed tasks').to.equal(1);
  });

  it('links a handoff to the child task that ran it', async () => {
    const id = await submitFromCli({
      goal: 'add via the calculator',
      agent: 'coordinator',
      input: {
        plan: [
          {
            tool: 'agents__calculator',
            arguments: {
              goal: '2 + 3',
              input: { plan: [{ tool: 'js__calculate', arguments: { expression: '2 + 3' } }] },
            },
          },
        ],
      },
    });
    await page.goto(`${base}/ui#/tasks/${id}`);
    const link = page.locator('li[data-type="handoff"] a.handoff-link');
    await link.waitFor();
    const child = (await link.textContent())!;
    await link.click();
    await page.getByRole('heading', { name: `Task ${child}` }).waitFor();
    await page.getByRole('link', { name: id }).waitFor(); // its parent
  });

  it('filters the list by agent and label, from the keyboard', async () => {
    await page.goto(`${base}/ui#/tasks`);
    await page.locator('tbody tr').first().waitFor();
    await shoot('tasks');
    await page.getByLabel('Agent').selectOption('storyteller');
    await page.waitForFunction(() =>
      [...document.querySelectorAll('tbody tr td:nth-child(3)')].every((td) => td.textContent === 'storyteller'),
    );
    expect(await page.locator('tbody tr').count()).to.equal(1);
    expect(page.url()).to.contain('agent=storyteller');
    await page.getByLabel('Agent').selectOption('');
    await page.getByLabel('Label').fill('suite=dashboard');
    await page.getByLabel('Label').press('Enter');
    const labelled = (await (
      await fetch(`${base}/v1/tasks?label=suite%3Ddashboard`, { headers: { authorization: `Bearer ${KEY}` } })
    ).json()) as { tasks: unknown[] };
    expect(labelled.tasks.length).to.equal(3); // the gated ones: live, never, viewer
    await page.waitForFunction((n) => document.querySelectorAll('tbody tr').length === n, labelled.tasks.length);
    for (const cell of await page.locator('tbody tr td:nth-child(5)').allTextContents())
      expect(cell).to.equal('suite=dashboard');
  });

  it('lists the agents, and the plugins with their health and the queue depth', async () => {
    await page.goto(`${base}/ui#/agents`);
    const agents = page.getByRole('table', { name: 'Agents' });
    await agents.getByRole('link', { name: 'storyteller' }).waitFor();
    expect(await agents.locator('tbody tr').count()).to.equal(3);
    await shoot('agents');

    await page.getByRole('link', { name: 'Plugins' }).click();
    const plugins = page.getByRole('table', { name: 'Plugins' });
    await plugins.locator('tr[data-plugin="dashboard"]', { hasText: 'started' }).waitFor();
    await plugins.locator('tr[data-plugin="transport-rest"]', { hasText: 'started' }).waitFor();
    await page.getByText('ready', { exact: true }).waitFor();
    await page.getByText('The queue is empty.').waitFor();
    await shoot('plugins');
  });

  it('fits a phone-sized screen: nothing wider than the screen but the tables, which scroll', async () => {
    await page.setViewportSize({ width: 375, height: 740 });
    for (const view of ['#/tasks', '#/agents', '#/plugins']) {
      await page.goto(`${base}/ui${view}`);
      await page.locator('table').first().waitFor();
      const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
      expect(overflow, view).to.be.at.most(0);
    }
    await page.goto(`${base}/ui#/tasks`);
    await page.locator('tbody tr').first().waitFor();
    await shoot('phone');
  });

  it('ran every view without a script error or a refused resource (the page’s content security policy)', () => {
    expect(scriptErrors).to.deep.equal([]);
  });
});

/** The default deployment's way: no API key configured, loopback only. */
describe('dashboard in a real Chromium, on a host without API keys (local development)', function () {
  this.timeout(30_000);
  let browser: Chromium | undefined;
  let kernel: TestKernel;

  before(async function () {
    browser = await launchChromium(this);
    kernel = await startTestKernel({
      plugins: [...EMBEDDED, { use: '@opspawn/transport-rest', options: { port: 0 } }, '@opspawn/dashboard'],
    });
  });
  after(async () => {
    await browser?.close();
    await kernel?.stop();
  });

  it('opens straight on the tasks, asking for no key and offering no sign-out', async () => {
    const base = kernel.get(extensionPoints.transport)[0]!.value.addresses()[0]!;
    const page = await browser!.context.newPage();
    await page.goto(`${base}/ui`);
    await page.getByText('No tasks match.').waitFor();
    expect(await page.getByLabel('API key').count()).to.equal(0);
    expect(await page.getByRole('button', { name: 'Sign out' }).isVisible()).to.equal(false);
    await page.close();
  });
});

/** The routes the dashboard adds, as any HTTP client meets them (no browser needed). */
describe('dashboard routes', function () {
  this.timeout(20_000);
  let kernel: TestKernel;
  let base: string;

  before(async () => {
    kernel = await startTestKernel({
      plugins: [
        '@opspawn/store-memory',
        '@opspawn/broker-memory',
        '@opspawn/memory-buffer',
        '@opspawn/planner-scripted',
        {
          use: '@opspawn/transport-rest',
          options: { port: 0, apiKeys: [{ key: KEY, name: 'operator', scopes: ['read'] }] },
        },
        { use: '@opspawn/dashboard', options: { title: 'Staging <east>' } },
      ],
    });
    base = kernel.get(extensionPoints.transport)[0]!.value.addresses()[0]!;
  });
  after(() => kernel?.stop());

  it('serves the page without a key (it holds no data), with its title escaped and a strict content security policy', async () => {
    const r = await fetch(`${base}/ui`);
    expect(r.status).to.equal(200);
    expect(r.headers.get('content-type')).to.match(/^text\/html/);
    expect(r.headers.get('content-security-policy')).to.contain("script-src 'self'");
    const html = await r.text();
    expect(html).to.contain('<title>Staging &#60;east&#62; dashboard</title>');
    expect(html).to.not.contain('{{');
    const script = await fetch(`${base}/ui/assets/main.js`);
    expect(script.status).to.equal(200);
    expect(script.headers.get('content-type')).to.match(/^text\/javascript/);
  });

  it('answers a file it does not have with a 404 problem, whatever the name tries', async () => {
    for (const name of ['nothing.js', '..%2Fpackage.json', 'index.d.ts', 'main.js.map']) {
      const r = await fetch(`${base}/ui/assets/${name}`);
      expect(r.status, name).to.equal(404);
      expect(((await r.json()) as { code: string }).code, name).to.equal('OPSPAWN_NOT_FOUND');
    }
  });

  it('gives the queue depth and the error fixes to a key with the read scope only', async () => {
    const refused = await fetch(`${base}/ui/api/queue`);
    expect(refused.status).to.equal(401);
    const auth = { headers: { authorization: `Bearer ${KEY}` } };
    const queue = (await (await fetch(`${base}/ui/api/queue`, auth)).json()) as { depth: unknown[] };
    expect(queue.depth).to.deep.equal([]);
    const { errors } = (await (await fetch(`${base}/ui/api/errors`, auth)).json()) as {
      errors: Record<string, { hint: string }>;
    };
    expect(errors.OPSPAWN_TASK_TIMEOUT!.hint).to.be.a('string').and.not.equal('');
  });
});
