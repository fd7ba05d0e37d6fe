/**
 * JSON Schema (2020-12) of a task submission: the task engine validates with it, and transports put the same
 * schema in their API documents (OpenAPI 3.1 speaks JSON Schema), so the two cannot drift.
 */
export const submitTaskSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['goal'],
  properties: {
    goal: { type: 'string', minLength: 1, maxLength: 10_000 },
    input: {},
    planner: { type: 'string', minLength: 1, maxLength: 100 },
    memory: { type: 'string', minLength: 1, maxLength: 100 },
    sessionId: { type: 'string', minLength: 1, maxLength: 200 },
    labels: {
      type: 'object',
      maxProperties: 50,
      propertyNames: { minLength: 1, maxLength: 100 },
      additionalProperties: { type: 'string', maxLength: 500 },
    },
    priority: { type: 'integer', minimum: -10, maximum: 10 },
    maxAttempts: { type: 'integer', minimum: 1, maximum: 100 },
    timeoutMs: { type: 'integer', minimum: 1, maximum: 86_400_000 },
    maxSteps: { type: 'integer', minimum: 1, maximum: 10_000 },
    notBefore: { type: 'string', format: 'date-time' },
    idempotencyKey: { type: 'string', minLength: 1, maxLength: 200 },
  },
} as const;
