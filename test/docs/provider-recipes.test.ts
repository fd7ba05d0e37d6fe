import { mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'chai';
import { bootKernel, createLogger } from '@opspawn/core';
import { services } from '@opspawn/plugin-sdk';
import { REPO } from '../helpers/deployment.js';
import { API_KEY, MessagesServer, keyOf, text, toolUse } from '../plugins/planner-anthropic/messages-server.js';

interface Recorded {
  path: string | undefined;
  headers: IncomingMessage['headers'];
  body: Record<string, any>;
}

/**
 * An OpenAI-compatible server as OpenAI, OpenRouter, Ollama and vLLM answer: a tool call to js__calculate, then a
 * final answer, each with usage; as JSON, or as chat.completion.chunk events when the request streams.
 */
class CompletionsServer {
  readonly requests: Recorded[] = [];
  private server?: Server;
  origin = '';

  async start(): Promise<void> {
    this.server = createServer(async (req, res) => {
      let raw = '';
      for await (const chunk of req) raw += chunk;
      const body = JSON.parse(raw || '{}');
      this.requests.push({ path: req.url, headers: req.headers, body });
      const first = this.requests.length % 2 === 1;
      const message = first
        ? {
            role: 'assistant',
            content: null,
            tool_calls: [
              {
                id: 'call_1',
                type: 'function',
                function: { name: 'js__calculate', arguments: '{"expression":"6 * 7"}' },
              },
            ],
          }
        : { role: 'assistant', content: '42' };
      const finish = first ? 'tool_calls' : 'stop';
      const usage = first
        ? { prompt_tokens: 300, completion_tokens: 20, total_tokens: 320 }
        : { prompt_tokens: 340, completion_tokens: 2, total_tokens: 342 };
      const base = { id: 'chatcmpl-recipe', created: 1_700_000_000, model: body.model };
      if (!body.stream) {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(
          JSON.stringify({
            ...base,
            object: 'chat.completion',
            choices: [{ index: 0, finish_reason: finish, logprobs: null, message }],
            usage,
          }),
        );
        return;
      }
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      const chunk = (data: object) =>
        res.write(`data: ${JSON.stringify({ ...base, object: 'chat.completion.chunk', ...data })}\n\n`);
      const delta = first
        ? { role: 'assistant', tool_calls: message.tool_calls!.map((c, index) => ({ index, ...c })) }
        : { role: 'assistant', content: message.content };
      chunk({ choices: [{ index: 0, delta, finish_reason: null }] });
      chunk({ choices: [{ index: 0, delta: {}, finish_reason: finish }] });
      chunk({ choices: [], usage });
      res.end('data: [DONE]\n\n');
    });
    await new Promise<void>((r) => this.server!.listen(0, '127.0.0.1', r));
    this.origin = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  async stop(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise((r) => this.server?.close(r));
  }
}

interface Recipe {
  page: string;
  /** The provider's origin as the recipe writes it; the test points it at a local server instead. */
  origin: string;
  env: Record<string, string>;
  agent: string;
  /** What the provider must receive. */
  path: string;
  key?: string;
  model: string;
  headers?: Record<string, string>;
}

const RECIPES: Recipe[] = [
  {
    page: 'docs/how-to/use-openai.md',
    origin: 'https://api.openai.com',
    env: { OPENAI_API_KEY: 'sk-openai-recipe' },
    agent: 'calculator',
    path: '/v1/chat/completions',
    key: 'sk-openai-recipe',
    model: 'gpt-5-mini',
  },
  {
    page: 'docs/how-to/use-openrouter.md',
    origin: 'https://openrouter.ai',
    env: { OPENROUTER_API_KEY: 'sk-or-recipe' },
    agent: 'careful',
    path: '/api/v1/chat/completions',
    key: 'sk-or-recipe',
    model: 'anthropic/claude-sonnet-4.5',
    headers: { 'http-referer': 'https://ops.example.com', 'x-openrouter-title': 'Example Ops' },
  },
  {
    page: 'docs/how-to/use-ollama.md',
    origin: 'http://127.0.0.1:11434',
    env: {},
    agent: 'local',
    path: '/v1/chat/completions',
    model: 'qwen3',
  },
  {
    page: 'docs/how-to/use-vllm.md',
    origin: 'http://127.0.0.1:8000',
    env: { VLLM_API_KEY: 'vllm-recipe' },
    agent: 'analyst',
    path: '/v1/chat/completions',
    key: 'vllm-recipe',
    model: 'Qwen/Qwen2.5-7B-Instruct',
  },
];

/** The recipe's opspawn.config.ts: the first ```ts block of its page. */
function configOf(page: string): string {
  const lines = readFileSync(join(REPO, page), 'utf8').split('\n');
  const start = lines.indexOf('```ts');
  expect(start, `${page} has a \`\`\`ts config block`).to.be.greaterThan(-1);
  return lines.slice(start + 1, lines.indexOf('```', start + 1)).join('\n');
}

/**
 * Boots the recipe's config as written, with only the provider's origin pointed at a local server, from a project
 * folder beside which the packages and ./config/tools resolve, and runs one task on the recipe's agent.
 */
async function runRecipe(page: string, origin: string, local: string, env: Record<string, string>, agent: string) {
  const source = configOf(page);
  expect(source, `${page} names ${origin}`).to.contain(origin);
  const project = mkdtempSync(join(tmpdir(), 'opspawn-recipe-'));
  const previous = process.cwd();
  writeFileSync(join(project, 'package.json'), JSON.stringify({ type: 'module' }));
  writeFileSync(join(project, 'opspawn.config.ts'), source.replaceAll(origin, local));
  symlinkSync(join(REPO, 'node_modules'), join(project, 'node_modules'));
  symlinkSync(join(REPO, 'config'), join(project, 'config'));
  process.chdir(project);
  try {
    const { kernel } = await bootKernel({
      cwd: project,
      env: { ...process.env, ...env },
      logger: createLogger({ level: 'silent', format: 'json', destination: process.stderr }),
    });
    try {
      const tasks = kernel.get(services.taskService);
      const { task } = await tasks.submit({ goal: 'What is 6 * 7?', agent });
      const events = [];
      for await (const e of tasks.watch(task.id)) events.push(e);
      return { task: await tasks.get(task.id), events };
    } finally {
      await kernel.stop();
    }
  } finally {
    process.chdir(previous);
    rmSync(project, { recursive: true, force: true });
  }
}

describe('docs: provider recipes run as written', function () {
  this.timeout(60_000);

  for (const recipe of RECIPES) {
    it(`${recipe.page}: the agent calls a tool, answers, and the provider gets the recipe's settings`, async () => {
      const server = new CompletionsServer();
      await server.start();
      try {
        const { task, events } = await runRecipe(recipe.page, recipe.origin, server.origin, recipe.env, recipe.agent);
        expect(task.status, JSON.stringify(task.error)).to.equal('succeeded');
        expect(task.output).to.equal('42');
        expect(task.usage).to.deep.equal({ inputTokens: 640, outputTokens: 22, llmCalls: 2 });
        expect(events.some((e) => e.type === 'tool_result' && JSON.stringify(e.data).includes('42'))).to.equal(true);
        expect(server.requests).to.have.length(2);
        for (const sent of server.requests) {
          expect(sent.path).to.equal(recipe.path);
          expect(sent.body.model).to.equal(recipe.model);
          expect(sent.body.tools.map((t: any) => t.function.name)).to.deep.equal(['js__calculate']);
          if (recipe.key) expect(sent.headers.authorization).to.equal(`Bearer ${recipe.key}`);
          for (const [name, value] of Object.entries(recipe.headers ?? {})) expect(sent.headers[name]).to.equal(value);
        }
        expect(server.requests[1]!.body.messages.at(-1)).to.deep.include({ role: 'tool', tool_call_id: 'call_1' });
      } finally {
        await server.stop();
      }
    });
  }

  it('docs/how-to/use-anthropic.md: the agent calls a tool, answers, and the API gets the recipe’s settings', async () => {
    const server = new MessagesServer();
    await server.start();
    server.script(
      {
        blocks: [toolUse('toolu_1', 'js__calculate', '{"expression":', '"6 * 7"}')],
        usage: { input_tokens: 300, output_tokens: 20, cache_read_input_tokens: 100 },
      },
      { blocks: [text('42')], usage: { input_tokens: 340, output_tokens: 2 } },
    );
    try {
      const { task } = await runRecipe(
        'docs/how-to/use-anthropic.md',
        'https://api.anthropic.com',
        server.url,
        { ANTHROPIC_API_KEY: API_KEY },
        'calculator',
      );
      expect(task.status, JSON.stringify(task.error)).to.equal('succeeded');
      expect(task.output).to.equal('42');
      expect(task.usage).to.deep.equal({ inputTokens: 740, outputTokens: 22, llmCalls: 2 });
      for (const sent of server.requests) {
        expect(sent.path).to.equal('/v1/messages');
        expect(keyOf(sent)).to.equal(API_KEY);
        expect(sent.body).to.deep.include({
          model: 'claude-haiku-4-5',
          temperature: 0,
          max_tokens: 4096,
          system: 'You are a careful calculator. Use the calculate tool; answer with the number only.',
        });
        expect(sent.body.tools.map((t: any) => t.name)).to.deep.equal(['js__calculate']);
      }
    } finally {
      await server.stop();
    }
  });
});
