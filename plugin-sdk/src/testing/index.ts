export { startTestKernel } from './harness.js';
export type { TestKernel, TestKernelOptions } from './harness.js';
