import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'chai';
import pg from 'pg';
import * as z from 'zod';
import {
  INTERNAL_TASK_FIELDS,
  newTaskId,
  submitTaskRequestSchema,
  TASK_EVENT_TYPES,
  taskSchema,
  type SubmitTaskRequest,
  type Task,
  type TaskDelta,
  type TaskEvent,
  type TaskEventData,
  type TaskEventType,
  type TaskStore,
  services,
} from '@opspawn/plugin-sdk';
import { MemoryTaskStore } from '@opspawn/store-memory';
import { PostgresTaskStore } from '@opspawn/store-postgres';
import { SqliteTaskStore } from '@opspawn/store-sqlite';
import {
  eventToProto,
  loadTaskServiceDefinition,
  statusFromProto,
  submitFromProto,
  taskToProto,
} from '@opspawn/transport-grpc';
import { openApiDocument } from '@opspawn/transport-rest';
import { startTestKernel, type TestKernel } from '@opspawn/testing';
import { EMBEDDED_MEMORY_PLUGINS } from '../helpers/inline-plugins.js';
import { POSTGRES_URL, requireService } from '../helpers/services.js';

// Every field of the SDK's task schema is walked through every place a task is written down: the gRPC messages
// (real protobuf encoding of tasks.proto), the three stores and the OpenAPI document. A field added to the schema
// and forgotten by one of them fails here, naming the field and the place.

const TASK_FIELDS = Object.keys(taskSchema.shape) as (keyof Task)[];
const SUBMIT_FIELDS = Object.keys(submitTaskRequestSchema.shape) as (keyof SubmitTaskRequest)[];
const PUBLIC_FIELDS = TASK_FIELDS.filter((f) => !(INTERNAL_TASK_FIELDS as readonly string[]).includes(f));
const isOptional = (field: keyof Task) => taskSchema.shape[field] instanceof z.ZodOptional;

/**
 * A task with every field set to a value no default produces and no other field shares, so a field that is
 * dropped, defaulted or swapped with another cannot come back equal. Typed `Required<Task>`: a new field
 * without a value here does not compile.
 */
function everyField(): Required<Task> {
  const id = newTaskId();
  return {
    id,
    goal: 'walk every field ✓',
    input: { plan: [{ tool: 'walk__input', arguments: { n: 1 } }], list: [1, 'two', null] },
    planner: 'planner-walk',
    memory: 'memory-walk',
    agent: 'agent-walk',
    parentId: newTaskId(),
    sessionId: `session-${id}`,
    status: 'running',
    output: { answer: 42, words: ['forty', 'two'] },
    error: { code: 'OPSPAWN_WALK_ERROR', message: 'walked into an error' },
    usage: { inputTokens: 1234, outputTokens: 56, llmCalls: 3 },
    attempts: 3,
    maxAttempts: 7,
    timeoutMs: 123_457,
    maxSteps: 11,
    priority: -4,
    idempotencyKey: `walk-key-${id}`,
    requestHash: 'walk-request-hash',
    labels: { team: 'walkers', 'with space': 'a value' },
    notBefore: '2031-01-02T03:04:05.678Z',
    cancelRequested: true,
    createdAt: '2030-01-01T00:00:01.000Z',
    updatedAt: '2030-01-01T00:00:02.000Z',
    startedAt: '2030-01-01T00:00:03.000Z',
    finishedAt: '2030-01-01T00:00:04.000Z',
    leaseExpiresAt: '2030-01-01T00:00:05.000Z',
  };
}

const WALKED = everyField();

/** The same task under another id, with every optional field left out. */
function requiredFieldsOnly(): Task {
  const task: Task = { ...WALKED, id: newTaskId() };
  for (const field of TASK_FIELDS) if (isOptional(field)) delete task[field];
  return task;
}

/** Data of every event type with every field set; a new event type without an entry here does not compile. */
const EVENT_DATA: { [T in TaskEventType]: Required<TaskEventData<T>> } = {
  status: {
    status: 'queued',
    attempt: 2,
    error: { code: 'OPSPAWN_WALK', message: 'retrying' },
    worker: 'worker-walk',
    retryInMs: 1500,
    stalls: 1,
  },
  plan: {
    step: 2,
    thought: 'call the walker',
    calls: [{ id: 'call-1', tool: 'walk__go', arguments: { to: 'x' } }],
    usage: { inputTokens: 100, outputTokens: 7, llmCalls: 1 },
  },
  tool_call: { step: 2, id: 'call-1', tool: 'walk__go', arguments: { to: 'x' } },
  tool_result: {
    step: 2,
    id: 'call-1',
    tool: 'walk__go',
    ok: false,
    output: { partial: true },
    error: { code: 'OPSPAWN_TOOL_FAILED', message: 'no way' },
    durationMs: 12.5,
  },
  final: { output: { answer: 'walked' }, step: 3, usage: { inputTokens: 120, outputTokens: 9, llmCalls: 1 } },
  log: { level: 'warn', message: 'slow walk', source: 'walk__go', data: { pace: 3 } },
  handoff: { step: 2, callId: 'call-2', childId: 'task_01JCH10DXXXXXXXXXXXXXXXXXX', agent: 'walker', created: false },
  approval_requested: {
    step: 2,
    callId: 'call-3',
    tool: 'walk__jump',
    arguments: { height: 3 },
    expiresAt: '2030-01-02T03:04:05.000Z',
  },
  approval_decided: {
    step: 2,
    callId: 'call-3',
    decision: 'approve',
    by: 'walker-key',
    note: 'jump lower',
    arguments: { height: 1 },
  },
};

