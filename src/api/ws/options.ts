/** WebSocket settings (src/config.ts has their env vars, flags and docs). */
export interface WsOptions {
  /** above this many unsent bytes a socket's changes are conflated */
  highWaterBytes: number
  /** over this many unsent bytes the socket is closed (4008) at once */
  maxBufferedBytes: number
  /** a socket still conflating after this long is closed (4008) */
  slowCloseMs: number
  /** (subscription, twin) changes a conflating socket may hold; one more closes it (4008) */
  maxHeld: number
  /** ping frame + heartbeat message interval; no pong for 2 intervals terminates */
  heartbeatMs: number
  /** client messages per second (token bucket rate) */
  rateLimit: number
  /** token bucket size */
  rateBurst: number
  /** a client sending 10× over the rate for this long is closed (4029) */
  floodCloseMs: number
  /** resume buffer: changes kept per twin */
  resumeRevs: number
  /** resume buffer: twins kept (least recently changed evicted) */
  resumeTwins: number
  /** resume buffer: JSON bytes kept in all, the main bound (least recently changed twins evicted) */
  resumeBytes: number
}

export const wsDefaults: WsOptions = {
  highWaterBytes: 1024 * 1024,
  maxBufferedBytes: 16 * 1024 * 1024,
  slowCloseMs: 30_000,
  maxHeld: 100_000,
  heartbeatMs: 15_000,
  rateLimit: 50,
  rateBurst: 100,
  floodCloseMs: 5_000,
  resumeRevs: 32,
  resumeTwins: 100_000,
  resumeBytes: 64 * 1024 * 1024,
}
