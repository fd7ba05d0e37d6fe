/**
 * Connections a client opens for `tasks` × `callsEach` calls, `tasks` at a time, each task making its calls one
 * after the other as an agent's steps do: `server.connections` (counted by the test server) after, less before.
 * A client that reuses its sockets opens no more than `tasks`.
 */
export async function connectionsOpened(
  server: { connections: number },
  call: () => Promise<unknown>,
  { tasks, callsEach }: { tasks: number; callsEach: number },
): Promise<number> {
  const before = server.connections;
  await Promise.all(
    Array.from({ length: tasks }, async () => {
      for (let i = 0; i < callsEach; i++) await call();
    }),
  );
  return server.connections - before;
}
