import { SCHEDULE_ID_PATTERN } from '@opspawn/plugin-sdk';

/** JSON Schema of `opspawn.config.*` (the plugin options inside are checked against each plugin's own schema). */
export const configSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['plugins'],
  properties: {
    plugins: {
      type: 'array',
      items: {
        anyOf: [
          { type: 'string', minLength: 1 },
          {
            type: 'object',
            additionalProperties: false,
            required: ['use'],
            properties: {
              use: {
                anyOf: [
                  { type: 'string', minLength: 1 },
                  { type: 'object', required: ['manifest', 'plugin'] },
                ],
              },
              options: { type: 'object' },
              enabled: { type: 'boolean' },
              onBootFailure: { enum: ['abort', 'continue'] },
              startTimeoutMs: { type: 'integer', minimum: 1 },
            },
          },
        ],
      },
    },
    store: { type: 'string' },
    broker: { type: 'string' },
    planner: { type: 'string' },
    memory: { type: 'string' },
    agents: {
      type: 'object',
      propertyNames: { pattern: '^[a-z][a-z0-9_-]{0,62}$' },
      additionalProperties: { $ref: '#/$defs/agent' },
    },
    defaultAgent: { type: 'string', minLength: 1 },
    // Each entry's shape is the SDK's schedule spec (checked with its cron, time zone and agent by checkSchedules).
    schedules: {
      type: 'object',
      propertyNames: { pattern: SCHEDULE_ID_PATTERN.source },
      additionalProperties: { type: 'object' },
    },
    log: {
      type: 'object',
      additionalProperties: false,
      properties: {
        level: { enum: ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] },
        pretty: { type: 'boolean' },
      },
    },
    kernel: {
      type: 'object',
      additionalProperties: false,
      properties: {
        startTimeoutMs: { type: 'integer', minimum: 1 },
        stopTimeoutMs: { type: 'integer', minimum: 1 },
      },
    },
    tasks: {
      type: 'object',
      additionalProperties: false,
      properties: {
        concurrency: { type: 'integer', minimum: 1, maximum: 10000 },
        defaultTimeoutMs: { type: 'integer', minimum: 1 },
        defaultMaxAttempts: { type: 'integer', minimum: 1, maximum: 100 },
        defaultMaxSteps: { type: 'integer', minimum: 1, maximum: 10000 },
        retryBackoffMs: { type: 'integer', minimum: 0 },
        maxRetryBackoffMs: { type: 'integer', minimum: 0 },
        maxToolResultBytes: { type: 'integer', minimum: 1 },
        toolTimeoutMs: { type: 'integer', minimum: 1 },
        recoverOnStart: { type: 'boolean' },
        maxStalls: { type: 'integer', minimum: 0 },
        reconcileIntervalMs: { type: 'integer', minimum: 100 },
        leaseMs: { type: 'integer', minimum: 1000 },
        maxHandoffDepth: { type: 'integer', minimum: 0, maximum: 100 },
        maxChildren: { type: 'integer', minimum: 0, maximum: 499 },
        runScheduler: { type: 'boolean' },
        schedulePollMs: { type: 'integer', minimum: 50, maximum: 3_600_000 },
        scheduleLateAfterMs: { type: 'integer', minimum: 0 },
        retention: {
          type: 'object',
          additionalProperties: false,
          properties: {
            succeeded: { $ref: '#/$defs/retentionLimits' },
            failed: { $ref: '#/$defs/retentionLimits' },
            cancelled: { $ref: '#/$defs/retentionLimits' },
            intervalMs: { type: 'integer', minimum: 1000 },
            batchSize: { type: 'integer', minimum: 1, maximum: 100_000 },
          },
        },
      },
    },
  },
  $defs: {
    agent: {
      type: 'object',
      additionalProperties: false,
      properties: {
        description: { type: 'string', maxLength: 1000 },
        planner: { type: 'string', minLength: 1 },
        options: { type: 'object' },
        instructions: { type: 'string', maxLength: 100_000 },
        memory: { type: 'string', minLength: 1 },
        tools: { type: 'array', items: { type: 'string', pattern: '^[A-Za-z0-9_*-]+$' } },
        limits: {
          type: 'object',
          additionalProperties: false,
          properties: {
            maxSteps: { type: 'integer', minimum: 1, maximum: 10_000 },
            timeoutMs: { type: 'integer', minimum: 1, maximum: 86_400_000 },
            maxAttempts: { type: 'integer', minimum: 1, maximum: 100 },
          },
        },
        labels: {
          type: 'object',
          maxProperties: 50,
          propertyNames: { minLength: 1, maxLength: 100 },
          additionalProperties: { type: 'string', maxLength: 500 },
        },
        approval: {
          type: 'object',
          propertyNames: { pattern: '^[A-Za-z0-9_*-]+$' },
          additionalProperties: {
            oneOf: [
              { enum: ['always', 'never'] },
              {
                type: 'object',
                additionalProperties: false,
                properties: {
                  when: { type: 'object' },
                  expiresInMs: { type: 'integer', minimum: 1, maximum: 31_536_000_000 },
                },
              },
            ],
          },
        },
      },
    },
    retentionLimits: {
      type: 'object',
      additionalProperties: false,
      properties: {
        maxAgeMs: { type: ['integer', 'null'], minimum: 1 },
        maxCount: { type: ['integer', 'null'], minimum: 0 },
      },
    },
  },
} as const;
