/** Without the fields set to undefined, so every store returns the same JSON for a schedule. */
export function compact<T extends object>(value: T): T {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as T;
}
