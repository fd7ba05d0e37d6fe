/**
 * A way in from the outside (REST, gRPC, ...). Created in the plugin's start, closed on stop.
 *
 * Promise: exposes the task service, plugin list, tool list and health; `addresses` says where it listens.
 */
export interface Transport {
  readonly protocol: string;
  addresses(): string[];
}
