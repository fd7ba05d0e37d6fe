// Pieces several plugins build their implementations from: API keys, per-tick batching, URL redaction.
export * from '../api-keys.js';
export * from '../tick-batch.js';
export * from '../redact-url.js';
