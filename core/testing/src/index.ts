export { startTestKernel, type TestKernel, type TestKernelOptions } from './test-kernel.js';
// The contract suites live in the SDK (they need no kernel); re-exported so a plugin's tests import one package.
export * from '@opspawn/plugin-sdk/testing';
