/** How far over the rate a client must stay, for floodCloseMs, to be closed. */
export const FLOOD_FACTOR = 10

export type Admission = 'ok' | 'limited' | 'flood'

/**
 * Token bucket over one socket's input (docs/protocol.md, "Limits"): `rate`
 * messages per second with bursts up to `burst`. A client refused for a whole
 * `floodMs` window while sending at least FLOOD_FACTOR × the rate is flooding.
 * Time is passed in.
 */
export class RateLimiter {
  private tokens: number
  private last: number
  private windowStart: number | null = null
  private refusedInWindow = 0
  refused = 0

  constructor(private readonly rate: number, private readonly burst: number, private readonly floodMs: number, now: number) {
    this.tokens = burst
    this.last = now
  }

  take(now: number): Admission {
    this.tokens = Math.min(this.burst, this.tokens + ((now - this.last) * this.rate) / 1000)
    this.last = now
    const ok = this.tokens >= 1
    if (ok) this.tokens -= 1
    else this.refused++
    if (!ok && this.windowStart === null) {
      this.windowStart = now
      this.refusedInWindow = 0
    }
    if (this.windowStart !== null) {
      if (!ok) this.refusedInWindow++
      const elapsed = now - this.windowStart
      if (elapsed >= this.floodMs) {
        // Refused 9 of every 10 messages on average: at least 10× the rate the whole window.
        if (this.refusedInWindow >= ((FLOOD_FACTOR - 1) * this.rate * elapsed) / 1000) return 'flood'
        this.windowStart = null
      }
    }
    return ok ? 'ok' : 'limited'
  }
}
