/**
 * Waits until `probe` gives a value, looking every 50 ms; throws naming `what` after `ms`. A bound on how long a test
 * waits for something that must happen, not a claim about how fast it happens.
 */
export async function until<T>(what: string, probe: () => Promise<T | undefined>, ms = 30_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > end) throw new Error(`gave up waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
