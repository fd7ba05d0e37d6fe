/**
 * gRPC Submit calls/s through transport-grpc (store-memory + broker-memory + scripted planner; each task is
 * an empty plan that finishes at once) next to a bare grpc-js unary handler serving the same service
 * definition, both on loopback in this process, same client settings. Target: at least 50% of the baseline.
 */
import * as grpc from '@grpc/grpc-js';
import { extensionPoints } from '@opspawn/plugin-sdk';
import { startTestKernel } from '@opspawn/testing';
import { loadGrpcService } from '../helpers/grpc-service.js';

const CALLS = 20_000;
const IN_FLIGHT = 64;

async function drive(address: string): Promise<number> {
  const Service = loadGrpcService('tasks', 'TaskService');
  const client = new Service(address, grpc.credentials.createInsecure());
  const request = { goal: 'bench', inputJson: JSON.stringify({ plan: [], final: 'ok' }), labels: { bench: 'grpc' } };
  const one = () =>
    new Promise<void>((resolve, reject) => client.Submit(request, (e: Error | null) => (e ? reject(e) : resolve())));
  for (let i = 0; i < 500; i++) await one(); // warm-up
  let sent = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: IN_FLIGHT }, async () => {
      while (sent < CALLS) {
        sent++;
        await one();
      }
    }),
  );
  const seconds = (performance.now() - t0) / 1000;
  client.close();
  return CALLS / seconds;
}

async function bareServer(): Promise<{ address: string; close: () => void }> {
  const Service = loadGrpcService('tasks', 'TaskService');
  const server = new grpc.Server();
  const now = new Date().toISOString();
  server.addService(Service.service, {
    Submit: (call: grpc.ServerUnaryCall<any, unknown>, cb: grpc.sendUnaryData<unknown>) => {
      JSON.parse(call.request.inputJson || 'null');
      cb(null, {
        task: {
          id: 'task_x',
          goal: call.request.goal,
          status: 'TASK_STATUS_QUEUED',
          labels: call.request.labels,
          createdAt: now,
          updatedAt: now,
        },
        created: true,
      });
    },
  });
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))),
  );
  return { address: `127.0.0.1:${port}`, close: () => server.forceShutdown() };
}

export default async function bench(): Promise<void> {
  const bare = await bareServer();
  const baseline = await drive(bare.address);
  bare.close();

  const kernel = await startTestKernel({
    plugins: [
      '@opspawn/store-memory',
      '@opspawn/broker-memory',
      '@opspawn/memory-buffer',
      '@opspawn/planner-scripted',
      { use: '@opspawn/transport-grpc', options: { port: 0 } },
    ],
  });
  const address = kernel.get(extensionPoints.transport)[0]!.value.addresses()[0]!;
  const opspawn = await drive(address);
  await kernel.stop();

  console.log(`gRPC unary calls/s, ${CALLS} calls, ${IN_FLIGHT} in flight on one channel:`);
  console.log(`  bare grpc-js handler            ${baseline.toFixed(0)} calls/s`);
  console.log(
    `  transport-grpc Submit           ${opspawn.toFixed(0)} calls/s   (${((opspawn / baseline) * 100).toFixed(0)}% of bare; target >= 50%)`,
  );
}
