// Pieces several plugins build their implementations from: API keys, per-tick batching, URL redaction, reading a
// model's output, a bounded map.
export * from '../api-keys.js';
export * from '../tick-batch.js';
export * from '../redact-url.js';
export * from '../model-output.js';
export * from '../bounded-map.js';