describe('the task shape, field by field', () => {
  it('has a distinctive value for every field of the schema and every event type', () => {
    expect(Object.keys(everyField())).to.have.members(TASK_FIELDS);
    expect(Object.keys(EVENT_DATA)).to.have.members([...TASK_EVENT_TYPES]);
  });

  it('accepts the walked task and every walked event as valid (the samples are real)', () => {
    expect(taskSchema.safeParse(WALKED).error).to.equal(undefined);
    expect(taskSchema.safeParse(requiredFieldsOnly()).error).to.equal(undefined);
  });

  describe('gRPC: a task through taskToProto and the Task message of tasks.proto', () => {
    const rpc = loadTaskServiceDefinition()['opspawn.v1.TaskService'] as Record<string, any>;
    /** Encoded and decoded as the server sends a task and a client reads it. */
    const overTheWire = (task: Task) => rpc.Get.responseDeserialize(rpc.Get.responseSerialize(taskToProto(task)));
    let full: Record<string, any>;
    let bare: Record<string, any>;
    before(() => {
      full = overTheWire(WALKED);
      bare = overTheWire(requiredFieldsOnly());
    });

    /** A field's value as a client reads it: JSON in `<field>Json`, the status as its enum, '' or null for absent. */
    function read(message: Record<string, any>, field: keyof Task): unknown {
      if (`${field}Json` in message)
        return message[`${field}Json`] === '' ? undefined : JSON.parse(message[`${field}Json`]);
      if (!(field in message)) throw new Error(`tasks.proto's Task has no field ${field}`);
      if (field === 'status') return statusFromProto(message.status);
      return message[field] === '' || message[field] === null ? undefined : message[field];
    }

    for (const field of PUBLIC_FIELDS) {
      it(`carries ${field}${isOptional(field) ? ', and its absence' : ''}`, () => {
        expect(read(full, field), field).to.deep.equal(WALKED[field]);
        if (isOptional(field)) expect(read(bare, field), `${field} when absent`).to.equal(undefined);
      });
    }

    it('leaves out the fields that stay inside the host', () => {
      for (const field of INTERNAL_TASK_FIELDS) expect(full).to.not.have.property(field);
    });
  });

  describe('gRPC: a submission through the SubmitTaskRequest message and submitFromProto', () => {
    const rpc = loadTaskServiceDefinition()['opspawn.v1.TaskService'] as Record<string, any>;
    const request = Object.fromEntries(SUBMIT_FIELDS.map((f) => [f, WALKED[f]])) as Required<SubmitTaskRequest>;
    let received: SubmitTaskRequest;
    before(() => {
      // What a client sends: each field under its own name, JSON values as `<field>Json` text.
      const message = Object.fromEntries(
        SUBMIT_FIELDS.map((f) => (f === 'input' ? ['inputJson', JSON.stringify(request.input)] : [f, request[f]])),
      );
      received = submitFromProto(rpc.Submit.requestDeserialize(rpc.Submit.requestSerialize(message)), undefined);
    });

    for (const field of SUBMIT_FIELDS) {
      it(`carries ${field}`, () => {
        expect(received[field], field).to.deep.equal(request[field]);
      });
    }
  });

  describe('gRPC: every event type through eventToProto and the TaskEvent message', () => {
    const rpc = loadTaskServiceDefinition()['opspawn.v1.TaskService'] as Record<string, any>;
    for (const type of TASK_EVENT_TYPES) {
      it(`carries a ${type} event with all its data`, () => {
        const event = { taskId: WALKED.id, seq: 4, type, at: '2030-01-01T00:00:05.000Z', data: EVENT_DATA[type] };
        const message = rpc.Watch.responseDeserialize(rpc.Watch.responseSerialize(eventToProto(event as TaskEvent)));
        const { dataJson, transient, afterSeq, index, ...envelope } = message;
        expect({ ...envelope, data: JSON.parse(dataJson) }).to.deep.equal(event);
        expect([transient, afterSeq, index], 'a stored event is not transient').to.deep.equal([false, 0, 0]);
      });
    }
    it('carries a transient delta with its place among the stored events', () => {
      const delta: TaskDelta = {
        taskId: WALKED.id,
        type: 'delta',
        transient: true,
        afterSeq: 3,
        index: 2,
        at: '2030-01-01T00:00:05.000Z',
        data: { step: 2, kind: 'tool_arguments', callId: 'call_1', tool: 'js__calculate', fragment: '{"expr' },
      };
      const message = rpc.Watch.responseDeserialize(rpc.Watch.responseSerialize(eventToProto(delta)));
      const { dataJson, seq, ...envelope } = message;
      expect(seq, 'no seq of its own').to.equal(0);
      expect({ ...envelope, data: JSON.parse(dataJson) }).to.deep.equal(delta);
    });
  });

  describe('the task service: a submission becomes a task', () => {
    let kernel: TestKernel;
    const request: Required<SubmitTaskRequest> = {
      ...(Object.fromEntries(SUBMIT_FIELDS.map((f) => [f, WALKED[f]])) as Required<SubmitTaskRequest>),
      // What the scripted planner accepts; `notBefore` an hour ahead keeps the task queued.
      input: { plan: [], final: 'walked' },
      notBefore: new Date(Date.now() + 3_600_000).toISOString(),
      planner: 'planner-scripted',
      memory: 'memory-buffer',
    };
    let task: Task;
    before(async () => {
      kernel = await startTestKernel({
        plugins: EMBEDDED_MEMORY_PLUGINS,
        agents: { 'agent-walk': { planner: 'planner-scripted', memory: 'memory-buffer' } },
      });
      task = (await kernel.get(services.taskService).submit(request)).task;
    });
    after(() => kernel?.stop());

    for (const field of SUBMIT_FIELDS) {
      it(`keeps the submitted ${field}`, () => {
        expect(task[field], field).to.deep.equal(request[field]);
      });
    }
  });

  describe('REST: the OpenAPI document', () => {
    const schemas = (openApiDocument('0.0.0') as any).components.schemas;
    for (const field of PUBLIC_FIELDS) {
      it(`lists ${field} in the Task schema${isOptional(field) ? ' as optional' : ' as required'}`, () => {
        expect(schemas.Task.properties, field).to.have.property(field);
        expect(schemas.Task.required.includes(field), `${field} required`).to.equal(!isOptional(field));
      });
    }
    for (const field of SUBMIT_FIELDS) {
      it(`lists ${field} in the SubmitTaskRequest schema`, () => {
        expect(schemas.SubmitTaskRequest.properties, field).to.have.property(field);
      });
    }
  });

  const stores: Array<{
    name: string;
    open: (ctx: Mocha.Context) => Promise<{ store: TaskStore; close(): Promise<void> }>;
  }> = [
    {
      name: 'store-memory',
      open: async () => ({ store: new MemoryTaskStore(), close: async () => undefined }),
    },
    {
      name: 'store-sqlite',
      open: async () => {
        const dir = mkdtempSync(join(tmpdir(), 'opspawn-shape-'));
        const store = SqliteTaskStore.open({ path: join(dir, 'tasks.db'), busyTimeoutMs: 2000 });
        return {
          store,
          close: async () => {
            store.close();
            rmSync(dir, { recursive: true, force: true });
          },
        };
      },
    },
    {
      name: 'store-postgres',
      open: async (ctx) => {
        await requireService(ctx, 'postgres');
        const schema = `opspawn_shape_${process.pid}`;
        const store = await PostgresTaskStore.open({
          connectionString: POSTGRES_URL,
          poolSize: 2,
          schema,
          statementTimeoutMs: 10_000,
          connectTimeoutMs: 5000,
        });
        return {
          store,
          close: async () => {
            await store.close();
            const client = new pg.Client({ connectionString: POSTGRES_URL });
            await client.connect();
            await client.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
            await client.end();
          },
        };
      },
    },
  ];

  for (const { name, open } of stores) {
    describe(`${name}: a task written and read back`, function () {
      let opened: { store: TaskStore; close(): Promise<void> } | undefined;
      let full: Task | undefined;
      let bare: Task | undefined;
      let events: Awaited<ReturnType<TaskStore['events']>> = [];
      before(async function () {
        opened = await open(this);
        const { store } = opened;
        await store.create(WALKED);
        full = await store.get(WALKED.id);
        const minimal = requiredFieldsOnly();
        minimal.id = newTaskId();
        await store.create(minimal);
        bare = await store.get(minimal.id);
        for (const type of TASK_EVENT_TYPES) await store.appendEvent(WALKED.id, type, EVENT_DATA[type]);
        events = await store.events(WALKED.id, 0, 100);
      });
      after(async () => opened?.close());

      for (const field of TASK_FIELDS) {
        it(`keeps ${field}${isOptional(field) ? ', and its absence' : ''}`, () => {
          expect(full?.[field], field).to.deep.equal(WALKED[field]);
          if (isOptional(field)) expect(bare, `${field} when absent`).to.not.have.property(field);
        });
      }

      it('keeps the data of every event type', () => {
        expect(events.map((e) => [e.type, e.data])).to.deep.equal(TASK_EVENT_TYPES.map((t) => [t, EVENT_DATA[t]]));
      });
    });
  }
});
